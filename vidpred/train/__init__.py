"""Training: the trainer (optimiser, checkpoints, logs, samples) and the builders it is made of,
validation against the zero-parameter references, its resumable sampler, the metrics.csv writer
and where tensors run (device, autocast, DDP)."""

from vidpred.train.runtime import (
    PRECISIONS,
    Dist,
    autocast,
    init_distributed,
    resolve_device,
    shutdown_distributed,
)
from vidpred.train.sampler import ResumableSampler
from vidpred.train.scalar_log import ScalarLog
from vidpred.train.setup import LR_SCHEDULES, lr_at, window_frames
from vidpred.train.trainer import Trainer, TrainingDiverged, TrainSummary, train, weights_digest
from vidpred.train.validation import REFERENCES, predict_frames, split_window, validate

__all__ = [
    "LR_SCHEDULES",
    "PRECISIONS",
    "REFERENCES",
    "Dist",
    "ResumableSampler",
    "ScalarLog",
    "TrainSummary",
    "Trainer",
    "TrainingDiverged",
    "autocast",
    "init_distributed",
    "lr_at",
    "predict_frames",
    "resolve_device",
    "shutdown_distributed",
    "split_window",
    "train",
    "validate",
    "weights_digest",
    "window_frames",
]

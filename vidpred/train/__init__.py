"""Training: the trainer (optimiser, checkpoints, logs, samples), its resumable sampler, the
metrics.csv writer and where tensors run (device, autocast, DDP)."""

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
from vidpred.train.trainer import (
    Trainer,
    TrainingDiverged,
    TrainSummary,
    predict_frames,
    split_window,
    train,
    weights_digest,
    window_frames,
)

__all__ = [
    "PRECISIONS",
    "Dist",
    "ResumableSampler",
    "ScalarLog",
    "TrainSummary",
    "Trainer",
    "TrainingDiverged",
    "autocast",
    "init_distributed",
    "predict_frames",
    "resolve_device",
    "shutdown_distributed",
    "split_window",
    "train",
    "weights_digest",
    "window_frames",
]

"""Building a training run from its config: one small builder per piece, called top to bottom by
`Trainer.__init__` (flow backend, model config, data, step plan, learning rate, DDP wrapper)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from vidpred.config import RunConfig, check_ranges
from vidpred.data import (
    VAL_SPLITS,
    ClipDataset,
    FrameCache,
    MixedWindows,
    Skipped,
    load_clips,
    split_clips,
    window_span,
    with_synthetic,
)
from vidpred.errors import InputError, VidpredError
from vidpred.flow.backends import resolve_flow_backend
from vidpred.losses import parse_loss_spec
from vidpred.models import TASKS, ModelConfig, model_config_for
from vidpred.models.heads import HEADS
from vidpred.train.runtime import Dist
from vidpred.train.sampler import ResumableSampler

LR_SCHEDULES = ("cosine", "constant")
# vidpred.eval.metrics.ssim's Gaussian window (skimage's): validation scores every run with it,
# so a smaller crop would fail only after the last step (issue 12).
SSIM_MIN_SIDE = 11


def window_frames(cfg: RunConfig) -> int:
    """Frames in one training window: context + horizon, or 3 (a, middle, b) to interpolate."""
    return 3 if cfg.train.task == "interpolate" else cfg.data.context + cfg.data.horizon


def flow_backend_of(cfg: RunConfig) -> str | None:
    """The concrete flow backend the run uses (`auto` resolved), or None when neither the loss
    (a corr- spec) nor the model (the flow head) needs one."""
    uses_flow = parse_loss_spec(cfg.loss.spec).corrwise or cfg.model.head == "flow"
    return resolve_flow_backend(cfg.loss.flow) if uses_flow else None


def check_config(cfg: RunConfig) -> None:
    """The merged config, checked once before any work: value ranges, then every option that
    names one of a few choices. One error line for the first problem."""
    check_ranges(cfg)
    for option, value, choices in (
        ("--task", cfg.train.task, TASKS),
        ("--head", cfg.model.head, HEADS),
        ("--lr-schedule", cfg.train.lr_schedule, LR_SCHEDULES),
        ("--val-split", cfg.data.val_split, VAL_SPLITS),
    ):
        if value not in choices:
            raise VidpredError(f"{option} {value}: use one of {', '.join(choices)}")


def model_config_of(cfg: RunConfig, *, flow: str | None) -> ModelConfig:
    """The network the config asks for; a bad preset is one error line."""
    task, m = cfg.train.task, cfg.model
    try:
        return model_config_for(
            m.name,
            task=task,
            context=2 if task == "interpolate" else cfg.data.context,
            residual=m.residual,
            head=m.head,
            flow=flow or "dis",
        )
    except (KeyError, ValueError) as e:
        raise VidpredError(f"--model {m.name}: {e}") from None


def smallest_size(stride: int) -> int:
    """The smallest side a crop may have: a multiple of the U-Net's stride that SSIM can score."""
    return stride * math.ceil(max(stride, SSIM_MIN_SIDE) / stride)


def check_size(cfg: RunConfig, model_cfg: ModelConfig) -> None:
    h, w = cfg.data.size
    s, least = model_cfg.stride, smallest_size(model_cfg.stride)
    if h % s or w % s or min(h, w) < least:
        raise VidpredError(
            f"--size {h}x{w}: height and width must be multiples of {s}, at least {least} "
            f"(SSIM's {SSIM_MIN_SIDE}-pixel window)"
        )
    terms = {t.name for t in parse_loss_spec(cfg.loss.spec).all_terms}
    if "lpips" in terms and min(h, w) < 32:  # AlexNet's strided stem pools 16 px to nothing
        raise VidpredError(f"--size {h}x{w}: the lpips (AlexNet) loss needs at least 32x32")


@dataclass
class RunData:
    train_set: ClipDataset | MixedWindows  # real windows, plus synthetic ones (data.synthetic)
    val_set: ClipDataset
    skipped: list[Skipped]
    val_split: str  # how validation was set apart: files | time | none (centre crops of train)


def load_data(cfg: RunConfig, dist: Dist, on_frame: Callable[[], None] | None) -> RunData:
    """Decode (rank 0 first, the others then find the cache filled), split, build the datasets."""
    c, t = cfg.data, cfg.train
    n = window_frames(cfg)
    cache = FrameCache(Path(c.cache_dir) if c.cache_dir else None)

    def load():
        return load_clips(
            c.paths, size=c.size, frames=n, stride=c.stride, cache=cache, on_frame=on_frame
        )

    if dist.is_main:
        clips, skipped = load()
    dist.barrier()
    if not dist.is_main:
        clips, skipped = load()
    train_clips, val_clips, how = split_clips(
        clips,
        how=c.val_split,
        val_fraction=c.val_fraction,
        seed=t.seed,
        span=window_span(n, c.stride),
    )
    common = dict(frames=n, size=c.size, stride=c.stride)
    train_set = with_synthetic(
        ClipDataset(train_clips, train=True, seed=t.seed, **common),
        c.synthetic,
        frames=n,
        size=c.size,
        seed=t.seed,
    )
    # Validation windows do not overlap: each scored frame counts once.
    val_set = ClipDataset(val_clips or train_clips, step=n * c.stride, **common)
    return RunData(train_set, val_set, skipped, how)


@dataclass
class StepPlan:
    sampler: ResumableSampler
    steps_per_epoch: int
    total_steps: int


def plan_steps(cfg: RunConfig, train_set: Dataset, dist: Dist) -> StepPlan:
    t = cfg.train
    sampler = ResumableSampler(train_set, seed=t.seed, rank=dist.rank, world=dist.world)
    per_rank = sampler.num_samples
    if per_rank < t.batch_size:
        raise InputError(
            f"{', '.join(cfg.data.paths)}: {len(train_set)} training windows "
            f"({per_rank} per process) is less than one batch of {t.batch_size}; "
            "use a smaller --batch-size or more data"
        )
    steps_per_epoch = per_rank // t.batch_size
    total = t.epochs * steps_per_epoch if t.epochs > 0 else t.steps
    return StepPlan(sampler, steps_per_epoch, total)


def lr_at(step: int, *, peak: float, total: int, schedule: str, warmup: float) -> float:
    """The learning rate for optimiser step `step` (0-based) of `total`: a pure function of the
    step, so a resumed run follows the same schedule exactly.

    cosine: linear warmup over `warmup * total` steps, then cosine decay from `peak` to 0 at the
    last step (a decaying rate removed the 1-2 grey levels of noise constant-lr l1 models left on
    static regions; issue 11). constant: `peak` throughout.
    """
    if schedule == "constant":
        return peak
    if schedule != "cosine":
        raise VidpredError(f"--lr-schedule {schedule}: use one of {', '.join(LR_SCHEDULES)}")
    n_warm = math.floor(warmup * total)
    if step < n_warm:
        return peak * (step + 1) / (n_warm + 1)
    progress = (step - n_warm) / max(1, total - n_warm)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def wrap_for_ddp(model: nn.Module, dist: Dist, device: torch.device) -> nn.Module:
    if not dist.enabled:
        return model
    return DistributedDataParallel(
        model, device_ids=[dist.local_rank] if device.type == "cuda" else None
    )

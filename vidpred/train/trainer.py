"""`vidpred train`: the trainer owns the optimiser, checkpoints, logs and sample grids.

The network (vidpred.models) maps frames to frames; the objective (vidpred.losses) maps
(prediction, target) to (loss, logs); this module puts them on data and keeps the run folder:

    RUN/config.toml          the effective config (flags > --config file > defaults)
    RUN/checkpoints/last.pt  everything needed to resume bit for bit (and best.pt, by val loss)
    RUN/model.pt             what predict / interpolate / eval take
    RUN/metrics.csv          one row per log interval and per validation
    RUN/samples/             context | target | prediction | error, per sample step
"""

from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from vidpred import checkpoint as ckpt
from vidpred.config import RunConfig, save_config
from vidpred.data import ClipDataset, FrameCache, load_clips, split_by_file
from vidpred.errors import InputError, VidpredError
from vidpred.eval.metrics import PSNR_CAP, psnr, ssim
from vidpred.io.frames import write_image
from vidpred.io.grids import comparison_grid
from vidpred.losses import build_loss, parse_loss_spec
from vidpred.models import TASKS, ModelConfig, build_model, model_config_for, rollout
from vidpred.train.runtime import (
    Dist,
    autocast,
    init_distributed,
    resolve_device,
    shutdown_distributed,
)
from vidpred.train.sampler import ResumableSampler
from vidpred.train.scalar_log import ScalarLog

LOG_EVERY = 10  # steps between metrics.csv rows (each costs one host sync)


class TrainingDiverged(VidpredError):
    """The loss became NaN or infinite; the last checkpoint on disk predates it."""


@dataclass
class TrainSummary:
    run_dir: Path
    step: int
    loss: float
    val: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    flow: str | None = None
    weights_digest: str = ""


def window_frames(cfg: RunConfig) -> int:
    """Frames in one training window: context + horizon, or 3 (a, middle, b) to interpolate."""
    return 3 if cfg.train.task == "interpolate" else cfg.data.context + cfg.data.horizon


def split_window(frames: Tensor, *, task: str, context: int) -> tuple[Tensor, Tensor]:
    """(inputs, targets) of a window `(B, T, C, H, W)`: the first `context` frames and the rest,
    or, to interpolate, the two end frames and the middle one."""
    if task == "interpolate":
        return frames[:, 0::2], frames[:, 1:2]  # (B, 2, C, H, W), (B, 1, C, H, W)
    return frames[:, :context], frames[:, context:]


def predict_frames(model: nn.Module, inputs: Tensor, *, task: str, horizon: int) -> Tensor:
    """`(B, horizon, C, H, W)` predictions: a rollout for `predict`, one frame to interpolate."""
    if task == "interpolate":
        return model(inputs)[:, None]
    return rollout(model, inputs, horizon)


def weights_digest(state: dict[str, Tensor]) -> str:
    """A short hash of a state dict (every parameter and buffer): equal digests, equal weights."""
    h = hashlib.blake2b(digest_size=8)
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class _StopOnSigint:
    """Turns the first Ctrl-C into a request the loop honours after the current step (so the
    optimiser state is never torn); a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Trainer:
    def __init__(
        self,
        cfg: RunConfig,
        dist: Dist,
        *,
        resume: bool,
        on_frame: Callable[[], None] | None = None,
    ) -> None:
        self.cfg, self.dist = cfg, dist
        t = cfg.train
        self.run_dir = Path(t.out)
        self.device = resolve_device(t.device, local_rank=dist.local_rank)
        self.autocast = lambda: autocast(self.device, t.precision)
        torch.manual_seed(t.seed)  # same initial weights on every rank (DDP also broadcasts)
        self.model_cfg = self._model_config()
        self._check_size()
        self.train_set, self.val_set, self.skipped = self._datasets(on_frame)
        self.model = build_model(self.model_cfg).to(self.device)
        self.loss_fn = build_loss(cfg.loss.spec, flow=cfg.loss.flow, device=self.device)
        self.flow = getattr(self.loss_fn, "flow_backend", None)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=t.lr)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.precision == "fp16")
        self.sampler = ResumableSampler(
            self.train_set, seed=t.seed, rank=dist.rank, world=dist.world
        )
        per_rank = self.sampler.num_samples
        if per_rank < t.batch_size:
            raise InputError(
                f"{', '.join(cfg.data.paths)}: {len(self.train_set)} training windows "
                f"({per_rank} per process) is less than one batch of {t.batch_size}; "
                "use a smaller --batch-size or more data"
            )
        self.steps_per_epoch = per_rank // t.batch_size
        self.total_steps = t.epochs * self.steps_per_epoch if t.epochs > 0 else t.steps
        self.step, self.best_val = 0, math.inf
        if resume:
            self._restore(self.run_dir / "checkpoints" / "last.pt")
        self.ddp = (
            DistributedDataParallel(
                self.model, device_ids=[dist.local_rank] if self.device.type == "cuda" else None
            )
            if dist.enabled
            else self.model
        )
        self.log = ScalarLog(self.run_dir / "metrics.csv", enabled=dist.is_main)

    # -- setup ------------------------------------------------------------------------------
    def _model_config(self) -> ModelConfig:
        c, t = self.cfg, self.cfg.train
        if t.task not in TASKS:
            raise VidpredError(f"--task {t.task}: use one of {', '.join(TASKS)}")
        try:
            return model_config_for(
                c.model.name,
                task=t.task,
                context=2 if t.task == "interpolate" else c.data.context,
                residual=c.model.residual,
            )
        except (KeyError, ValueError) as e:
            raise VidpredError(f"--model {c.model.name}: {e}") from None

    def _check_size(self) -> None:
        h, w = self.cfg.data.size
        s = self.model_cfg.stride
        if h % s or w % s or h < s or w < s:
            raise VidpredError(f"--size {h}x{w}: height and width must be multiples of {s}")
        terms = {t.name for t in parse_loss_spec(self.cfg.loss.spec).terms}
        if "lpips" in terms and min(h, w) < 32:  # AlexNet's strided stem pools 16 px to nothing
            raise VidpredError(f"--size {h}x{w}: the lpips (AlexNet) loss needs at least 32x32")

    def _datasets(self, on_frame: Callable[[], None] | None):
        c, t = self.cfg.data, self.cfg.train
        n = window_frames(self.cfg)
        cache = FrameCache(Path(c.cache_dir) if c.cache_dir else None)

        def load():
            return load_clips(
                c.paths, size=c.size, frames=n, stride=c.stride, cache=cache, on_frame=on_frame
            )

        # Rank 0 decodes into the cache; the others then find every clip there.
        if self.dist.is_main:
            clips, skipped = load()
        self.dist.barrier()
        if not self.dist.is_main:
            clips, skipped = load()
        train_clips, val_clips = split_by_file(clips, val_fraction=c.val_fraction, seed=t.seed)
        self.val_from_train = not val_clips
        common = dict(frames=n, size=c.size, stride=c.stride)
        train_set = ClipDataset(train_clips, train=True, seed=t.seed, **common)
        # Validation windows do not overlap: each scored frame counts once.
        val_set = ClipDataset(val_clips or train_clips, step=n * c.stride, **common)
        return train_set, val_set, skipped

    # -- checkpoints ------------------------------------------------------------------------
    def _payload(self, kind: str) -> dict:
        common = dict(
            model_config=self.model_cfg.to_dict(),
            run_config=self.cfg.to_dict(),
            model=self.model.state_dict(),
            step=self.step,
        )
        if kind == "model":
            return ckpt.make_payload("model", **common)
        return ckpt.make_payload(
            "checkpoint",
            **common,
            optimizer=self.optimizer.state_dict(),
            scaler=self.scaler.state_dict(),
            best_val=self.best_val,
            # Data order and crops depend only on (seed, epoch, index); the generator state
            # is kept for anything a model or loss may draw.
            rng=torch.get_rng_state(),
        )

    def save(self, *, best: bool = False) -> None:
        if not self.dist.is_main:
            return
        payload = self._payload("checkpoint")
        ckpt.atomic_save(payload, self.run_dir / "checkpoints" / "last.pt")
        if best:
            ckpt.atomic_save(payload, self.run_dir / "checkpoints" / "best.pt")
        ckpt.atomic_save(self._payload("model"), self.run_dir / "model.pt")

    def _restore(self, path: Path) -> None:
        payload = ckpt.load_payload(path, kind="checkpoint", map_location=self.device)
        if payload["model_config"] != self.model_cfg.to_dict():
            raise VidpredError(
                f"{path}: the saved model ({payload['model_config'].get('preset')}) differs from "
                "the one the config asks for; model options cannot change on --resume"
            )
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scaler.load_state_dict(payload["scaler"])
        self.step, self.best_val = int(payload["step"]), float(payload["best_val"])
        torch.set_rng_state(payload["rng"].cpu())
        for group in self.optimizer.param_groups:  # flags win: a new --lr applies from here on
            group["lr"] = self.cfg.train.lr

    # -- one step ---------------------------------------------------------------------------
    def train_step(self, batch: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        c, t = self.cfg.data, self.cfg.train
        frames = batch.to(self.device, non_blocking=True)  # (B, T, C, H, W)
        inputs, target = split_window(frames, task=t.task, context=c.context)
        with self.autocast():
            pred = predict_frames(self.ddp, inputs, task=t.task, horizon=target.shape[1])
            loss, logs = self.loss_fn(pred.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach(), {
            k: v.detach() if torch.is_tensor(v) else torch.tensor(v) for k, v in logs.items()
        }

    @torch.no_grad()
    def validate(self) -> tuple[dict[str, float], tuple[Tensor, Tensor, Tensor] | None]:
        """Loss, PSNR and SSIM on up to `val_batches` validation batches (centre crops), and the
        first batch (inputs, target, prediction) for the sample grid."""
        c, t = self.cfg.data, self.cfg.train
        self.model.eval()
        loader = DataLoader(self.val_set, batch_size=t.batch_size, shuffle=False)
        sums: dict[str, float] = {"loss": 0.0, "psnr": 0.0, "ssim": 0.0}
        n, first = 0, None
        for i, batch in enumerate(loader):
            if i >= t.val_batches:
                break
            frames = batch.to(self.device)
            inputs, target = split_window(frames, task=t.task, context=c.context)
            with self.autocast():
                pred = predict_frames(self.model, inputs, task=t.task, horizon=target.shape[1])
            pred = pred.float()
            loss, _ = self.loss_fn(pred, target)
            b = frames.shape[0]
            sums["loss"] += loss.item() * b
            # Identical frames have infinite PSNR (as in skimage); cap so one cannot swamp a mean.
            sums["psnr"] += psnr(pred, target).clamp(max=PSNR_CAP).mean().item() * b
            sums["ssim"] += ssim(pred, target).mean().item() * b
            n += b
            if first is None:
                first = (inputs.cpu(), target.cpu(), pred.cpu())
        self.model.train()
        return {f"val_{k}": v / max(n, 1) for k, v in sums.items()}, first

    # -- the loop ---------------------------------------------------------------------------
    def run(self, on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainSummary:
        t = self.cfg.train
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            resolved = self.cfg.override("loss", flow=self.flow) if self.flow else self.cfg
            save_config(resolved, self.run_dir / "config.toml")
            self.log.truncate_after(self.step)
        self.model.train()
        t0 = time.perf_counter()
        since = (t0, self.step)
        pending: list[tuple[int, Tensor, dict[str, Tensor]]] = []
        last_loss, val, loader = math.nan, {}, None
        with _StopOnSigint() as sigint:
            while self.step < self.total_steps and not sigint.requested:
                if loader is None:
                    loader = self._epoch_loader()
                try:
                    batch = next(loader)
                except StopIteration:
                    loader = None
                    continue
                loss, logs = self.train_step(batch)
                self.step += 1
                pending.append((self.step, loss, logs))
                at_end = self.step == self.total_steps
                val_due = self._due(t.val_every, at_end) or self._due(t.sample_every, at_end)
                ckpt_due = self._due(t.checkpoint_every, at_end)
                if self.step % LOG_EVERY == 0 or at_end or val_due or ckpt_due:
                    # Every save is preceded by this check: no checkpoint holds a NaN.
                    last_loss = self._flush(pending, *since)
                    since, pending = (time.perf_counter(), self.step), []
                    if on_step:
                        on_step(self.step, {"loss": last_loss})
                if val_due:
                    val = self._validate_and_sample(at_end)
                if ckpt_due:
                    self.save()
            if sigint.requested:  # Ctrl-C: keep what was learnt, exit cleanly
                if pending:
                    last_loss = self._flush(pending, *since)
                self.save()
        return TrainSummary(
            run_dir=self.run_dir,
            step=self.step,
            loss=last_loss,
            val=val,
            seconds=time.perf_counter() - t0,
            interrupted=sigint.requested,
            flow=self.flow,
            weights_digest=weights_digest(self.model.state_dict()),
        )

    def _epoch_loader(self):
        """An iterator over this epoch's remaining batches (resumes mid-epoch exactly)."""
        t = self.cfg.train
        epoch, in_epoch = divmod(self.step, self.steps_per_epoch)
        self.sampler.set_position(epoch, in_epoch * t.batch_size)
        self.train_set.set_epoch(epoch)  # before workers copy the dataset
        return iter(
            DataLoader(
                self.train_set,
                batch_size=t.batch_size,
                sampler=self.sampler,
                num_workers=t.workers,
                drop_last=True,
                pin_memory=self.device.type == "cuda",
            )
        )

    def _due(self, every: int, at_end: bool) -> bool:
        return at_end or (every > 0 and self.step % every == 0)

    def _flush(self, pending, since_t: float, since_step: int) -> float:
        """Check the pending steps' losses (one host sync), then write one metrics row."""
        if not pending:
            return math.nan
        losses = torch.stack([loss for _, loss, _ in pending]).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step = pending[int(bad[0])][0]
            raise TrainingDiverged(
                f"the loss became {losses[int(bad[0])].item()} at step {step}; "
                f"{self.run_dir / 'checkpoints' / 'last.pt'} holds the last good state "
                "(try a lower --lr or --precision fp32)"
            )
        keys = pending[-1][2].keys()
        row = {"step": self.step, "loss": losses.mean().item()}
        for k in keys:
            row[k] = torch.stack([logs[k].float().cpu() for _, _, logs in pending]).mean().item()
        elapsed = max(time.perf_counter() - since_t, 1e-9)
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        row["steps_per_s"] = (self.step - since_step) / elapsed
        row["samples_per_s"] = row["steps_per_s"] * self.cfg.train.batch_size * self.dist.world
        self.log.write(row)
        return row["loss"]

    def _validate_and_sample(self, at_end: bool) -> dict[str, float]:
        t = self.cfg.train
        val: dict[str, float] = {}
        if self.dist.is_main:
            val, first = self.validate()
            self.log.write({"step": self.step, **val})
            is_best = val["val_loss"] < self.best_val
            if is_best:
                self.best_val = val["val_loss"]
                self.save(best=True)
            if first is not None and self._due(t.sample_every, at_end):
                inputs, target, pred = first
                write_image(
                    self.run_dir / "samples" / f"step_{self.step:07d}.png",
                    comparison_grid(inputs, target, [pred]),
                )
        self.dist.barrier()
        return val


def train(
    cfg: RunConfig,
    *,
    resume: bool = False,
    on_ready: Callable[[Trainer], None] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_frame: Callable[[], None] | None = None,
) -> TrainSummary:
    """Train as `cfg` says; with `resume`, continue `cfg.train.out` from its last checkpoint.
    Callbacks: `on_frame` per frame decoded into the cache, `on_ready` once the data and model
    are set up, `on_step` at every log interval."""
    d = init_distributed(cfg.train.device)
    try:
        trainer = Trainer(cfg, d, resume=resume, on_frame=on_frame)
        if on_ready:
            on_ready(trainer)
        return trainer.run(on_step)
    finally:
        shutdown_distributed(d)

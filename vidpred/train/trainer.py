"""`vidpred train`: the trainer owns the optimiser, checkpoints, logs and sample grids.

The network (vidpred.models) maps frames to frames; the objective (vidpred.losses) maps
(prediction, target) to (loss, logs); this module puts them on data and keeps the run folder:

    RUN/config.toml          the effective config (flags > --config file > defaults)
    RUN/checkpoints/last.pt  everything needed to resume bit for bit (best.pt: by val PSNR)
    RUN/model.pt             what predict / interpolate / eval take
    RUN/metrics.csv          one row per log interval and per validation
    RUN/samples/             context | target | prediction | error, per sample step
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from vidpred import checkpoint as ckpt
from vidpred.checkpoint import weights_digest
from vidpred.config import RunConfig, save_config
from vidpred.errors import CheckpointError, InputError, VidpredError
from vidpred.flow.backends import build_flow
from vidpred.io.atomic import errors_name
from vidpred.io.frames import write_image
from vidpred.io.grids import comparison_grid
from vidpred.losses import build_loss, parse_loss_spec
from vidpred.models import ModelConfig, build_model
from vidpred.train.rundir import RunFolder
from vidpred.train.runtime import (
    Dist,
    StopOnSigint,
    autocast,
    init_distributed,
    resolve_device,
    shutdown_distributed,
)
from vidpred.train.scalar_log import ScalarLog
from vidpred.train.setup import (
    check_config,
    check_size,
    flow_backend_of,
    load_data,
    lr_at,
    model_config_of,
    plan_steps,
    wrap_for_ddp,
)
from vidpred.train.validation import predict_frames, split_window, validate

LOG_EVERY = 10  # steps between metrics.csv rows (each costs one host sync)


class TrainingDiverged(VidpredError):
    """The loss or the weights became NaN or infinite; the last checkpoint on disk predates it
    (no checkpoint is ever written with non-finite weights)."""


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


class Trainer:
    """One training run. The constructor builds every piece from the config, top to bottom;
    `run` is the loop. Ranks of a DDP job each build one; only rank 0 writes, and holds the run
    folder's lock from here until `close`."""

    def __init__(
        self,
        cfg: RunConfig,
        dist: Dist,
        *,
        resume: bool,
        overwrite: bool = False,
        on_frame: Callable[[], None] | None = None,
    ) -> None:
        self.cfg, self.dist, t = cfg, dist, cfg.train
        self.run_dir = Path(t.out)
        self.overwrite = overwrite
        self.device = resolve_device(t.device, local_rank=dist.local_rank)
        check_config(cfg)
        autocast(self.device, t.precision)  # refuses fp16 off CUDA before any work
        torch.manual_seed(t.seed)  # same initial weights on every rank (DDP also broadcasts)
        self.flow = flow_backend_of(cfg)  # `auto` resolved once, for the loss and the model
        self.model_cfg = model_config_of(cfg, flow=self.flow)
        check_size(cfg, self.model_cfg)
        self.folder = (
            RunFolder.claim(self.run_dir, resume=resume, overwrite=overwrite)
            if dist.is_main
            else None
        )
        try:
            self._build(resume, on_frame)
        except BaseException:
            self.close()
            raise

    def _build(self, resume: bool, on_frame: Callable[[], None] | None) -> None:
        cfg, dist, t = self.cfg, self.dist, self.cfg.train
        self.data = load_data(cfg, dist, on_frame)
        self.model = build_model(self.model_cfg).to(self.device)
        self.loss_fn = build_loss(cfg.loss.spec, flow=self.flow or "dis", device=self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=t.lr)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.precision == "fp16")
        self.plan = plan_steps(cfg, self.data.train_set, dist)
        # References in validation are the eval baselines, which measure motion with DIS.
        self.reference_flow = build_flow("dis")
        self.step, self.best_psnr = 0, -math.inf
        self._saved_step: int | None = None  # the step of checkpoints/last.pt on disk
        if resume:
            self._restore(self.run_dir / "checkpoints" / "last.pt")
            if self.step >= self.total_steps:
                asked = (
                    f"--epochs {t.epochs} ({self.total_steps} steps)"
                    if t.epochs
                    else (f"--steps {t.steps}")
                )
                raise InputError(
                    f"{self.run_dir}: already at step {self.step}; {asked} leaves nothing to "
                    f"do (give --steps above {self.step} to train further)"
                )
        self.ddp = wrap_for_ddp(self.model, dist, self.device)

    def close(self) -> None:
        """Release the run folder's lock (rank 0)."""
        if self.folder is not None:
            self.folder.release()
            self.folder = None

    @property
    def total_steps(self) -> int:
        return self.plan.total_steps

    def autocast(self):
        return autocast(self.device, self.cfg.train.precision)

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
            best_val_psnr=self.best_psnr,
            # Data order and crops depend only on (seed, epoch, index); the generator state
            # is kept for anything a model or loss may draw.
            rng=torch.get_rng_state(),
        )

    def save(self, *, best: bool = False) -> None:
        """last.pt and model.pt (once per step), and best.pt when `best`; never non-finite
        weights (issue 12: `--lr inf` used to write all-NaN checkpoints)."""
        if not self.dist.is_main:
            return
        if bad := ckpt.non_finite_tensors(self.model.state_dict()):
            raise TrainingDiverged(
                f"the weights became NaN or infinite by step {self.step} ({bad[0]}); not saved. "
                f"{self._last_good()} (try a lower --lr or --precision fp32)"
            )
        payload = None
        if self._saved_step != self.step:
            payload = self._payload("checkpoint")
            ckpt.atomic_save(payload, self.run_dir / "checkpoints" / "last.pt")
            ckpt.atomic_save(self._payload("model"), self.run_dir / "model.pt")
            self._saved_step = self.step
        if best:
            payload = payload or self._payload("checkpoint")
            ckpt.atomic_save(payload, self.run_dir / "checkpoints" / "best.pt")

    def _last_good(self) -> str:
        """Which file on disk holds the last good state, in words."""
        last = self.run_dir / "checkpoints" / "last.pt"
        if self._saved_step is None or not last.is_file():
            return "No checkpoint was written before it."
        return f"{last} (step {self._saved_step}) holds the last good state."

    def _restore(self, path: Path) -> None:
        payload = ckpt.load_payload(path, kind="checkpoint", map_location=self.device)
        try:
            saved_model = ModelConfig.from_dict(payload["model_config"])
            step = payload["step"]
            if saved_model != self.model_cfg:
                why = "model options cannot change on --resume"
                if saved_model.head == "flow" and not saved_model.trend:
                    why = "it was saved before the flow head's appearance trend; train anew"
                raise VidpredError(
                    f"{path}: the saved model ({saved_model.preset}) differs from the one the "
                    f"config asks for; {why}"
                )
            if not isinstance(step, int) or isinstance(step, bool) or step < 0:
                raise ValueError(f"step {step!r} is not a step number")
            if bad := ckpt.non_finite_tensors(payload["model"]):
                raise ValueError(f"non-finite weights in {bad[0]}")
            ckpt.load_weights(self.model, payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scaler.load_state_dict(payload["scaler"])
            # Checkpoints from before best-by-PSNR chose by loss; their choice is not comparable.
            self.best_psnr = float(payload.get("best_val_psnr", -math.inf))
            torch.set_rng_state(payload["rng"].cpu())
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise CheckpointError(f"{path}: not a usable training checkpoint ({first})") from None
        self.step = self._saved_step = step

    # -- one step ---------------------------------------------------------------------------
    def train_step(self, batch: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        c, t = self.cfg.data, self.cfg.train
        lr = lr_at(
            self.step, peak=t.lr, total=self.total_steps, schedule=t.lr_schedule, warmup=t.warmup
        )
        for group in self.optimizer.param_groups:  # flags win: a new --lr applies from here on
            group["lr"] = lr
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

    def validate(self) -> tuple[dict[str, float], tuple[Tensor, Tensor, Tensor] | None]:
        c, t = self.cfg.data, self.cfg.train
        return validate(
            self.model,
            self.data.val_set,
            loss_fn=self.loss_fn,
            flow=self.reference_flow,
            task=t.task,
            context=c.context,
            batch_size=t.batch_size,
            max_batches=t.val_batches,
            device=self.device,
            autocast=self.autocast,
        )

    # -- the loop ---------------------------------------------------------------------------
    def run(self, on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainSummary:
        t = self.cfg.train
        if self.folder is not None:
            self.folder.prepare(overwrite=self.overwrite)
            save_config(self._resolved_config(), self.run_dir / "config.toml")
        # Opened only now: with --overwrite the earlier run's metrics.csv is gone by here.
        self.log = ScalarLog(self.run_dir / "metrics.csv", enabled=self.dist.is_main)
        self._log(None)
        self.model.train()
        t0 = time.perf_counter()
        since = (t0, self.step)
        pending: list[tuple[int, Tensor, dict[str, Tensor]]] = []
        last_loss, val, loader = math.nan, {}, None
        with StopOnSigint() as sigint:
            if self.step == 0:
                # The untrained model is a baseline (copy-last; linear for the flow head): score
                # it, so best.pt is never worse on validation than where training started.
                self._validate_and_sample(at_end=False, sample=False)
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
                if ckpt_due:  # before validating: a failure there must not lose the steps
                    self.save()
                if val_due:
                    val = self._validate_and_sample(
                        at_end, sample=self._due(t.sample_every, at_end)
                    )
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
        epoch, in_epoch = divmod(self.step, self.plan.steps_per_epoch)
        self.plan.sampler.set_position(epoch, in_epoch * t.batch_size)
        self.data.train_set.set_epoch(epoch)  # before workers copy the dataset
        return iter(
            DataLoader(
                self.data.train_set,
                batch_size=t.batch_size,
                sampler=self.plan.sampler,
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
                f"the loss became {losses[int(bad[0])].item()} at step {step}. "
                f"{self._last_good()} (try a lower --lr or --precision fp32)"
            )
        keys = pending[-1][2].keys()
        row = {"step": self.step, "loss": losses.mean().item()}
        for k in keys:
            row[k] = torch.stack([logs[k].float().cpu() for _, _, logs in pending]).mean().item()
        elapsed = max(time.perf_counter() - since_t, 1e-9)
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        row["steps_per_s"] = (self.step - since_step) / elapsed
        row["samples_per_s"] = row["steps_per_s"] * self.cfg.train.batch_size * self.dist.world
        self._log(row)
        return row["loss"]

    def _log(self, row: dict[str, float] | None) -> None:
        """Append `row` to metrics.csv (None: drop the rows after this step); a failed write
        names the file (an append to a full disk raises an OSError that names none)."""
        with errors_name(self.log.path):
            if row is None:
                self.log.truncate_after(self.step)
            else:
                self.log.write(row)

    def _resolved_config(self) -> RunConfig:
        """The config as run: `auto` flow and validation split replaced by what they became, the
        loss spec in its canonical form (`L1 + Corr-L2` is recorded as `l1+corr-mse`)."""
        how = self.data.val_split
        cfg = self.cfg.override("data", val_split=how) if how in ("files", "time") else self.cfg
        cfg = cfg.override("loss", spec=str(parse_loss_spec(cfg.loss.spec)))
        return cfg.override("loss", flow=self.flow) if self.flow else cfg

    def _validate_and_sample(self, at_end: bool, *, sample: bool) -> dict[str, float]:
        """Validate (rank 0), log, keep the best checkpoint by validation PSNR, write a sample."""
        val: dict[str, float] = {}
        if self.dist.is_main:
            val, first = self.validate()
            self._log({"step": self.step, **val})
            if val["val_psnr"] > self.best_psnr:
                self.best_psnr = val["val_psnr"]
                self.save(best=True)
            if first is not None and sample:
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
    overwrite: bool = False,
    on_ready: Callable[[Trainer], None] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_frame: Callable[[], None] | None = None,
) -> TrainSummary:
    """Train as `cfg` says; with `resume`, continue `cfg.train.out` from its last checkpoint; with
    `overwrite`, replace the run already there (else one there is refused: vidpred.train.rundir).
    Callbacks: `on_frame` per frame decoded into the cache, `on_ready` once the data and model
    are set up, `on_step` at every log interval."""
    d = init_distributed(cfg.train.device)
    try:
        trainer = Trainer(cfg, d, resume=resume, overwrite=overwrite, on_frame=on_frame)
        try:
            if on_ready:
                on_ready(trainer)
            return trainer.run(on_step)
        finally:
            trainer.close()
    finally:
        shutdown_distributed(d)

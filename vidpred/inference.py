"""Using a trained model: load `model.pt`, predict future frames, interpolate between frames.

Frames come in as uint8 `(H, W, 3)` arrays (the I/O edge) and go out the same way; in between
they are `(B, T, C, H, W)` float32 in [0, 1] on the model's device.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vidpred import checkpoint as ckpt
from vidpred.data.cache import working_size
from vidpred.errors import CheckpointError, InputError
from vidpred.io.grids import to_uint8
from vidpred.models import InputPadder, ModelConfig, UNetPredictor, build_model, rollout

# Pixels per forward pass when batching frames of arbitrary size (about 16 frames of 256x256):
# keeps memory bounded on 4K input while batching small frames.
PIXELS_PER_BATCH = 16 * 256 * 256


@dataclass(frozen=True)
class LoadedModel:
    """A trained model, frozen and in eval mode, with what it needs to be used.

    >>> lm = load_model("runs/a/model.pt")
    >>> lm.predict(context, frames=3)   # (B, K, 3, H, W) in [0, 1] -> (B, 3, 3, H, W)
    >>> lm.interpolate(a, b, t=0.5)     # (B, 3, H, W) each -> (B, 3, H, W)
    """

    model: UNetPredictor
    config: ModelConfig
    size: tuple[int, int]  # (H, W) it was trained at
    stride: int  # frame stride it was trained with
    path: Path
    step: int

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, context: Tensor, frames: int = 1) -> Tensor:
        """The `frames` frames after `context` `(B, T>=K, C, H, W)` in [0, 1], any H, W:
        `(B, frames, C, H, W)` on the model's device."""
        self._require("predict")
        return predict_future(self, context, frames)

    def interpolate(self, a: Tensor, b: Tensor, t: float = 0.5) -> Tensor:
        """The frame at time `t` between `a` and `b` `(B, C, H, W)` in [0, 1], any H, W."""
        self._require("interpolate")
        return interpolate_at(self, a, b, t)

    def _require(self, task: str) -> None:
        if self.config.task != task:
            raise ValueError(f"{self.path}: a {self.config.task} model cannot {task}")


def load_model(
    path: Path | str, *, device: torch.device | str = "cpu", task: str | None = None
) -> LoadedModel:
    """A model from `run/model.pt` (or a training checkpoint), frozen, in eval mode, on `device`.
    `task` ("predict" or "interpolate") refuses a model trained for the other one."""
    try:
        payload = ckpt.load_payload(path, kind="model")
    except CheckpointError as e:
        if "is a vidpred checkpoint" not in str(e):
            raise
        payload = ckpt.load_payload(path, kind="checkpoint")
    try:
        cfg = ModelConfig.from_dict(payload["model_config"])
        data = payload["run_config"]["data"]
        size, stride, step = _checked_numbers(data["size"], data["stride"], payload.get("step", 0))
        if bad := ckpt.non_finite_tensors(payload["model"]):
            raise ValueError(
                f"its weights hold NaN or infinite values ({bad[0]}); the training diverged"
            )
        model = build_model(cfg)
        ckpt.load_weights(model, payload["model"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path}: not a usable vidpred model ({first})") from None
    if task is not None and cfg.task != task:
        raise CheckpointError(
            f"{path}: is a {cfg.task} model; `vidpred {'predict' if task == 'predict' else task}` "
            f"needs one trained with --task {task}"
        )
    model.eval().requires_grad_(False).to(torch.device(device))
    return LoadedModel(model, cfg, size, stride, Path(path), step)


def _whole(value, what: str, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{what} {value!r} is not a whole number >= {least}")
    return value


def _checked_numbers(size, stride, step) -> tuple[tuple[int, int], int, int]:
    """A model file is data a user may have been handed: its numbers are checked, not trusted
    (issue 12: a crafted `size = [0, 0]` crashed predict)."""
    if not isinstance(size, list | tuple) or len(size) != 2:
        raise ValueError(f"size {size!r} is not (H, W)")
    h, w = (_whole(v, "size", 1) for v in size)
    return (h, w), _whole(stride, "stride", 1), _whole(step, "step", 0)


def to_tensor(frames: Sequence[np.ndarray]) -> Tensor:
    """uint8 `(H, W, 3)` frames -> `(T, 3, H, W)` float32 in [0, 1]."""
    x = torch.from_numpy(np.stack(frames))  # (T, H, W, 3)
    return x.permute(0, 3, 1, 2).float().div_(255)  # (T, 3, H, W)


def resize(frames: Tensor, size: tuple[int, int]) -> Tensor:
    """Fit `(..., C, H, W)` to `size = (H, W)` the way training crops do: resize (antialiased
    bilinear) so the frame covers `size` with its aspect ratio kept, then take the centre."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])  # (N, C, H, W)
    h, w = working_size(tuple(flat.shape[-2:]), size)
    out = F.interpolate(flat, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    y, x = (h - size[0]) // 2, (w - size[1]) // 2
    out = out[..., y : y + size[0], x : x + size[1]]  # (N, C, size[0], size[1])
    return out.clamp(0, 1).reshape(*lead, *out.shape[-3:])


@torch.no_grad()
def predict_future(lm: LoadedModel, context: Tensor, frames: int) -> Tensor:
    """`(B, K, C, H, W)` context (any H, W; padded to the model's stride) -> `(B, frames, C, H, W)`
    by `vidpred.models.rollout` (fed back for a pixel head, direct for a flow head)."""
    K = lm.config.context
    if context.ndim != 5 or context.shape[1] < K:
        raise ValueError(f"context must be (B, T>={K}, C, H, W); got {tuple(context.shape)}")
    padder = InputPadder(context.shape, stride=lm.config.stride)
    preds = rollout(lm.model, padder.pad(context.to(lm.device)), frames)
    return padder.unpad(preds)


# -- interpolation -----------------------------------------------------------------------------
# A flow-head interpolator takes the time t as an input and answers any t directly. A pixel head
# knows only midpoints, so it reaches t = k / 2**n by recursive midpoints and nothing else.


def dyadic_depth(times: Sequence[float]) -> int:
    """Levels of midpoint recursion needed to reach every time in (0, 1); each must be k / 2**d
    (a pixel-head model only knows midpoints)."""
    depth = 0
    for t in times:
        f = Fraction(t).limit_denominator(1 << 10)
        if not 0 < f < 1 or abs(float(f) - t) > 1e-9 or f.denominator & (f.denominator - 1):
            raise InputError(
                f"t = {float(t):.6g}: a pixel-head interpolator reaches only times strictly "
                "between 0 and 1 of the form k/2^n (0.5, 0.25, 0.125, ...), since it predicts "
                "midpoints; a flow-head one (vidpred train --task interpolate --head flow) takes "
                "any t"
            )
        depth = max(depth, f.denominator.bit_length() - 1)
    return depth


@torch.no_grad()
def interpolate_midpoints(lm: LoadedModel, a: Tensor, b: Tensor, depth: int) -> Tensor:
    """Frames between `a` and `b` (each `(B, C, H, W)`, any size) at times k / 2**depth,
    k = 1 .. 2**depth - 1, by recursive midpoints, one batched forward per level.
    Returns `(B, 2**depth - 1, C, H, W)` in time order."""
    padder = InputPadder(a.shape, stride=lm.config.stride)
    known = torch.stack([padder.pad(a), padder.pad(b)], dim=1).to(lm.device)  # (B, 2, C, H', W')
    for _ in range(depth):
        B, N, C, H, W = known.shape
        pairs = torch.stack([known[:, :-1], known[:, 1:]], dim=2)  # (B, N-1, 2, C, H, W)
        mids = lm.model(pairs.reshape(B * (N - 1), 2, C, H, W))  # (B*(N-1), C, H, W)
        mids = mids.reshape(B, N - 1, C, H, W)
        merged = torch.empty(B, 2 * N - 1, C, H, W, device=known.device, dtype=known.dtype)
        merged[:, 0::2], merged[:, 1::2] = known, mids
        known = merged
    return padder.unpad(known[:, 1:-1])


@torch.no_grad()
def interpolate_times(lm: LoadedModel, a: Tensor, b: Tensor, times: Sequence[float]) -> Tensor:
    """For each pair `a[i]`, `b[i]` (`(B, C, H, W)`, any size) the frame at its own time
    `times[i]` in (0, 1): `(B, C, H, W)`."""
    if len(times) != a.shape[0]:
        raise ValueError(f"{len(times)} times for {a.shape[0]} pairs")
    if lm.config.head == "flow":
        padder = InputPadder(a.shape, stride=lm.config.stride)
        pairs = torch.stack([padder.pad(a), padder.pad(b)], dim=1).to(lm.device)
        t = torch.tensor([float(x) for x in times], device=lm.device)
        return padder.unpad(lm.model(pairs, time=t))
    depth = dyadic_depth(times)
    mids = interpolate_midpoints(lm, a, b, depth)  # (B, 2**depth - 1, C, H, W)
    index = torch.tensor([round(float(t) * 2**depth) - 1 for t in times], device=mids.device)
    return mids[torch.arange(len(times), device=mids.device), index]


def interpolate_at(lm: LoadedModel, a: Tensor, b: Tensor, t: float = 0.5) -> Tensor:
    """The frame at time `t` in (0, 1) between `a` and `b`, each `(B, C, H, W)` (any size)."""
    return interpolate_times(lm, a, b, [t] * a.shape[0])


def retime_stream(
    lm: LoadedModel, frames: Iterable[np.ndarray], *, step: Fraction
) -> Iterator[np.ndarray]:
    """A stream of uint8 frames resampled in time: the frames at source positions 0, step,
    2 step, ... (in source frames) up to the last source frame. `step` = fps_in / fps_out, so
    1/4 gives 4x the frames and 25/60 converts 25 fps to 60 over the same duration. Positions on
    a source frame are that frame, untouched; the others are interpolated, batched across pairs.
    Holds one batch of frames."""
    step = Fraction(step)
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    it = iter(frames)
    prev = next(it, None)
    if prev is None:
        return
    H, W, _ = prev.shape
    budget = max(1, PIXELS_PER_BATCH // (H * W))  # interpolated frames per forward
    pending: list[tuple[np.ndarray, np.ndarray, list[Fraction]]] = []
    n_jobs, i, j = 0, 0, 0  # interpolations pending, index of `prev`, next output index
    for frame in it:
        times = []
        while j * step < i + 1:
            times.append(j * step - i)
            j += 1
        pending.append((prev, frame, times))
        n_jobs += sum(1 for t in times if t)
        if n_jobs >= budget:
            yield from _interpolate_pending(lm, pending)
            pending, n_jobs = [], 0
        prev, i = frame, i + 1
    yield from _interpolate_pending(lm, pending)
    if j * step == i:  # the last source frame lies on the output grid
        yield prev


def _interpolate_pending(
    lm: LoadedModel, pending: list[tuple[np.ndarray, np.ndarray, list[Fraction]]]
) -> Iterator[np.ndarray]:
    jobs = [(k, t) for k, (_, _, times) in enumerate(pending) for t in times if t]
    made: dict[tuple[int, Fraction], np.ndarray] = {}
    if jobs:
        a = to_tensor([pending[k][0] for k, _ in jobs])  # (N, 3, H, W)
        b = to_tensor([pending[k][1] for k, _ in jobs])
        if lm.config.head == "flow":
            out = interpolate_times(lm, a, b, [t for _, t in jobs])  # (N, 3, H, W)
        else:  # every pair's midpoints once, at the depth the finest time needs
            pairs = sorted({k for k, _ in jobs})
            depth = dyadic_depth([t for _, t in jobs])
            mids = interpolate_midpoints(
                lm,
                to_tensor([pending[k][0] for k in pairs]),
                to_tensor([pending[k][1] for k in pairs]),
                depth,
            )  # (P, 2**depth - 1, 3, H, W)
            row = {k: r for r, k in enumerate(pairs)}
            out = torch.stack([mids[row[k], int(t * 2**depth) - 1] for k, t in jobs])
        made = dict(zip(jobs, to_uint8(out), strict=True))
    for k, (a_frame, _, times) in enumerate(pending):
        for t in times:
            yield made[(k, t)] if t else a_frame


def interpolate_stream(
    lm: LoadedModel, frames: Iterable[np.ndarray], *, factor: int
) -> Iterator[np.ndarray]:
    """A stream of uint8 frames -> `factor` times as many (minus the tail): every source frame,
    each followed by `factor - 1` interpolated ones up to the next."""
    return retime_stream(lm, frames, step=Fraction(1, factor))

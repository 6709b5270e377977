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
    model: UNetPredictor
    config: ModelConfig
    size: tuple[int, int]  # (H, W) it was trained at
    stride: int  # frame stride it was trained with
    path: Path
    step: int

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def load_model(path: Path, *, device: torch.device, task: str | None = None) -> LoadedModel:
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
        model = build_model(cfg)
        model.load_state_dict(payload["model"])
        data = payload["run_config"]["data"]
        size, stride = (int(data["size"][0]), int(data["size"][1])), int(data["stride"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{path}: not a usable vidpred model ({str(e).splitlines()[0]})"
        ) from None
    if task is not None and cfg.task != task:
        raise CheckpointError(
            f"{path}: is a {cfg.task} model; `vidpred {'predict' if task == 'predict' else task}` "
            f"needs one trained with --task {task}"
        )
    model.eval().requires_grad_(False).to(device)
    return LoadedModel(model, cfg, size, stride, Path(path), int(payload.get("step", 0)))


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
    by autoregressive rollout."""
    K = lm.config.context
    if context.ndim != 5 or context.shape[1] < K:
        raise ValueError(f"context must be (B, T>={K}, C, H, W); got {tuple(context.shape)}")
    padder = InputPadder(context.shape, stride=lm.config.stride)
    preds = rollout(lm.model, padder.pad(context.to(lm.device)), frames)
    return padder.unpad(preds)


# -- interpolation by recursive midpoints --------------------------------------------------------


def dyadic_depth(times: Sequence[float]) -> int:
    """Levels of midpoint recursion needed to reach every time in (0, 1); each must be k / 2**d
    (the model only knows midpoints)."""
    depth = 0
    for t in times:
        f = Fraction(t).limit_denominator(1 << 10)
        if not 0 < f < 1 or abs(float(f) - t) > 1e-9 or f.denominator & (f.denominator - 1):
            raise InputError(
                f"--times {t}: must lie strictly between 0 and 1 and be k/2^n "
                "(0.5, 0.25, 0.125, ...), since the model predicts midpoints"
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
def interpolate_at(lm: LoadedModel, a: Tensor, b: Tensor, t: float = 0.5) -> Tensor:
    """The frame at time `t` in (0, 1) between `a` and `b`, each `(B, C, H, W)` (any size):
    `(B, C, H, W)`. Today's models predict midpoints, so `t` must be k / 2**n."""
    depth = dyadic_depth([t])
    mids = interpolate_midpoints(lm, a, b, depth)  # (B, 2**depth - 1, C, H, W)
    return mids[:, round(t * 2**depth) - 1]


def interpolate_stream(
    lm: LoadedModel, frames: Iterable[np.ndarray], *, factor: int
) -> Iterator[np.ndarray]:
    """A stream of uint8 frames -> `factor` times as many (minus the tail): every source frame,
    each followed by `factor - 1` interpolated ones up to the next. Holds one batch of frames."""
    depth = dyadic_depth([1 / factor])
    it = iter(frames)
    try:
        prev = next(it)
    except StopIteration:
        return
    H, W, _ = prev.shape
    pairs_per_batch = max(1, PIXELS_PER_BATCH // (H * W * factor))
    chunk = [prev]
    for frame in it:
        chunk.append(frame)
        if len(chunk) == pairs_per_batch + 1:
            yield from _interpolate_chunk(lm, chunk, depth)
            chunk = chunk[-1:]
    if len(chunk) > 1:
        yield from _interpolate_chunk(lm, chunk, depth)
    yield chunk[-1]


def _interpolate_chunk(lm: LoadedModel, chunk: list[np.ndarray], depth: int) -> Iterator:
    x = to_tensor(chunk)  # (N, 3, H, W)
    mids = interpolate_midpoints(lm, x[:-1], x[1:], depth)  # (N-1, M, 3, H, W)
    for i in range(len(chunk) - 1):
        yield chunk[i]
        yield from to_uint8(mids[i])

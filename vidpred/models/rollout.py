"""Rollout: predict many frames with a one-step predictor.

A pixel-head model is rolled out autoregressively (each prediction is fed back as context). A
flow-head model predicts step k directly from the real context, sampling the last real frame
along k times the measured motion (one resampling per frame, so predictions stay sharp, and an
untrained model equals the `linear` baseline at every step); all steps run as one batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidpred.models.unet import UNetPredictor


def _unwrap(model: nn.Module) -> UNetPredictor:
    # Look through DataParallel/DDP (`.module`) so the trainer can pass its wrapped model and
    # still have the wrapper's forward (and gradient hooks) run.
    for candidate in (model, getattr(model, "module", None)):
        if isinstance(candidate, UNetPredictor):
            return candidate
    raise TypeError(
        f"rollout needs a UNetPredictor or a wrapper of one, got {type(model).__name__}"
    )


def rollout(
    model: nn.Module,
    context: Tensor,
    horizon: int,
    *,
    detach_feedback: bool = False,
) -> Tensor:
    """Predict ``horizon`` frames after ``context``: a pixel head feeds each prediction back in, a
    flow head predicts each step directly (module docstring).

    ``model`` is a ``UNetPredictor`` (or a DataParallel/DDP wrapper of one) with task "predict";
    ``context`` is ``(B, T, C, H, W)`` with ``T >= model.config.context``; the model sees a
    sliding window of the last K frames (real ones first, then its own predictions). Returns
    ``(B, horizon, C, H, W)``.

    The rollout is differentiable end to end, so a loss on frame ``t`` also trains the steps that
    produced frames ``< t`` through their effect on the later inputs; this is what teaches a
    model to recover from its own mistakes instead of only from ground-truth context.
    ``detach_feedback=True`` cuts that path (each step is trained as if its inputs were given),
    which is cheaper in memory but optimises only one-step error.
    """
    inner = _unwrap(model)
    cfg = inner.config
    if cfg.task != "predict":
        raise ValueError(f"rollout needs a 'predict' model, got task {cfg.task!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    K = cfg.context
    if context.ndim != 5 or context.shape[1] < K:
        raise ValueError(f"context must be (B, T>={K}, C, H, W); got shape {tuple(context.shape)}")
    window = context[:, -K:]  # (B, K, C, H, W)
    if cfg.head == "flow":
        return _direct_rollout(model, window, horizon, inner.measure_motion(window))
    preds = []
    for _ in range(horizon):
        pred = model(window)  # (B, C, H, W)
        preds.append(pred)
        fed = pred.detach() if detach_feedback else pred
        window = torch.cat([window[:, 1:], fed[:, None]], dim=1)  # (B, K, C, H, W)
    return torch.stack(preds, dim=1)  # (B, horizon, C, H, W)


def _direct_rollout(model: nn.Module, window: Tensor, horizon: int, motion: Tensor) -> Tensor:
    """Steps 1..horizon of a flow head in one batch: `(B, horizon, C, H, W)`."""
    B, K, C, H, W = window.shape
    frames = window[:, None].expand(B, horizon, K, C, H, W).reshape(B * horizon, K, C, H, W)
    motion = motion[:, None].expand(B, horizon, 2, H, W).reshape(B * horizon, 2, H, W)
    steps = torch.arange(1, horizon + 1, device=window.device, dtype=window.dtype)
    pred = model(frames, time=steps.repeat(B), motion=motion)  # (B*horizon, C, H, W)
    return pred.reshape(B, horizon, C, H, W)

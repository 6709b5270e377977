"""Validation during training: the model's loss, PSNR and SSIM on held-out windows, next to the
PSNR of the zero-parameter references on the very same windows (copy-last and linear to predict,
blend and flow-mid to interpolate), so the curve in metrics.csv always has its yardstick
(issue 10: a curve without one looked as if training hurt)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from vidpred.eval.metrics import PSNR_CAP, psnr, ssim
from vidpred.flow.backends import FlowEstimator
from vidpred.flow.motion import extrapolate_linear, flow_midpoint
from vidpred.models import rollout

#: The references logged beside the model, per task, as `val_psnr_<name>` columns.
REFERENCES = {"predict": ("copy-last", "linear"), "interpolate": ("blend", "flow-mid")}


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


def reference_frames(name: str, inputs: Tensor, horizon: int, flow: FlowEstimator) -> Tensor:
    """`(B, horizon, C, H, W)` of a zero-parameter reference (see `REFERENCES`)."""
    if name == "copy-last":
        return inputs[:, -1:].expand(-1, horizon, -1, -1, -1)
    if name == "linear":
        return extrapolate_linear(inputs, horizon, flow=flow)
    if name == "blend":
        return inputs.mean(dim=1, keepdim=True)
    if name == "flow-mid":
        return flow_midpoint(inputs[:, 0], inputs[:, 1], 0.5, flow=flow)[:, None]
    raise ValueError(f"unknown reference {name!r}")


def _capped_psnr(pred: Tensor, target: Tensor) -> Tensor:
    return psnr(pred, target).clamp(max=PSNR_CAP)  # (B, T), capped as in eval


@torch.no_grad()
def validate(
    model: nn.Module,
    val_set: Dataset,
    *,
    loss_fn: Callable[[Tensor, Tensor], tuple[Tensor, dict]],
    flow: FlowEstimator,
    task: str,
    context: int,
    batch_size: int,
    max_batches: int,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager],
) -> tuple[dict[str, float], tuple[Tensor, Tensor, Tensor] | None]:
    """`{"val_loss", "val_psnr", "val_ssim", "val_psnr_<reference>"...}` averaged over up to
    `max_batches` batches (centre crops), and the first batch (inputs, target, prediction) for
    the sample grid. The model is put back in training mode afterwards."""
    model.eval()
    references = REFERENCES[task]
    sums: dict[str, float] = {}
    n, first = 0, None
    for i, batch in enumerate(DataLoader(val_set, batch_size=batch_size, shuffle=False)):
        if i >= max_batches:
            break
        inputs, target = split_window(batch.to(device), task=task, context=context)
        horizon = target.shape[1]
        with autocast():
            pred = predict_frames(model, inputs, task=task, horizon=horizon)
        pred = pred.float()
        loss, _ = loss_fn(pred, target)
        scores = {
            "loss": loss.item(),
            "psnr": _capped_psnr(pred, target).mean().item(),
            "ssim": ssim(pred, target).mean().item(),
        }
        for name in references:
            ref = reference_frames(name, inputs, horizon, flow)
            scores[f"psnr_{name.replace('-', '_')}"] = _capped_psnr(ref, target).mean().item()
        b = batch.shape[0]
        for key, value in scores.items():
            sums[key] = sums.get(key, 0.0) + value * b
        n += b
        if first is None:
            first = (inputs.cpu(), target.cpu(), pred.cpu())
    model.train()
    return {f"val_{k}": v / max(n, 1) for k, v in sums.items()}, first

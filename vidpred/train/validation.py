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

from vidpred.eval.baselines import BASELINES, baseline_frames, split_window
from vidpred.eval.metrics import capped_psnr, ssim
from vidpred.flow.backends import FlowEstimator
from vidpred.models import rollout

__all__ = ["REFERENCES", "predict_frames", "split_window", "validate"]

#: The references logged beside the model, per task, as `val_psnr_<name>` columns: the eval
#: baselines (`vidpred.eval.baselines` owns their predictions).
REFERENCES = {task: tuple(names) for task, names in BASELINES.items()}


def predict_frames(model: nn.Module, inputs: Tensor, *, task: str, horizon: int) -> Tensor:
    """`(B, horizon, C, H, W)` predictions: a rollout for `predict`, one frame to interpolate."""
    if task == "interpolate":
        return model(inputs)[:, None]
    return rollout(model, inputs, horizon)


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
            "psnr": capped_psnr(pred, target).mean().item(),
            "ssim": ssim(pred, target).mean().item(),
        }
        for name in references:
            ref = baseline_frames(name, inputs, horizon, flow=flow)
            scores[f"psnr_{name.replace('-', '_')}"] = capped_psnr(ref, target).mean().item()
        b = batch.shape[0]
        for key, value in scores.items():
            sums[key] = sums.get(key, 0.0) + value * b
        n += b
        if first is None:
            first = (inputs.cpu(), target.cpu(), pred.cpu())
    model.train()
    return {f"val_{k}": v / max(n, 1) for k, v in sums.items()}, first

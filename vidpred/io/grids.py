"""Comparison grids: rows of labelled panels (context | target | prediction | error) as one image.
Written by `train` (samples/), `predict --grid` and `eval` (worst clips first)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

PAD = 2  # pixels of white between panels


def to_uint8(frames: Tensor) -> np.ndarray:
    """`(..., C, H, W)` float in [0, 1] -> `(..., H, W, C)` uint8 (the I/O edge)."""
    x = frames.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    return x.movedim(-3, -1).numpy()


def as_rgb(frames: Tensor) -> Tensor:
    """`(..., C, H, W)` with C = 1 (grey) or 3 -> `(..., 3, H, W)`; grey is copied to R, G and B
    (a view, no copy). What the ImageNet networks (VGG, LPIPS, RAFT) and the grids want."""
    C = frames.shape[-3] if frames.ndim >= 3 else 0
    if C == 3:
        return frames
    if C == 1:
        return frames.expand(*frames.shape[:-3], 3, *frames.shape[-2:])
    raise ValueError(f"expected 1 or 3 channels at dim -3, got shape {tuple(frames.shape)}")


def error_map(pred: Tensor, target: Tensor, *, gain: float = 4.0) -> Tensor:
    """Mean absolute error over channels, times `gain`, as grey `(..., 3, H, W)`."""
    return as_rgb((pred - target).abs().mean(dim=-3, keepdim=True).mul(gain).clamp(0, 1))


def grid(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Lay out rows of `(H, W, 3)` uint8 panels (same size) with white gutters. Short rows are
    padded with white so every row has the same width."""
    if not rows or not rows[0]:
        raise ValueError("grid needs at least one panel")
    h, w, _ = rows[0][0].shape
    ncols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + PAD) + PAD, ncols * (w + PAD) + PAD, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            if panel.shape != (h, w, 3):
                raise ValueError(f"panel {i},{j} is {panel.shape}, expected {(h, w, 3)}")
            y, x = PAD + i * (h + PAD), PAD + j * (w + PAD)
            out[y : y + h, x : x + w] = panel
    return out


def comparison_grid(
    context: Tensor, target: Tensor | None, predictions: Sequence[Tensor], *, max_rows: int = 4
) -> np.ndarray:
    """One row per sample: context frames | target frames | each prediction | its error map.

    context `(B, K, C, H, W)`; target `(B, T, C, H, W)` or None (no ground truth); each prediction
    `(B, T, C, H, W)`. Error maps are shown for the last predicted frame.
    """
    B = context.shape[0]
    rows = []
    for b in range(min(B, max_rows)):
        panels = list(to_uint8(context[b]))
        if target is not None:
            panels += list(to_uint8(target[b]))
        for pred in predictions:
            panels += list(to_uint8(pred[b]))
            if target is not None:
                panels.append(to_uint8(error_map(pred[b, -1], target[b, -1])))
        rows.append(panels)
    return grid(rows)

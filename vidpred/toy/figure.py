"""Labelled panels for toy.png, references.png and progress.gif."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from vidpred.io.grids import grid, to_uint8
from vidpred.losses import LossSpec

# How the paper's figure names each base term.
TERM_LABELS = {
    "l1": "L1",
    "mse": "MSE",
    "vgg": "Perceptual",
    "lpips": "LPIPS",
    "lpips-vgg": "LPIPS (VGG)",
}
HEADER = 18  # pixels of label strip above each panel
FONT_SIZE = 13


def loss_label(spec: LossSpec) -> str:
    """The figure's name for a spec: `corr-l1` -> "Corr-wise L1", `l1+vgg` -> "L1 + Perceptual",
    `l1+0.5*mse` -> "L1 + 0.5 MSE", `l1+corr-l1` -> "L1 + Corr-wise L1"."""

    def terms(ts) -> str:
        return " + ".join(
            (f"{t.weight:g} " if t.weight != 1.0 else "") + TERM_LABELS[t.name] for t in ts
        )

    text = f"Corr-wise {terms(spec.terms)}" if spec.corrwise else terms(spec.terms)
    return " + ".join(filter(None, [terms(spec.pixel_terms), text]))


def display_scale(width: int) -> int:
    """Integer upscaling so a panel is at least ~256 px wide (a 64x128 image is tiny on screen)."""
    return max(1, 256 // width)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


def labelled_panel(image: torch.Tensor, label: str, *, scale: int) -> np.ndarray:
    """`(3, H, W)` float image -> uint8 `(HEADER + H*scale, W*scale, 3)` with `label` on top."""
    panel = to_uint8(image)  # (H, W, 3)
    panel = panel.repeat(scale, axis=0).repeat(scale, axis=1)  # nearest: keep pixels visible
    H, W, _ = panel.shape
    header = Image.new("RGB", (W, HEADER), "white")
    draw = ImageDraw.Draw(header)
    size = FONT_SIZE
    font = _font(size)
    while draw.textlength(label, font=font) > W - 4 and size > 7:
        size -= 1
        font = _font(size)
    text_w = draw.textlength(label, font=font)
    draw.text(((W - text_w) / 2, (HEADER - size) / 2 - 1), label, fill="black", font=font)
    return np.concatenate([np.asarray(header), panel], axis=0)


def figure_row(images: Sequence[torch.Tensor], labels: Sequence[str]) -> np.ndarray:
    """One row of labelled panels, laid out by `vidpred.io.grids.grid`."""
    scale = display_scale(images[0].shape[-1])
    panels = [labelled_panel(im, lab, scale=scale) for im, lab in zip(images, labels, strict=True)]
    return grid([panels])

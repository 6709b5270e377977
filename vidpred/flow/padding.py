"""Pad images to a U-Net's stride and undo it afterwards (after RAFT's ``InputPadder``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

PAD_MODES = ("replicate", "reflect", "constant")


class InputPadder:
    """Pads the last two dims (H, W) of any tensor up to multiples of ``stride``.

    The padding is split evenly between the two sides (the odd pixel goes bottom/right) so the
    content stays centred, which keeps a U-Net's receptive field symmetric about it.
    ``replicate`` is the default: zeros would add a dark border the predictor must learn to
    ignore, and ``reflect`` fails when the pad is as wide as the image.

    >>> padder = InputPadder(frames.shape, stride=model.stride)
    >>> pred = padder.unpad(model(padder.pad(frames)))
    """

    def __init__(self, shape: Sequence[int], *, stride: int, mode: str = "replicate") -> None:
        if len(shape) < 2:
            raise ValueError(f"shape must end in (H, W); got {tuple(shape)}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if mode not in PAD_MODES:
            raise ValueError(f"mode must be one of {PAD_MODES}, got {mode!r}")
        self.height, self.width = int(shape[-2]), int(shape[-1])
        self.stride = stride
        self.mode = mode
        pad_h = -self.height % stride
        pad_w = -self.width % stride
        # F.pad order: (left, right, top, bottom).
        self.pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)

    @property
    def padded_size(self) -> tuple[int, int]:
        left, right, top, bottom = self.pads
        return self.height + top + bottom, self.width + left + right

    def pad(self, x: Tensor) -> Tensor:
        """``(..., H, W)`` -> ``(..., H', W')`` with H', W' multiples of the stride."""
        H, W = x.shape[-2:]
        if x.shape[-2:] != (self.height, self.width):
            raise ValueError(
                f"padder was built for (H, W) = {(self.height, self.width)}; "
                f"got shape {tuple(x.shape)}"
            )
        if not any(self.pads):
            return x
        lead = x.shape[:-2]
        # Non-constant modes only take 3-D/4-D input for 2-D padding: fold the leading dims.
        flat = x.reshape(1, -1, H, W)  # (1, prod(lead), H, W)
        padded = F.pad(flat, self.pads, mode=self.mode)
        return padded.reshape(*lead, *padded.shape[-2:])  # (..., H', W')

    def unpad(self, x: Tensor) -> Tensor:
        """Crop ``(..., H', W')`` back to ``(..., H, W)``."""
        if tuple(x.shape[-2:]) != self.padded_size:
            raise ValueError(
                f"padder pads to (H, W) = {self.padded_size}; got shape {tuple(x.shape)}"
            )
        left, _, top, _ = self.pads
        return x[..., top : top + self.height, left : left + self.width]

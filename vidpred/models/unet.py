"""The U-Net frame predictor and its config.

One network family serves both tasks:

- ``task="predict"``: K context frames ``(B, K, C, H, W)`` -> the next frame ``(B, C, H, W)``.
- ``task="interpolate"``: two frames ``(B, 2, C, H, W)`` -> the frame halfway between them.

The frames are stacked on the channel axis and fed to a plain convolutional U-Net (GroupNorm +
SiLU residual blocks, strided-conv down, nearest-upsample + conv up, concatenated skips). The
network only maps tensors to tensors; objectives and training live elsewhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Task = Literal["predict", "interpolate"]
TASKS: tuple[str, ...] = ("predict", "interpolate")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a predictor; saved as a plain dict in every checkpoint.

    ``channel_mults`` gives the width of each resolution level as a multiple of ``base_width``;
    there is one 2x downsampling between consecutive levels, so inputs must have H and W that are
    multiples of ``stride == 2 ** (len(channel_mults) - 1)`` (see ``InputPadder``).
    ``residual`` predicts a bounded correction to a base frame (the last context frame, or the mean
    of the two frames when interpolating) instead of the frame itself.
    """

    task: Task = "predict"
    context: int = 2
    channels: int = 3
    base_width: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    blocks_per_level: int = 1
    norm_groups: int = 8
    residual: bool = True
    preset: str | None = None

    def __post_init__(self) -> None:
        # Tuples come back from a JSON/dict round trip as lists; store the canonical frozen form.
        if isinstance(self.channel_mults, list):
            object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        for name in ("context", "channels", "base_width", "blocks_per_level", "norm_groups"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.task == "interpolate" and self.context != 2:
            raise ValueError(
                f"task 'interpolate' takes exactly 2 frames, got context={self.context}"
            )
        mults = self.channel_mults
        if (
            not isinstance(mults, tuple)
            or not mults
            or not all(_is_int(m) and m > 0 for m in mults)
        ):
            raise ValueError(f"channel_mults must be non-empty positive ints, got {mults!r}")
        for width in self.widths:
            if width % self.norm_groups:
                raise ValueError(
                    f"every level width must be divisible by norm_groups={self.norm_groups}, "
                    f"got widths {self.widths}"
                )
        if not isinstance(self.residual, bool):
            raise ValueError(f"residual must be a bool, got {self.residual!r}")
        if self.preset is not None and not isinstance(self.preset, str):
            raise ValueError(f"preset must be a string or None, got {self.preset!r}")

    @property
    def widths(self) -> tuple[int, ...]:
        """Feature width of each resolution level, finest first."""
        return tuple(self.base_width * m for m in self.channel_mults)

    @property
    def stride(self) -> int:
        """Total downsampling factor; H and W of the input must be multiples of it."""
        return 2 ** (len(self.channel_mults) - 1)

    @property
    def in_frames(self) -> int:
        """Frames the network takes in one call (K for predict, 2 for interpolate)."""
        return self.context

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of builtins (lists, not tuples) that ``from_dict`` turns back into this."""
        data = dataclasses.asdict(self)
        data["channel_mults"] = list(self.channel_mults)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild from ``to_dict()`` output. Unknown keys are an error (likely a newer or foreign
        checkpoint); missing keys take their defaults."""
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown model config key(s) {unknown}; expected a subset of {sorted(known)}"
            )
        return cls(**data)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3x3, twice, plus a (1x1 if widths differ) shortcut."""

    def __init__(self, *, in_ch: int, out_ch: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.shortcut(x)


class Upsample(nn.Module):
    """Nearest 2x then conv3x3: avoids the checkerboard artefacts of transposed convolutions
    (Odena et al., Distill 2016) and is cheaper on the CPU than bilinear."""

    def __init__(self, *, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _clamp_straight_through(x: Tensor) -> Tensor:
    """Clamp to [0, 1] in the forward pass, identity in the backward pass.

    A plain clamp has zero gradient wherever the pre-clamp value overshoots, so a pixel that
    undershoots 0 where the target later turns bright (a digit moving onto black background)
    would never be corrected. Passing the gradient straight through keeps every pixel trainable;
    the ``tanh`` bound on the residual keeps the hidden pre-clamp value within [-1, 2] so it cannot
    drift far while invisible.
    """
    return x + (x.clamp(0.0, 1.0) - x).detach()


class UNetPredictor(nn.Module):
    """Frames ``(B, T, C, H, W)`` in [0, 1] -> one frame ``(B, C, H, W)`` in [0, 1].

    ``T`` is ``config.context`` (predict) or 2 (interpolate); H and W must be multiples of
    ``config.stride``. Output head:

    - direct: ``sigmoid(net(x))``;
    - residual: ``clamp_st(base + tanh(net(x)))`` with ``base`` the last context frame (predict)
      or the mean of the two frames (interpolate). The last conv is zero-initialised, so an
      untrained residual model returns ``base`` exactly: copy-last / blend is a strong baseline
      for both tasks and a sane place for training to start.
    """

    def __init__(self, *, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        widths, groups, n_blocks = config.widths, config.norm_groups, config.blocks_per_level
        in_ch = config.in_frames * config.channels

        self.stem = nn.Conv2d(in_ch, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        cur = widths[0]
        for level, width in enumerate(widths):
            blocks = []
            for _ in range(n_blocks):
                blocks.append(ResBlock(in_ch=cur, out_ch=width, groups=groups))
                cur = width
            self.down_blocks.append(nn.Sequential(*blocks))
            if level < len(widths) - 1:
                # Strided conv rather than avg-pool: learnable, and no information is thrown
                # away before the skip connection sees it.
                self.downsamples.append(nn.Conv2d(width, width, 3, stride=2, padding=1))

        self.mid = nn.Sequential(
            ResBlock(in_ch=cur, out_ch=cur, groups=groups),
            ResBlock(in_ch=cur, out_ch=cur, groups=groups),
        )

        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level in reversed(range(len(widths))):
            width = widths[level]
            blocks = [ResBlock(in_ch=cur + width, out_ch=width, groups=groups)]
            blocks += [
                ResBlock(in_ch=width, out_ch=width, groups=groups) for _ in range(n_blocks - 1)
            ]
            self.up_blocks.append(nn.Sequential(*blocks))
            cur = width
            if level > 0:
                self.upsamples.append(Upsample(in_ch=width, out_ch=widths[level - 1]))
                cur = widths[level - 1]

        self.head_norm = nn.GroupNorm(groups, cur)
        self.head = nn.Conv2d(cur, config.channels, 3, padding=1)
        if config.residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def stride(self) -> int:
        return self.config.stride

    def check_frames(self, frames: Tensor) -> None:
        """Raise ValueError unless ``frames`` is ``(B, T, C, H, W)`` this model can take."""
        cfg = self.config
        expected = f"(B, {cfg.in_frames}, {cfg.channels}, H, W) with H, W multiples of {cfg.stride}"
        if frames.ndim != 5:
            raise ValueError(f"frames must be {expected}; got shape {tuple(frames.shape)}")
        H, W = frames.shape[-2:]
        misaligned = H % cfg.stride != 0 or W % cfg.stride != 0
        if frames.shape[1:3] != (cfg.in_frames, cfg.channels) or misaligned:
            hint = " (pad H, W with vidpred.models.InputPadder)" if misaligned else ""
            raise ValueError(
                f"{cfg.task} model expects frames {expected}; got shape {tuple(frames.shape)}{hint}"
            )

    def forward(self, frames: Tensor) -> Tensor:
        self.check_frames(frames)
        B, T, C, H, W = frames.shape
        # Centre the inputs: the stem sees zero-mean data, GroupNorm does the rest downstream.
        x = frames.reshape(B, T * C, H, W) * 2.0 - 1.0  # (B, T*C, H, W)

        h = self.stem(x)
        skips = []
        for level, blocks in enumerate(self.down_blocks):
            h = blocks(h)
            skips.append(h)
            if level < len(self.downsamples):
                h = self.downsamples[level](h)
        h = self.mid(h)
        for i, blocks in enumerate(self.up_blocks):
            h = blocks(torch.cat([h, skips.pop()], dim=1))
            if i < len(self.upsamples):
                h = self.upsamples[i](h)
        out = self.head(F.silu(self.head_norm(h)))  # (B, C, H, W)

        if not self.config.residual:
            return torch.sigmoid(out)
        base = frames[:, -1] if self.config.task == "predict" else frames.mean(dim=1)
        return _clamp_straight_through(base + torch.tanh(out))

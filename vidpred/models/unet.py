"""The U-Net frame predictor and its config.

One network family serves both tasks:

- ``task="predict"``: K context frames ``(B, K, C, H, W)`` -> the next frame ``(B, C, H, W)``.
- ``task="interpolate"``: two frames ``(B, 2, C, H, W)`` -> the frame halfway between them.

The frames are stacked on the channel axis and fed to a plain convolutional U-Net (GroupNorm +
SiLU residual blocks, strided-conv down, nearest-upsample + conv up, concatenated skips); its
last conv feeds one of the heads of `vidpred.models.heads` (`pixels` or `flow`). The network only
maps tensors to tensors; objectives and training live elsewhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidpred.flow.backends import FLOW_BACKENDS, FlowEstimator, build_flow
from vidpred.flow.motion import backward_flow, carry_forward, pair_flows, repeated_change
from vidpred.flow.warping import warp
from vidpred.models.heads import (
    FIT_GAIN,
    FLOW_UNIT,
    HEADS,
    compose_interpolation,
    compose_pixels,
    compose_prediction,
    extra_in_channels,
    out_channels,
)

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
    of the two frames when interpolating) instead of the frame itself (pixel head only).
    ``head`` is ``"pixels"`` (a frame, or a correction to one) or ``"flow"`` (the frame sampled
    along the measured motion plus learned corrections; see `vidpred.models.heads`); ``flow``
    names the backend that measures that motion (checkpoints older than the flow head have no
    ``head`` key and load as ``"pixels"``). ``trend`` gives the flow head's predictor its third
    blend alternative, the change of appearance carried on (`vidpred.flow.motion.repeated_change`);
    flow-head checkpoints saved before it have no ``trend`` key and load without it.
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
    head: str = "pixels"
    flow: str = "dis"
    trend: bool = True

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
        for name in ("residual", "trend"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.preset is not None and not isinstance(self.preset, str):
            raise ValueError(f"preset must be a string or None, got {self.preset!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        concrete = tuple(b for b in FLOW_BACKENDS if b != "auto")
        if self.flow not in concrete:
            raise ValueError(
                f"flow must be one of {concrete} (resolved, not auto), got {self.flow!r}"
            )
        if self.head == "flow" and not self.residual:
            raise ValueError("the flow head always predicts corrections; it needs residual=True")
        if self.head == "flow" and self.task == "predict" and self.context < 2:
            raise ValueError(
                "the flow head predicts along the motion between the last two context frames; "
                f"it needs context >= 2, got {self.context}"
            )

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
        if data.get("head") == "flow" and "trend" not in data:
            data = {**data, "trend": False}  # saved before the appearance trend existed
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


class UNetPredictor(nn.Module):
    """Frames ``(B, T, C, H, W)`` in [0, 1] -> one frame ``(B, C, H, W)`` in [0, 1].

    ``T`` is ``config.context`` (predict) or 2 (interpolate); H and W must be multiples of
    ``config.stride``. Output head (`vidpred.models.heads`):

    - pixels, direct: ``sigmoid(net(x))``;
    - pixels, residual: ``clamp_st(base + tanh(net(x)))`` with ``base`` the last context frame
      (predict) or the mean of the two frames (interpolate);
    - flow: the last frame sampled along the measured motion (predict), or both frames sampled
      towards time t (interpolate), plus learned corrections. To predict, the network also sees
      the motion's fit error (the previous frame moved along it, minus the last) and may blend
      towards the forward-splatted last frame (shown where it differs from the warp).

    The last conv of a residual model is zero-initialised, so an untrained model returns its base
    exactly: copy-last / blend (pixels), `linear` / `flow-mid` (flow). Strong baselines, and a sane
    place for training to start.
    """

    def __init__(self, *, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        widths, groups, n_blocks = config.widths, config.norm_groups, config.blocks_per_level
        in_ch = config.in_frames * config.channels
        in_ch += extra_in_channels(config.head, config.task, config.channels)

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
        self.head = nn.Conv2d(
            cur,
            out_channels(config.head, config.task, config.channels, trend=config.trend),
            3,
            padding=1,
        )
        if config.residual:
            # Zero output: the untrained model is its base (copy-last, blend, linear, flow-mid).
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        # The flow head's motion estimator: not a submodule, so its weights (RAFT) stay out of
        # the state dict and the optimiser, and it follows the data to its device by itself.
        self._flow: FlowEstimator | None = (
            build_flow(config.flow) if config.head == "flow" else None
        )

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

    def forward(
        self, frames: Tensor, *, time: float | Tensor | None = None, motion: Tensor | None = None
    ) -> Tensor:
        """Frames ``(B, T, C, H, W)`` -> one frame ``(B, C, H, W)``.

        Flow head only (the pixel head takes the frames alone):
        - predict: ``time`` is the step k ahead of the last frame (default 1; a number or ``(B,)``)
          and ``motion`` the backward flow last -> previous ``(B, 2, H, W)`` (default: measured
          here); the frame k steps ahead is sampled along k times it. `rollout` batches all k.
        - interpolate: ``time`` is t in [0, 1] (default 0.5) and ``motion`` the flows a -> b and
          b -> a stacked ``(B, 4, H, W)`` (default: measured here).
        """
        self.check_frames(frames)
        cfg = self.config
        if cfg.head == "pixels":
            if time is not None or motion is not None:
                raise ValueError(
                    "time and motion are inputs of the flow head; this is a pixel head"
                )
            out = self._trunk(frames.flatten(1, 2) * 2.0 - 1.0)  # (B, C, H, W)
            if not cfg.residual:
                return torch.sigmoid(out)
            base = frames[:, -1] if cfg.task == "predict" else frames.mean(dim=1)
            return compose_pixels(out, base)
        if cfg.task == "predict":
            return self._predict_along_flow(frames, time, motion)
        return self._interpolate_along_flow(frames, time, motion)

    @torch.no_grad()
    def measure_motion(self, frames: Tensor) -> Tensor:
        """The flow head's motion input for ``frames`` ``(B, T, C, H, W)``: the backward flow
        last -> previous ``(B, 2, H, W)`` (predict) or the flows a -> b, b -> a stacked
        ``(B, 4, H, W)`` (interpolate), measured by the configured backend, detached."""
        if self._flow is None:
            raise ValueError("measure_motion is for the flow head; this model has a pixel head")
        if self.config.task == "predict":
            return backward_flow(frames, self._flow)
        return torch.cat(pair_flows(frames[:, 0], frames[:, 1], self._flow), dim=1)

    def _times(self, time: float | Tensor | None, default: float, B: int, like: Tensor) -> Tensor:
        t = torch.as_tensor(default if time is None else time, dtype=like.dtype, device=like.device)
        return t.expand(B) if t.ndim == 0 else t  # (B,)

    def _predict_along_flow(self, frames: Tensor, time, motion: Tensor | None) -> Tensor:
        B, T, C, H, W = frames.shape
        last = frames[:, -1]
        if motion is None:
            motion = self.measure_motion(frames)  # (B, 2, H, W)
        k = self._times(time, 1.0, B, frames).view(B, 1, 1, 1)
        scaled = k * motion  # (B, 2, H, W): where step k samples from
        base = warp(last, scaled)  # the linear prediction, shown to the network
        # Where the motion fails to explain the step it was measured on, it is not to be trusted
        # for the next one: the cue the blend weights need, which a CNN cannot compute itself
        # without warping (+0.2 dB on bench/quality.py's two held-out clips; README has more).
        moved = warp(frames[:, -2], motion)  # (B, C, H, W): the previous frame moved along it
        fit = moved - last  # (B, C, H, W)
        carried = carry_forward(last, scaled, fill=base)  # (B, C, H, W)
        x = torch.cat(
            [
                frames.flatten(1, 2) * 2.0 - 1.0,  # (B, T*C, H, W)
                base * 2.0 - 1.0,  # (B, C, H, W)
                scaled / FLOW_UNIT,  # (B, 2, H, W)
                ((k - 1) / 4).expand(B, 1, H, W),  # (B, 1, H, W)
                fit * FIT_GAIN,  # (B, C, H, W)
                (carried - base) * FIT_GAIN,  # (B, C, H, W): where the splat disagrees
            ],
            dim=1,
        )
        # The appearance change from the previous frame to the last (-fit), where it repeats the
        # change of the step before (a fade, an exposure drift: not sensor noise), carried on
        # k times over from where step k samples (issue 11: a fading title).
        trend = None
        if self.config.trend:
            trend = k * warp(repeated_change(frames, motion, moved), scaled)  # (B, C, H, W)
        return compose_prediction(self._trunk(x), last, scaled, carried, trend)

    def _interpolate_along_flow(self, frames: Tensor, time, motion: Tensor | None) -> Tensor:
        B, T, C, H, W = frames.shape
        a, b = frames[:, 0], frames[:, 1]
        if motion is None:
            motion = self.measure_motion(frames)  # (B, 4, H, W)
        flow_ab, flow_ba = motion.split(2, dim=1)
        t = self._times(time, 0.5, B, frames).view(B, 1, 1, 1)
        base = (1 - t) * warp(a, t * flow_ba) + t * warp(b, (1 - t) * flow_ab)
        x = torch.cat(
            [
                frames.flatten(1, 2) * 2.0 - 1.0,  # (B, 2*C, H, W)
                base * 2.0 - 1.0,  # (B, C, H, W)
                t * flow_ba / FLOW_UNIT,  # (B, 2, H, W)
                (1 - t) * flow_ab / FLOW_UNIT,  # (B, 2, H, W)
                (t - 0.5).expand(B, 1, H, W),  # (B, 1, H, W)
            ],
            dim=1,
        )
        return compose_interpolation(self._trunk(x), a, b, t, flow_ab, flow_ba)

    def _trunk(self, x: Tensor) -> Tensor:
        """The U-Net from stacked, centred inputs ``(B, in_ch, H, W)`` to the head's output."""
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
        return self.head(F.silu(self.head_norm(h)))  # (B, out_channels, H, W)

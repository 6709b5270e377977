"""Optical flow backends behind one interface: `estimate_flow(reference, other) -> (B, 2, H, W)`.

The flow is in pixels, x first, from `reference` to `other` (`reference(p) ~ other(p + flow(p))`),
so `vidpred.flow.warping.warp(other, flow)` lands `other` on `reference`. Images are
`(B, C, H, W)` float in [0, 1] with C = 1 or 3 (RGB); the flow comes back on the images' device
and dtype.

Backends:
- `dis`: OpenCV's DIS flow on the CPU, no weights; the fallback that always works.
- `raft-small`, `raft-large`: torchvision's RAFT with its Chairs+Things weights and 5 refinement
  iterations, as in the authors' code (dangeng/CorrWiseLosses code/corrwise/flow_utils.py,
  `RAFT(num_iters=5)`). Frozen, eval mode, run under `no_grad`.
- `auto`: `raft-small` when its weights are on disk already, otherwise `dis`. Never downloads.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.optical_flow import raft_large, raft_small

from vidpred import weights
from vidpred.errors import InputError
from vidpred.flow.padding import InputPadder
from vidpred.io.grids import as_rgb

FLOW_BACKENDS = ("auto", "dis", "raft-small", "raft-large")


class FlowEstimator(nn.Module):
    """Base class. Subclasses set `name` and implement `_estimate` on checked, resized input."""

    name: str = ""
    # Smallest image side the backend takes; smaller images are upsampled for the flow.
    min_side: int = 1
    # Whether `track_grad=True` can give a flow that gradients flow through.
    differentiable: bool = False

    def estimate_flow(
        self, reference: torch.Tensor, other: torch.Tensor, *, track_grad: bool = False
    ) -> torch.Tensor:
        """Flow `(B, 2, H, W)` in pixels from `reference` to `other`, both `(B, C, H, W)` in [0, 1].

        The flow is detached unless `track_grad` (RAFT only: the authors' `no_detach` option).
        """
        if reference.ndim != 4 or reference.shape != other.shape:
            raise ValueError(
                "reference and other must be (B, C, H, W) of one shape, got "
                f"{tuple(reference.shape)} and {tuple(other.shape)}"
            )
        if reference.shape[1] not in (1, 3):
            raise ValueError(f"flow needs 1 or 3 channels, got shape {tuple(reference.shape)}")
        if track_grad and not self.differentiable:
            raise ValueError(f"flow backend {self.name} is not differentiable; use a raft backend")
        B, _, H, W = reference.shape
        with torch.set_grad_enabled(track_grad and torch.is_grad_enabled()):
            scale = self.min_side / min(H, W)
            if scale <= 1:
                return self._estimate(reference, other)
            # Too small for the backend: estimate at a size it takes, then bring the flow back.
            size = (math.ceil(H * scale), math.ceil(W * scale))
            pair = F.interpolate(
                torch.cat((reference, other)), size=size, mode="bilinear", align_corners=False
            )  # (2B, C, H', W')
            flow = self._estimate(pair[:B], pair[B:])  # (B, 2, H', W')
            flow = F.interpolate(flow, size=(H, W), mode="bilinear", align_corners=False)
            return flow * flow.new_tensor([W / size[1], H / size[0]]).view(1, 2, 1, 1)

    def forward(self, reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return self.estimate_flow(reference, other)

    def _estimate(self, reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def train(self, mode: bool = True) -> FlowEstimator:
        # A trainer's `loss.train()` must not switch RAFT's norm layers to training mode.
        return super().train(False)


# DIS presets. "tuned" is ULTRAFAST's patch search refined down to half resolution
# (finest scale 1): on 17 Big Buck Bunny frame pairs (1 and 4 frames apart, at 128 and 256 px)
# its warp error was within 3% of MEDIUM's at about a third of MEDIUM's time, and 25-35% below
# plain ULTRAFAST's (measured while writing issue 3).
_DIS_PRESETS = {
    "tuned": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, 1),
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
}
# ITU-R 601 luma, the weights of cv2.COLOR_RGB2GRAY.
_LUMA = (0.299, 0.587, 0.114)


class DISFlow(FlowEstimator):
    """OpenCV DIS flow on grayscale uint8, one pair per task on a small thread pool.

    cv2 releases the GIL in `calc`, so threads run pairs in parallel. Every pair gets a fresh DIS
    object: a reused one carries state from its previous call at some sizes (24x40: flows 0.06 px
    apart for the same pair), which made `linear` depend on what was computed before it. Creating
    one costs about 60 us, far below a 64x64 `calc`.
    """

    name = "dis"
    # cv2 refuses images under 12 px; 16 leaves DIS one pyramid level to work with.
    min_side = 16

    def __init__(self, *, preset: str = "tuned", num_threads: int | None = None) -> None:
        super().__init__()
        if preset not in _DIS_PRESETS:
            raise ValueError(f"DIS preset must be one of {tuple(_DIS_PRESETS)}, got {preset!r}")
        self.preset = preset
        self.num_threads = num_threads or min(8, os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None

    def _dis(self) -> cv2.DISOpticalFlow:
        preset, finest_scale = _DIS_PRESETS[self.preset]
        dis = cv2.DISOpticalFlow_create(preset)
        if finest_scale is not None:
            dis.setFinestScale(finest_scale)
        return dis

    def _calc(self, pair: np.ndarray) -> np.ndarray:
        return self._dis().calc(pair[0], pair[1], None)  # (H, W, 2) float32

    def _estimate(self, reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        B, C, H, W = reference.shape
        images = torch.stack((reference, other), dim=1).detach()  # (B, 2, C, H, W)
        if C == 3:
            luma = images.new_tensor(_LUMA).view(1, 1, 3, 1, 1)
            images = (images * luma).sum(2, keepdim=True)  # (B, 2, 1, H, W)
        # Quantise on the images' device so only uint8 crosses to the host.
        gray = (images[:, :, 0] * 255).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()
        if self.num_threads == 1 or B == 1:
            flows = [self._calc(pair) for pair in gray]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.num_threads, thread_name_prefix="dis")
            flows = list(self._pool.map(self._calc, gray))
        flow = torch.from_numpy(np.stack(flows))  # (B, H, W, 2)
        return flow.permute(0, 3, 1, 2).to(reference.device, reference.dtype)  # (B, 2, H, W)

    def __getstate__(self):
        # A thread pool does not pickle or deep-copy; it is rebuilt lazily.
        state = self.__dict__.copy()
        state["_pool"] = None
        return state

    def extra_repr(self) -> str:
        return f"preset={self.preset!r}, num_threads={self.num_threads}"


class RAFTFlow(FlowEstimator):
    """torchvision RAFT, frozen. `pretrained=False` gives random weights (tests, benchmarks)."""

    # RAFT's correlation pyramid halves a 1/8-resolution feature map three times and needs
    # at least 2 cells left: 8 * 2 * 2**3 = 128 (torchvision raft.py, `min_fmap_size`).
    min_side = 128
    differentiable = True

    def __init__(
        self, *, variant: str = "small", pretrained: bool = True, num_flow_updates: int = 5
    ) -> None:
        super().__init__()
        if variant not in ("small", "large"):
            raise ValueError(f"RAFT variant must be 'small' or 'large', got {variant!r}")
        self.name = f"raft-{variant}"
        self.num_flow_updates = num_flow_updates
        # Load from the cache file ourselves: torchvision's `weights=` would download.
        state = weights.load_state_dict(self.name) if pretrained else None
        self.raft = (raft_small if variant == "small" else raft_large)(weights=None)
        if state is not None:
            self.raft.load_state_dict(state)
        self.raft.eval().requires_grad_(False)

    def _estimate(self, reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        B = reference.shape[0]
        param = next(self.raft.parameters())
        if param.device != reference.device:
            self.raft.to(reference.device)  # follow the data, like the DIS backend does
        pair = as_rgb(torch.cat((reference, other)).to(param.dtype))  # (2B, 3, H, W)
        pair = pair * 2 - 1  # RAFT was trained on [-1, 1] (torchvision's OpticalFlow preset)
        padder = InputPadder(pair.shape, stride=8)  # RAFT takes H, W divisible by 8
        pair = padder.pad(pair)  # (2B, 3, H8, W8)
        flows = self.raft(pair[:B], pair[B:], num_flow_updates=self.num_flow_updates)
        return padder.unpad(flows[-1]).to(reference.dtype)  # (B, 2, H, W)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_flow_updates={self.num_flow_updates}"


def resolve_flow_backend(name: str) -> str:
    """The concrete backend `name` stands for: `auto` becomes `raft-small` or `dis`."""
    if name not in FLOW_BACKENDS:
        raise InputError(f"unknown flow backend {name!r}; choose one of {', '.join(FLOW_BACKENDS)}")
    if name == "auto":
        return "raft-small" if weights.is_present("raft-small") else "dis"
    return name


def build_flow(name: str = "auto") -> FlowEstimator:
    """A new estimator for `name` (see `FLOW_BACKENDS`); its `.name` says which one `auto` chose.

    An explicit `raft-*` whose weights are missing raises `WeightsMissingError` with the command
    that fetches them; nothing is downloaded here.
    """
    resolved = resolve_flow_backend(name)
    if resolved == "dis":
        return DISFlow()
    return RAFTFlow(variant=resolved.removeprefix("raft-"))


@functools.cache
def _shared_estimator(resolved: str) -> FlowEstimator:
    return build_flow(resolved)


def estimate_flow(
    reference: torch.Tensor, other: torch.Tensor, *, backend: str | FlowEstimator = "auto"
) -> torch.Tensor:
    """Flow `(B, 2, H, W)` from `reference` to `other` with a backend built once per process."""
    if isinstance(backend, str):
        backend = _shared_estimator(resolve_flow_backend(backend))
    return backend.estimate_flow(reference, other)

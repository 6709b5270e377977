"""Base losses: distances between two image batches, returned as per-pixel maps.

Every base loss maps `x, y` `(B, C, H, W)` in [0, 1] to a map `(B, 1, H, W)` whose plain mean is
the loss value, so a mask (occlusions in the corr-wise wrapper) can be applied before reducing.
`l1` and `mse` are exact per pixel; `vgg` and `lpips` compare feature maps at coarser
resolutions and bring each layer's distance back to `(H, W)` by bilinear upsampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.vgg import cfgs as vgg_cfgs
from torchvision.models.vgg import make_layers

from vidpred import weights
from vidpred.io.grids import as_rgb
from vidpred.models.frozen import FrozenNet, build_lpips


def l1_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`|x - y|` averaged over channels: `(B, 1, H, W)`; its mean is `F.l1_loss(x, y)`."""
    return (x - y).abs().mean(1, keepdim=True)


def mse_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`(x - y)^2` averaged over channels: `(B, 1, H, W)`; its mean is `F.mse_loss(x, y)`."""
    return (x - y).square().mean(1, keepdim=True)


class VGGFeatureLoss(FrozenNet):
    """VGG19 feature L1 in the pix2pixHD form the authors used (dangeng/CorrWiseLosses,
    code/models/networks.py `VGGLoss`): layers relu1_1..relu5_1 weighted 1/32, 1/16, 1/8, 1/4, 1.

    As there, images go in scaled to [-1, 1] with no ImageNet normalisation (their data loader
    normalised with mean = std = 0.5). The map is each layer's channel-mean |difference|
    upsampled to (H, W) and weighted; its mean equals pix2pixHD's loss exactly when H and W are
    multiples of 16 (bilinear x2^k upsampling keeps the mean) and closely otherwise.
    """

    # End (exclusive) of each slice of vgg19().features: after relu1_1, relu2_1, ..., relu5_1.
    SLICE_ENDS = (2, 7, 12, 21, 30)
    LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, *, pretrained: bool = True) -> None:
        super().__init__()
        # Only the convolutional trunk: vgg19()'s classifier would allocate 120M unused weights.
        features = make_layers(vgg_cfgs["E"])  # == vgg19().features, same module indices
        if pretrained:
            # Load the cache file ourselves: torchvision's `weights=` would download.
            state = weights.load_state_dict("vgg19")
            features.load_state_dict(
                {
                    k.removeprefix("features."): v
                    for k, v in state.items()
                    if k.startswith("features.")
                }
            )
        starts = (0, *self.SLICE_ENDS[:-1])
        self.slices = nn.ModuleList(
            features[a:b] for a, b in zip(starts, self.SLICE_ENDS, strict=True)
        )
        self.freeze()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        h = as_rgb(torch.cat((x, y))) * 2 - 1  # (2B, 3, H, W) in [-1, 1]
        out = x.new_zeros(B, 1, H, W)
        for block, weight in zip(self.slices, self.LAYER_WEIGHTS, strict=True):
            h = block(h)  # (2B, C_l, H_l, W_l)
            diff = (h[:B] - h[B:]).abs().mean(1, keepdim=True)  # (B, 1, H_l, W_l)
            if diff.shape[-2:] != (H, W):
                diff = F.interpolate(diff, size=(H, W), mode="bilinear", align_corners=False)
            out = out + weight * diff
        return out


class LPIPSLoss(FrozenNet):
    """LPIPS (Zhang et al. 2018, the `lpips` package) as a spatial map, inputs in [0, 1].

    `net` is "alex" (lpips' default) or "vgg". The calibrated linear layers ship inside the lpips
    package; the trunk is torchvision's ImageNet alexnet / vgg16, which lpips would download
    itself, so it is built random (`pnet_rand=True`) and loaded here from the weights cache.
    """

    def __init__(self, *, net: str = "alex", pretrained: bool = True) -> None:
        super().__init__()
        self.net_name = net
        self.model = build_lpips(net=net, pretrained=pretrained, spatial=True)
        self.freeze()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # normalize=True: lpips maps [0, 1] to the [-1, 1] it was calibrated on.
        return self.model(as_rgb(x), as_rgb(y), normalize=True)  # (B, 1, H, W)


class WeightedSum(nn.Module):
    """Sum of weighted base losses, keeping each term's own map for the logs.

    `forward(x, y)` returns `(total_map, {name: term_map})`, maps `(B, 1, H, W)`; the term maps are
    unweighted, the total is `sum(weight * term_map)`.
    """

    def __init__(self, *, terms: Sequence[tuple[str, float, nn.Module]]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("WeightedSum needs at least one term")
        self.names = tuple(name for name, _, _ in terms)
        self.weights = tuple(float(w) for _, w, _ in terms)
        self.terms = nn.ModuleDict({name: module for name, _, module in terms})

    def forward(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        maps = {name: self.terms[name](x, y) for name in self.names}
        total = sum(w * maps[name] for name, w in zip(self.names, self.weights, strict=True))
        return total, maps


class MapLoss(nn.Module):
    """A plain map function (`l1_map`, `mse_map`) as a module, so every term is an nn.Module."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(x, y)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))

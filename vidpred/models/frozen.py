"""Pretrained networks used as fixed functions (VGG19 in the `vgg` loss, LPIPS in the `lpips`
loss and the LPIPS metric): built once, in eval mode for good, no parameter gradients.

One owner for what the losses and the metrics share, so the two cannot drift apart.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from vidpred import weights


class FrozenNet(nn.Module):
    """A pretrained network used as a fixed function: eval mode for good, no parameter grads."""

    def freeze(self) -> None:
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> FrozenNet:
        # A trainer's `loss_fn.train()` must not turn on LPIPS' dropout or touch norm statistics.
        return super().train(False)


def lpips_trunk_state(trunk: nn.Module, tv_state: dict[str, torch.Tensor]) -> dict:
    """Rename torchvision's `features.{i}.{param}` keys to lpips' `slice{k}.{i}.{param}`.

    lpips' trunks (lpips/pretrained_networks.py) copy `tv.<net>().features[i]` into
    `slice{k}` under the module name `str(i)`, so each index lives in exactly one slice.
    """
    slice_of = {
        index: slice_name
        for slice_name, block in trunk.named_children()
        for index in block._modules
    }
    state = {}
    for key, value in tv_state.items():
        part, index, param = key.split(".", 2)
        if part == "features" and index in slice_of:
            state[f"{slice_of[index]}.{index}.{param}"] = value
    return state


def build_lpips(*, net: str, pretrained: bool, spatial: bool) -> nn.Module:
    """`lpips.LPIPS` v0.1 (`net` "alex" or "vgg"), its trunk loaded from the weights cache.

    The calibrated linear layers ship inside the lpips package; the trunk is torchvision's
    ImageNet alexnet / vgg16, which lpips would download itself, so it is built random
    (`pnet_rand=True`) and loaded here through `vidpred.weights` (`WeightsMissingError` with the
    fetch command when absent; nothing is downloaded). `pretrained=False` keeps the random trunk
    (tests). Not frozen here: the caller's `FrozenNet.freeze` does that for the whole module.
    """
    if net not in ("alex", "vgg"):
        raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
    # Read the trunk first: a missing file fails before lpips spends seconds building.
    trunk = weights.load_state_dict(f"lpips-{net}") if pretrained else None
    import lpips  # deferred: lpips imports slowly and only LPIPS needs it

    with warnings.catch_warnings():  # lpips calls torchvision with the deprecated `pretrained`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(
            pretrained=True, net=net, version="0.1", pnet_rand=True, spatial=spatial, verbose=False
        )
    if trunk is not None:
        model.net.load_state_dict(lpips_trunk_state(model.net, trunk))
    return model

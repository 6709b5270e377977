"""The objective vidpred's trainer calls: `objective(prediction, target) -> (loss, logs)`.

`build_loss("corr-l1+vgg", flow="auto")` reads a loss spec (`vidpred.losses.spec`) and wraps the
loss module it names (`PixelWiseLoss` or `CorrWiseLoss`) in an `Objective`, which returns the
logs along with the loss and says which flow backend it uses. Code outside vidpred that only
wants a number uses the loss modules directly.
"""

from __future__ import annotations

import torch
from torch import nn

from vidpred.errors import SpecError
from vidpred.flow.backends import FlowEstimator
from vidpred.losses.corrwise import CorrWiseLoss, PixelWiseLoss
from vidpred.losses.spec import LossSpec, build_base, parse_loss_spec


class Objective(nn.Module):
    """A loss with its logs: `objective(prediction, target) -> (loss, logs)`.

    `loss` is the scalar to minimise; `logs` maps names ("loss", each base term, "flow_mag", ...)
    to detached 0-dim tensors; with pixel-wise terms added to a corr-wise loss, theirs are
    "pixel_loss", "pixel_<term>", and "corr_loss" is the corr-wise part. `flow_backend` names
    the flow a corr-wise loss uses (None for a pixel-wise one), so a run can record what `auto`
    became.
    """

    def __init__(
        self, loss: PixelWiseLoss | CorrWiseLoss, pixel: PixelWiseLoss | None = None
    ) -> None:
        super().__init__()
        self.loss = loss
        self.pixel = pixel  # pixel-wise terms added to a corr-wise loss (`l1+corr-l1`)

    @property
    def flow_backend(self) -> str | None:
        return self.loss.flow_backend

    def forward(
        self, prediction: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, logs = self.loss.loss_and_logs(prediction, target)
        if self.pixel is None:
            return loss, logs
        extra, pixel_logs = self.pixel.loss_and_logs(prediction, target)
        loss = loss + extra
        # the corr-wise part keeps its names ("l1" is its l1), the pixel-wise part is "pixel_*"
        logs = {**logs, **{f"pixel_{k}": v for k, v in pixel_logs.items()}}
        logs["corr_loss"], logs["loss"] = logs["loss"], loss.detach()
        return loss, logs


def build_loss(
    spec: str | LossSpec,
    *,
    flow: str | FlowEstimator = "auto",
    eps: float = 0.1,
    directions: str = "both",
    occlusion_mask: bool = False,
    flow_mag_weight: float = 0.0,
    detach_flow: bool = True,
    pretrained: bool = True,
    device=None,
) -> Objective:
    """The objective for `spec`: a module called as `loss_fn(prediction, target) -> (loss, logs)`.

    `flow` (a backend name or an estimator) and the options after it apply to corr- specs only;
    the flow backend is built only for those. `loss_fn.flow_backend` names the backend chosen
    (None for pixel-wise specs) so a run can record what `auto` became. Missing pretrained
    weights raise `WeightsMissingError` naming the command that fetches them; nothing downloads.
    `pretrained=False` builds perceptual terms with random networks (tests, benchmarks).
    """
    if isinstance(spec, str):
        spec = parse_loss_spec(spec)
    base = build_base(spec, pretrained=pretrained)  # before the flow: fail fast on weights
    pixel = None
    if spec.pixel_part is not None:  # `l1+corr-l1`: pixel-wise terms beside the corr-wise sum
        pixel = PixelWiseLoss(base=build_base(spec.pixel_part, pretrained=pretrained))
    if not spec.corrwise:
        if (
            eps != 0.1
            or directions != "both"
            or occlusion_mask
            or flow_mag_weight
            or not detach_flow
        ):
            raise SpecError(
                f"loss {spec} is pixel-wise; eps, directions, occlusion_mask, flow_mag_weight "
                "and detach_flow only apply to corr- losses"
            )
        loss: PixelWiseLoss | CorrWiseLoss = PixelWiseLoss(base=base)
    else:
        loss = CorrWiseLoss(
            base=base,
            flow=flow,
            eps=eps,
            directions=directions,
            occlusion_mask=occlusion_mask,
            flow_mag_weight=flow_mag_weight,
            detach_flow=detach_flow,
        )
    objective = Objective(loss, pixel)
    return objective.to(device) if device is not None else objective

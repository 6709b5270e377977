"""Objectives for video prediction: pixel-wise and correspondence-wise losses.

In your own training loop, a loss module returns the scalar:

    from vidpred.losses import CorrWiseLoss
    crit = CorrWiseLoss()                  # base "l1", DIS flow; CorrWiseLoss(base="l1+0.5*vgg")
    loss = crit(prediction, target)        # (B, C, H, W) or (B, T, C, H, W) in [0, 1]

vidpred's trainer uses `build_loss("corr-l1+vgg", flow="auto")`, an `Objective` called as
`loss_fn(prediction, target) -> (loss, logs)`. The spec language is in `vidpred.losses.spec`,
the functions and modules in `vidpred.losses.corrwise`, the base losses in
`vidpred.losses.base`, the objective in `vidpred.losses.objective`.
"""

from vidpred.losses.base import (
    LPIPSLoss,
    MapLoss,
    VGGFeatureLoss,
    WeightedSum,
    l1_map,
    mse_map,
)
from vidpred.losses.corrwise import (
    DIRECTIONS,
    CorrWiseLoss,
    PixelWiseLoss,
    corrwise_loss,
    pixelwise_loss,
)
from vidpred.losses.objective import Objective, build_loss
from vidpred.losses.spec import (
    BASE_TERMS,
    LossSpec,
    LossTerm,
    build_base,
    parse_loss_spec,
    resolve_base,
)

__all__ = [
    "BASE_TERMS",
    "DIRECTIONS",
    "CorrWiseLoss",
    "LPIPSLoss",
    "LossSpec",
    "LossTerm",
    "MapLoss",
    "Objective",
    "PixelWiseLoss",
    "VGGFeatureLoss",
    "WeightedSum",
    "build_base",
    "build_loss",
    "corrwise_loss",
    "l1_map",
    "mse_map",
    "parse_loss_spec",
    "pixelwise_loss",
    "resolve_base",
]

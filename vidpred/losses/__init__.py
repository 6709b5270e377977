"""Objectives for video prediction: pixel-wise and correspondence-wise losses.

`build_loss("corr-l1+vgg", flow="auto")` gives a module called as
`loss_fn(prediction, target) -> (loss, logs)`; the spec language is in `vidpred.losses.spec`,
the corr-wise wrapper in `vidpred.losses.corrwise`, the base losses in `vidpred.losses.base`.
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
from vidpred.losses.spec import (
    BASE_TERMS,
    LossSpec,
    LossTerm,
    build_base,
    build_loss,
    parse_loss_spec,
)

__all__ = [
    "BASE_TERMS",
    "DIRECTIONS",
    "CorrWiseLoss",
    "LPIPSLoss",
    "LossSpec",
    "LossTerm",
    "MapLoss",
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
]

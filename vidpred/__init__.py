"""vidpred: video prediction and frame interpolation with correspondence-wise losses.

The public Python API is what `__all__` names; every other module is internal and may change:

    from vidpred import CorrWiseLoss, load_model

    crit = CorrWiseLoss()                     # the paper's loss for your own training loop
    loss = crit(prediction, target)           # (B, C, H, W) in [0, 1] -> a scalar tensor

    lm = load_model("run/model.pt", device="cpu")   # a model `vidpred train` wrote
    next_frame = lm.model(context)            # (B, K, C, H, W) -> (B, C, H, W)

The names are imported on first use, so `import vidpred` (and with it `vidpred --version` and
every `from vidpred.errors import ...`) does not import torch: 2 ms instead of ~1.5 s.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it.
_PUBLIC = {
    "load_model": "vidpred.inference",
    "LoadedModel": "vidpred.inference",
    "CorrWiseLoss": "vidpred.losses",
    "PixelWiseLoss": "vidpred.losses",
    "build_loss": "vidpred.losses",
    "VidpredError": "vidpred.errors",
}

__all__ = ["__version__", *_PUBLIC]

if TYPE_CHECKING:  # what type checkers and editors see; at run time, `__getattr__` below
    from vidpred.errors import VidpredError as VidpredError
    from vidpred.inference import LoadedModel as LoadedModel
    from vidpred.inference import load_model as load_model
    from vidpred.losses import CorrWiseLoss as CorrWiseLoss
    from vidpred.losses import PixelWiseLoss as PixelWiseLoss
    from vidpred.losses import build_loss as build_loss


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'vidpred' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

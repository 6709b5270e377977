"""The loss-spec language shared by the CLI (`--loss`) and the library (`build_loss`,
`CorrWiseLoss(base="l1+vgg")`).

Grammar (case and spaces ignored):

    spec   := ["corr-"] term ("+" term)*
    term   := [weight "*"] name
    name   := l1 | mse | vgg | lpips | lpips-vgg        (aliases: l2 = mse, lpips-alex = lpips)
    weight := a positive number (0.5, 2, 1e-3)

The terms are a weighted sum of base losses (weight 1 when omitted). `corr-` applies to the whole
sum: `corr-l1+vgg` is the correspondence-wise wrapper around the base loss (l1 + vgg), one flow
and one warp per direction for all terms, as the authors' `PixelwiseLosses` inside `CorrWise`.
Mixing pixel-wise and corr-wise terms (`l1+corr-l1`) is not part of the language; `corr-` may
appear only once, at the start.

Units: vidpred's images are in [0, 1], the authors' in [-1, 1], so their L1 is 2x ours (their MSE
4x) while `vgg` is the same number in both (it scales its input to [-1, 1] itself). Their
`PixelwiseLosses` *averaged* its terms, so their "L1 + VGG", (2 * l1 + vgg) / 2, is `l1+0.5*vgg`
here and their corr-wise one `corr-l1+0.5*vgg` (tests/test_losses.py checks this against a
direct [-1, 1] computation). One term alone only changes by a constant, which Adam's updates
are indifferent to; what matters is the ratio between terms.

`str(parse_loss_spec(s))` is the canonical form: lower case, aliases resolved, weights of 1
dropped, terms in the order given; parsing it gives the same `LossSpec` back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from vidpred.errors import SpecError
from vidpred.losses.base import LPIPSLoss, MapLoss, VGGFeatureLoss, WeightedSum, l1_map, mse_map

BASE_TERMS = ("l1", "mse", "vgg", "lpips", "lpips-vgg")
ALIASES = {"l2": "mse", "lpips-alex": "lpips"}
# Which entry of vidpred.weights each term needs (None: no pretrained network).
TERM_WEIGHTS = {
    "l1": None,
    "mse": None,
    "vgg": "vgg19",
    "lpips": "lpips-alex",
    "lpips-vgg": "lpips-vgg",
}
CORR_PREFIX = "corr-"

_HELP = (
    "a spec is [corr-]TERM[+TERM...] with TERM = [WEIGHT*]NAME and NAME one of "
    f"{', '.join(BASE_TERMS)}; e.g. l1, corr-l1, corr-l1+vgg, l1+0.5*lpips"
)
# "+" separates terms except inside an exponent such as 1e+3.
_TERM_SPLIT = re.compile(r"(?<![0-9][eE])\+")
_TERM = re.compile(r"(?:(?P<weight>[^*]+)\*)?(?P<name>[a-z0-9-]+)")


@dataclass(frozen=True)
class LossTerm:
    name: str  # one of BASE_TERMS
    weight: float = 1.0

    def __str__(self) -> str:
        if self.weight == 1.0:
            return self.name
        text = repr(self.weight)  # shortest text that reads back as the same float
        return f"{text.removesuffix('.0')}*{self.name}"


@dataclass(frozen=True)
class LossSpec:
    terms: tuple[LossTerm, ...]
    corrwise: bool = False

    def __str__(self) -> str:
        return (CORR_PREFIX if self.corrwise else "") + "+".join(str(t) for t in self.terms)

    @property
    def weights_needed(self) -> tuple[str, ...]:
        """Entries of vidpred.weights the base terms need (flow weights not included)."""
        return tuple(w for t in self.terms if (w := TERM_WEIGHTS[t.name]) is not None)


def _bad(text: str, problem: str) -> SpecError:
    return SpecError(f"bad loss spec {text!r}: {problem}; {_HELP}")


def parse_loss_spec(text: str) -> LossSpec:
    """Parse a spec (grammar in the module docstring); `SpecError` lists what is valid."""
    if not isinstance(text, str):
        raise _bad(str(text), "not a string")
    body = "".join(text.split()).lower()
    corrwise = body.startswith(CORR_PREFIX)
    if corrwise:
        body = body[len(CORR_PREFIX) :]
    if CORR_PREFIX in body:
        raise _bad(text, "corr- may appear once, at the start, and applies to the whole sum")
    if not body:
        raise _bad(text, "no terms")
    terms: list[LossTerm] = []
    for raw in _TERM_SPLIT.split(body):
        match = _TERM.fullmatch(raw)
        if not match:
            raise _bad(text, f"cannot read term {raw!r}" if raw else "empty term")
        name = ALIASES.get(match["name"], match["name"])
        if name not in BASE_TERMS:
            raise _bad(text, f"unknown loss {match['name']!r}")
        weight = 1.0
        if match["weight"] is not None:
            try:
                weight = float(match["weight"])
            except ValueError:
                raise _bad(text, f"weight {match['weight']!r} is not a number") from None
            if not (math.isfinite(weight) and weight > 0):
                raise _bad(text, f"weight of {name} must be a positive number, got {weight}")
        if any(t.name == name for t in terms):
            raise _bad(text, f"{name} appears twice; give it one weight")
        terms.append(LossTerm(name, weight))
    return LossSpec(tuple(terms), corrwise)


def build_base(spec: LossSpec, *, pretrained: bool = True) -> WeightedSum:
    """The (weighted) base loss of `spec`, corr- or not. `pretrained=False`: random networks."""
    modules = {
        "l1": lambda: MapLoss(l1_map),
        "mse": lambda: MapLoss(mse_map),
        "vgg": lambda: VGGFeatureLoss(pretrained=pretrained),
        "lpips": lambda: LPIPSLoss(net="alex", pretrained=pretrained),
        "lpips-vgg": lambda: LPIPSLoss(net="vgg", pretrained=pretrained),
    }
    return WeightedSum(terms=[(t.name, t.weight, modules[t.name]()) for t in spec.terms])


def resolve_base(base: str | LossSpec | nn.Module | Callable) -> nn.Module:
    """A base loss as a module, from a pixel-wise spec ("l1", "l1+0.5*vgg"; pretrained networks
    from the weights cache), a module, or a function `(x, y) -> map` such as `l1_map`."""
    if isinstance(base, str):
        base = parse_loss_spec(base)
    if isinstance(base, LossSpec):
        if base.corrwise:
            raise SpecError(
                f"base loss {str(base)!r} must be pixel-wise: give "
                f"CorrWiseLoss(base={str(base).removeprefix(CORR_PREFIX)!r}) for the corr-wise loss"
            )
        return build_base(base)
    if isinstance(base, nn.Module):
        return base
    if callable(base):
        return MapLoss(base)
    raise TypeError(f"base must be a loss spec, a module or a function, got {type(base).__name__}")

"""The loss-spec language shared by the CLI (`--loss`) and the library (`build_loss`,
`CorrWiseLoss(base="l1+vgg")`).

Grammar (case and spaces ignored):

    spec   := terms | [terms "+"] "corr-" terms
    terms  := term ("+" term)*
    term   := [weight "*"] name
    name   := l1 | mse | vgg | lpips | lpips-vgg        (aliases: l2 = mse, lpips-alex = lpips)
    weight := a positive number (0.5, 2, 1e-3)

The terms are a weighted sum of base losses (weight 1 when omitted). `corr-` applies to the whole
sum after it: `corr-l1+vgg` is the correspondence-wise wrapper around the base loss (l1 + vgg),
one flow and one warp per direction for all terms, as the authors' `PixelwiseLosses` inside
`CorrWise`. Terms before `corr-` are pixel-wise and added to it: `l1+corr-l1` is pixel-wise l1
plus corr-wise l1 (a pixel-wise term sees where things are, which a corr-wise one forgives:
bench/loss_ranking.py). `corr-` appears at most once.

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
    "a spec is [TERMS+][corr-]TERMS, TERMS = TERM[+TERM...], TERM = [WEIGHT*]NAME, NAME one of "
    f"{', '.join(BASE_TERMS)}; e.g. l1, corr-l1, corr-l1+vgg, l1+0.5*lpips, l1+corr-l1"
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
    """`terms`, corr-wise or not, plus `pixel_terms`: pixel-wise terms added to corr-wise ones
    (`l1+corr-l1`: `pixel_terms` (l1,), `terms` (l1,), `corrwise`)."""

    terms: tuple[LossTerm, ...]
    corrwise: bool = False
    pixel_terms: tuple[LossTerm, ...] = ()

    def __post_init__(self) -> None:
        if self.pixel_terms and not self.corrwise:
            raise ValueError("pixel_terms are for corr-wise specs; put them in terms")

    def __str__(self) -> str:
        pixel = "".join(f"{t}+" for t in self.pixel_terms)
        return pixel + (CORR_PREFIX if self.corrwise else "") + "+".join(map(str, self.terms))

    @property
    def all_terms(self) -> tuple[LossTerm, ...]:
        """Every term, pixel-wise ones first."""
        return self.pixel_terms + self.terms

    @property
    def pixel_part(self) -> LossSpec | None:
        """The pixel-wise terms added to a corr-wise sum, as a spec of their own."""
        return LossSpec(self.pixel_terms) if self.pixel_terms else None

    @property
    def weights_needed(self) -> tuple[str, ...]:
        """Entries of vidpred.weights the base terms need (flow weights not included)."""
        return tuple(w for t in self.all_terms if (w := TERM_WEIGHTS[t.name]) is not None)


def _bad(text: str, problem: str) -> SpecError:
    return SpecError(f"bad loss spec {text!r}: {problem}; {_HELP}")


def parse_loss_spec(text: str) -> LossSpec:
    """Parse a spec (grammar in the module docstring); `SpecError` lists what is valid."""
    if not isinstance(text, str):
        raise _bad(str(text), "not a string")
    body = "".join(text.split()).lower()
    if body.count(CORR_PREFIX) > 1:
        raise _bad(text, "corr- may appear once; it applies to every term after it")
    pixel_text, corr, body = body.rpartition(CORR_PREFIX)
    if corr and pixel_text and not pixel_text.endswith("+"):
        raise _bad(text, f"cannot read term {(pixel_text + corr).split('+')[-1]!r}")
    pixel = _parse_terms(text, pixel_text.removesuffix("+"), corrwise=False) if pixel_text else ()
    return LossSpec(_parse_terms(text, body, corrwise=bool(corr)), bool(corr), pixel)


def _parse_terms(text: str, body: str, *, corrwise: bool) -> tuple[LossTerm, ...]:
    """The terms of `body` ("l1+0.5*vgg"), one part of the spec `text`."""
    if not body:
        raise _bad(text, "no terms" if not text.strip() or corrwise else "empty term")
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
            problem = f"{name} appears twice; give it one weight"
            if corrwise:
                problem += f" (corr- applies to every term after it: {name}+corr-... adds {name})"
            raise _bad(text, problem)
        terms.append(LossTerm(name, weight))
    return tuple(terms)


def build_base(spec: LossSpec, *, pretrained: bool = True) -> WeightedSum:
    """The (weighted) base loss of `spec.terms`, corr- or not (the pixel-wise terms beside a
    corr-wise sum are `build_base(spec.pixel_part)`). `pretrained=False`: random networks."""
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
            hint = ""
            if not base.pixel_terms:  # `corr-l1` -> CorrWiseLoss(base="l1")
                inner = str(base).removeprefix(CORR_PREFIX)
                hint = f": give CorrWiseLoss(base={inner!r}) for the corr-wise loss"
            raise SpecError(f"base loss {str(base)!r} must be pixel-wise{hint}")
        return build_base(base)
    if isinstance(base, nn.Module):
        return base
    if callable(base):
        return MapLoss(base)
    raise TypeError(f"base must be a loss spec, a module or a function, got {type(base).__name__}")

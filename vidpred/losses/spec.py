"""The loss-spec language shared by the CLI (`--loss`) and the library (`build_loss`).

Grammar (case and spaces ignored):

    spec   := ["corr-"] term ("+" term)*
    term   := [weight "*"] name
    name   := l1 | mse | vgg | lpips | lpips-vgg        (aliases: l2 = mse, lpips-alex = lpips)
    weight := a positive number (0.5, 2, 1e-3)

The terms are a weighted sum of base losses (weight 1 when omitted). `corr-` applies to the whole
sum: `corr-l1+vgg` is the correspondence-wise wrapper around the base loss (l1 + vgg), one flow
and one warp per direction for all terms, as the authors' `PixelwiseLosses` inside `CorrWise`.
Mixing pixel-wise and corr-wise terms (`l1+corr-l1`) is not part of the language; `corr-` may
appear only once, at the start. Note the authors *averaged* their terms; their "L1 + VGG" is
`corr-0.5*l1+0.5*vgg` here (a constant factor, which Adam's step size is indifferent to).

`str(parse_loss_spec(s))` is the canonical form: lower case, aliases resolved, weights of 1
dropped, terms in the order given; parsing it gives the same `LossSpec` back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from vidpred.errors import SpecError
from vidpred.flow.backends import FlowEstimator, build_flow
from vidpred.losses.base import LPIPSLoss, MapLoss, VGGFeatureLoss, WeightedSum, l1_map, mse_map
from vidpred.losses.corrwise import CorrWiseLoss, PixelWiseLoss

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
) -> PixelWiseLoss | CorrWiseLoss:
    """The objective for `spec`: a module called as `loss_fn(prediction, target) -> (loss, logs)`.

    `flow` (a backend name or an estimator) and the options after it apply to corr- specs only;
    the flow backend is built only for those. `loss_fn.flow_backend` names the backend chosen
    (None for pixel-wise specs) so a run can record what `auto` became. Missing pretrained
    weights raise `WeightsMissingError` naming the command that fetches them; nothing downloads.
    """
    if isinstance(spec, str):
        spec = parse_loss_spec(spec)
    base = build_base(spec, pretrained=pretrained)  # before the flow: fail fast on weights
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
        loss_fn = PixelWiseLoss(base=base)
    else:
        loss_fn = CorrWiseLoss(
            base=base,
            flow=build_flow(flow) if isinstance(flow, str) else flow,
            eps=eps,
            directions=directions,
            occlusion_mask=occlusion_mask,
            flow_mag_weight=flow_mag_weight,
            detach_flow=detach_flow,
        )
    return loss_fn.to(device) if device is not None else loss_fn

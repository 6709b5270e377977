"""The zero-parameter baselines every model is measured against: the one owner of their
predictions, used by `vidpred eval` (`--baseline`) and by training validation (the reference
columns of metrics.csv), so the two can never disagree.

A task's windows (`split_window`) and its baselines:
- predict: the first `context` frames -> the `horizon` frames after them. `copy-last` repeats
  the last context frame; `linear` carries it on along its DIS flow (constant velocity).
- interpolate: a window of three frames (a, middle, b): the two neighbours -> the middle one.
  `blend` averages the neighbours; `flow-mid` warps each halfway along its flow to the other
  and averages the two (`vidpred.flow.motion.flow_midpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from vidpred.errors import InputError
from vidpred.flow.backends import FlowEstimator
from vidpred.flow.motion import extrapolate_linear, flow_midpoint

#: task -> {name: what it predicts}, in the order the CLI lists them.
BASELINES: dict[str, dict[str, str]] = {
    "predict": {
        "copy-last": "repeat the last context frame",
        "linear": "extrapolate the last context frame along DIS flow (constant velocity)",
    },
    "interpolate": {
        "blend": "average of the two neighbours",
        "flow-mid": "both neighbours warped halfway along their DIS flows, averaged",
    },
}
#: Baselines that measure motion, and so need a flow estimator.
NEEDS_FLOW = frozenset({"linear", "flow-mid"})


def baseline_task(name: str) -> str:
    """The task (`predict` or `interpolate`) a baseline belongs to; InputError if unknown."""
    for task, names in BASELINES.items():
        if name in names:
            return task
    known = ", ".join(n for names in BASELINES.values() for n in names)
    raise InputError(f"--baseline {name}: unknown; choose from {known}")


def check_baselines(names: Sequence[str], task: str | None) -> str:
    """The one task shared by `names` and (when given) the models' `task`; InputError naming
    the baseline that does not fit (e.g. `blend` beside a prediction model)."""
    for name in names:
        own = baseline_task(name)
        if task is not None and own != task:
            fits = ", ".join(BASELINES[task])
            raise InputError(
                f"--baseline {name}: a baseline for {own} models, and this evaluation scores "
                f"{task} (use {fits})"
            )
        task = own
    return task or "predict"


def split_window(frames: Tensor, *, task: str, context: int) -> tuple[Tensor, Tensor]:
    """(inputs, targets) of a window `(B, T, C, H, W)`: the first `context` frames and the rest,
    or, to interpolate, the two end frames of a 3-frame window and the middle one."""
    if task == "interpolate":
        return frames[:, 0::2], frames[:, 1:2]  # (B, 2, C, H, W), (B, 1, C, H, W)
    return frames[:, :context], frames[:, context:]


def baseline_frames(
    name: str, inputs: Tensor, horizon: int = 1, *, flow: FlowEstimator | None = None
) -> Tensor:
    """`(B, horizon, C, H, W)` predicted by the baseline `name` from `inputs` `(B, K, C, H, W)`
    (the context to predict from, or the two neighbours to interpolate between; horizon 1).
    `linear` and `flow-mid` need `flow` (eval and training use DIS)."""
    if inputs.ndim != 5:
        raise ValueError(f"inputs must be (B, K, C, H, W); got {tuple(inputs.shape)}")
    task = baseline_task(name)
    if task == "interpolate" and (inputs.shape[1] != 2 or horizon != 1):
        raise ValueError(
            f"{name} takes the two neighbours (B, 2, C, H, W) and predicts one frame; got "
            f"{tuple(inputs.shape)}, horizon {horizon}"
        )
    if name in NEEDS_FLOW and flow is None:
        raise ValueError(f"the {name} baseline needs a flow estimator")
    if name == "copy-last":
        return inputs[:, -1:].expand(-1, horizon, -1, -1, -1)
    if name == "linear":
        return extrapolate_linear(inputs, horizon, flow=flow)
    if name == "blend":
        return inputs.mean(dim=1, keepdim=True)
    return flow_midpoint(inputs[:, 0], inputs[:, 1], 0.5, flow=flow)[:, None]  # flow-mid

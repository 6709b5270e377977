"""Optical flow and the geometry around it: flow backends (DIS, RAFT), backward warping, forward
splatting, the forward-backward occlusion check, the stride padder, and motion from flow
(constant-velocity extrapolation by warp or splat, the change of appearance that repeats, the flow
midpoint), kept apart from the models that use them (as torchvision keeps `optical_flow`)."""

from vidpred.flow.backends import (
    FLOW_BACKENDS,
    DISFlow,
    FlowEstimator,
    RAFTFlow,
    build_flow,
    estimate_flow,
    resolve_flow_backend,
)
from vidpred.flow.motion import (
    backward_flow,
    blend_midpoint,
    carry_forward,
    extrapolate_linear,
    flow_midpoint,
    pair_flows,
    repeated_change,
)
from vidpred.flow.padding import PAD_MODES, InputPadder
from vidpred.flow.warping import (
    PADDING_MODES,
    coords_grid,
    fb_consistency_mask,
    flow_to_sampling_grid,
    splat,
    warp,
)

__all__ = [
    "FLOW_BACKENDS",
    "PADDING_MODES",
    "PAD_MODES",
    "DISFlow",
    "FlowEstimator",
    "InputPadder",
    "RAFTFlow",
    "backward_flow",
    "blend_midpoint",
    "build_flow",
    "carry_forward",
    "coords_grid",
    "estimate_flow",
    "extrapolate_linear",
    "fb_consistency_mask",
    "flow_midpoint",
    "flow_to_sampling_grid",
    "pair_flows",
    "repeated_change",
    "resolve_flow_backend",
    "splat",
    "warp",
]

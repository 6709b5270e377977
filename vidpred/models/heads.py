"""Output heads: how the U-Net's last feature map becomes a frame.

- `pixels`: a bounded RGB correction to a base frame (the last context frame to predict, the mean
  of the two frames to interpolate). Untrained it returns the base: copy-last / blend.
- `flow`: motion first (Deep Voxel Flow, SDC-Net): the frame is *sampled* from the context along
  the flow the backend measured, and the network learns only what that motion gets wrong: a flow
  correction, blend weights (towards the unmoved last frame where the motion is wrong; towards
  the forward-splatted frame where outlines must move; towards the change of appearance carried
  on, to predict) and an RGB residual. Untrained it returns exactly the zero-parameter baselines
  of `vidpred.flow.motion` (`linear`, `flow-mid`), so training starts where the best heuristic is
  (issue 11). Sampling keeps predictions sharp, which is what correspondence-wise losses reward.

The compose functions are pure: network output + frames + flows -> frame, in [0, 1].
"""

from __future__ import annotations

from torch import Tensor

from vidpred.flow.warping import warp

HEADS: tuple[str, ...] = ("pixels", "flow")
# Flow enters and leaves the network in units of this many pixels: O(1) values for the motion
# seen at working sizes, and a correction of one unit is a sizeable step.
FLOW_UNIT = 4.0
# Differences of frames (the motion's fit error: the previous frame moved along it minus the
# last; the forward splat minus the warp) enter the network times this: their typical 0.01-0.1
# become O(0.1-1) like the other inputs.
FIT_GAIN = 4.0


def out_channels(head: str, task: str, channels: int, *, trend: bool = True) -> int:
    """Channels of the last conv: C (pixels); flow + two blend weights (three with the appearance
    `trend`) + C to predict; two flows + weight + C to interpolate."""
    if head == "pixels":
        return channels
    return (2 + 2 + int(trend) + channels) if task == "predict" else (2 + 2 + 1 + channels)


def extra_in_channels(head: str, task: str, channels: int) -> int:
    """Channels the flow head adds to the stacked frames: the base frame (C), the motion (2 or 4),
    the time (1: the step k to predict, t to interpolate) and, to predict, the motion's fit
    error (C) and the forward splat's difference from the warp (C)."""
    if head == "pixels":
        return 0
    if task == "predict":
        return channels + 2 + 1 + channels + channels
    return channels + 4 + 1


def clamp_straight_through(x: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Clamp to [low, high] in the forward pass, identity in the backward pass.

    A plain clamp has zero gradient wherever the pre-clamp value overshoots, so a pixel that
    undershoots 0 where the target later turns bright (a digit moving onto black background)
    would never be corrected. Passing the gradient straight through keeps every pixel trainable;
    the ``tanh`` bound on what is added keeps the hidden pre-clamp value close, so it cannot
    drift far while invisible.
    """
    return x + (x.clamp(low, high) - x).detach()


def compose_pixels(out: Tensor, base: Tensor) -> Tensor:
    """`base + tanh(out)`, clamped to [0, 1]: `(B, C, H, W)` each."""
    return clamp_straight_through(base + out.tanh())


def compose_prediction(
    out: Tensor, last: Tensor, motion: Tensor, carried: Tensor, trend: Tensor | None
) -> Tensor:
    """The next frame from the flow head's output `(B, 2 + 3 + C, H, W)` (`2 + 2 + C` without a
    `trend`).

    `last` `(B, C, H, W)` is sampled along `motion + correction` (`motion` `(B, 2, H, W)` is k
    times the backward flow for step k), then blended towards two alternatives by weights in
    [0, 1]: the unwarped `last` (where sampling along the motion is wrong: occlusions, a motion
    that stopped) and `carried`, `last` forward-splatted along the motion
    (`vidpred.flow.motion.carry_forward`: outlines move with their objects); plus, by a third
    weight in [0, 1], `trend` `(B, C, H, W)`: the change of appearance measured along the motion,
    carried on (a fade, an exposure drift; models saved before it have none); plus an RGB
    residual. With `out == 0` this is `warp(last, motion)`: the `linear` baseline, exactly.
    """
    correction = out[:, :2] * FLOW_UNIT  # (B, 2, H, W) pixels
    to_last = clamp_straight_through(out[:, 2:3].tanh())  # (B, 1, H, W), 0 = follow the motion
    to_carried = clamp_straight_through(out[:, 3:4].tanh())  # (B, 1, H, W)
    warped = warp(last, motion + correction)
    base = warped + to_last * (last - warped) + to_carried * (carried - warped)
    if trend is None:
        return compose_pixels(out[:, 4:], base)
    to_trend = clamp_straight_through(out[:, 4:5].tanh())  # (B, 1, H, W)
    return compose_pixels(out[:, 5:], base + to_trend * trend)


def compose_interpolation(
    out: Tensor, a: Tensor, b: Tensor, t: Tensor, flow_ab: Tensor, flow_ba: Tensor
) -> Tensor:
    """The frame at time `t` `(B, 1, 1, 1)` between `a` and `b` from the flow head's output
    `(B, 2 + 2 + 1 + C, H, W)`: each neighbour sampled along its scaled flow plus a correction,
    blended by a weight that starts at t, plus an RGB residual. With `out == 0` this is
    `vidpred.flow.motion.blend_midpoint`: the `flow-mid` baseline, exactly.
    """
    from_a = warp(a, t * flow_ba + out[:, 0:2] * FLOW_UNIT)
    from_b = warp(b, (1 - t) * flow_ab + out[:, 2:4] * FLOW_UNIT)
    weight = clamp_straight_through(t + out[:, 4:5].tanh())  # (B, 1, H, W), share of b
    base = (1 - weight) * from_a + weight * from_b
    return compose_pixels(out[:, 5:], base)

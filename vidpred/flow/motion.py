"""Motion from flow: the zero-parameter predictions that the flow heads start from.

- `extrapolate_linear`: constant velocity. With `back` the flow from the last frame to the one
  before (`last(p) ~ prev(p + back(p))`), frame t+k is `last(p + k back(p))`: the last frame
  carried on along its own motion. The flow is sampled at p, not at the point the content came
  from: the usual first-order approximation (exact for a uniform motion).
- `carry_forward`: the same constant velocity by forward splatting: each pixel of the last frame
  moves along the negation of its backward flow, so outlines move with their objects (a warp
  reads the motion where content lands, so a moving object's outline stays where it was). Holes
  are filled from another prediction. The flow head offers it to its network as an alternative.
- `repeated_change`: the change of appearance the motion leaves unexplained on the last step,
  kept where the step before changed the same way (a fade, not sensor noise). The flow head
  carries it on as a third alternative.
- `flow_midpoint`: the frame at time t in (0, 1) between a and b, each neighbour warped along its
  flow to the other (scaled to t) and the two averaged, weighted by closeness in time.

These are the `linear` and `flow-mid` baselines of `vidpred eval`, and exactly what an untrained
flow-head predictor or interpolator returns (its corrections start at zero), so the two can never
drift apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vidpred.flow.backends import FlowEstimator
from vidpred.flow.warping import splat, warp


def backward_flow(context: Tensor, flow: FlowEstimator) -> Tensor:
    """Flow `(B, 2, H, W)` from the last frame of `context` `(B, T>=2, C, H, W)` to the one before,
    detached (no gradient reaches the frames through it)."""
    if context.ndim != 5 or context.shape[1] < 2:
        raise ValueError(f"context must be (B, T>=2, C, H, W); got {tuple(context.shape)}")
    return flow.estimate_flow(context[:, -1].detach(), context[:, -2].detach())


def extrapolate_linear(context: Tensor, horizon: int, *, flow: FlowEstimator) -> Tensor:
    """`(B, T>=2, C, H, W)` -> `(B, horizon, C, H, W)`: the last frame warped by k times its
    backward flow for k = 1..horizon (constant velocity, one resampling per frame)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    last, back = context[:, -1], backward_flow(context, flow)
    return torch.stack([warp(last, k * back) for k in range(1, horizon + 1)], dim=1)


def carry_forward(last: Tensor, back: Tensor, fill: Tensor) -> Tensor:
    """`last` `(B, C, H, W)` splatted along `-back` (`back` `(B, 2, H, W)` the backward flow, times
    k for step k); pixels that at most half a source pixel lands on take `fill` `(B, C, H, W)`."""
    moved, weight = splat(last, -back)
    return torch.where(weight > 0.5, moved, fill)


def repeated_change(frames: Tensor, motion: Tensor, moved: Tensor) -> Tensor:
    """The last frame of `frames` `(B, T, C, H, W)` minus `moved` (the one before, moved along
    `motion`, the backward flow `(B, 2, H, W)`), kept where the step before changed the same way:
    gated per pixel by the local correlation (5x5) of the two changes, both aligned at the last
    frame under constant velocity, clamped to [0, 1]. Sensor noise on a still frame gives changes
    that correlate at -0.5 (gate 0); a fade, an exposure drift or a growing blur repeats (gate near
    1). Zero with fewer than 3 frames. `(B, C, H, W)`."""
    T, C = frames.shape[1:3]
    change = frames[:, -1] - moved
    if T < 3:
        return torch.zeros_like(change)
    before = moved - warp(frames[:, -3], 2 * motion)  # (B, C, H, W)
    agree = F.avg_pool2d((before * change).sum(1, keepdim=True), 5, 1, 2, count_include_pad=False)
    energy = F.avg_pool2d(
        (before.square() + change.square()).sum(1, keepdim=True), 5, 1, 2, count_include_pad=False
    )
    gate = (agree / (energy / 2 + C / 255**2)).clamp(0, 1)  # (B, 1, H, W)
    return gate * change


def _times(t: float | Tensor, like: Tensor) -> Tensor:
    """`t` as `(B, 1, 1, 1)` on `like`'s device and dtype; each value must lie in [0, 1]."""
    B = like.shape[0]
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(B)
    if t.shape != (B,):
        raise ValueError(f"t must be a number or shaped (B,) = ({B},); got {tuple(t.shape)}")
    if ((t < 0) | (t > 1)).any():
        raise ValueError(f"t must lie in [0, 1]; got {t.tolist()}")
    return t.view(B, 1, 1, 1)


def pair_flows(a: Tensor, b: Tensor, flow: FlowEstimator) -> tuple[Tensor, Tensor]:
    """`(flow a->b, flow b->a)`, each `(B, 2, H, W)`, in one batched call, detached."""
    B = a.shape[0]
    both = flow.estimate_flow(torch.cat((a, b)).detach(), torch.cat((b, a)).detach())
    return both[:B], both[B:]  # (B, 2, H, W) each


def blend_midpoint(
    a: Tensor, b: Tensor, t: float | Tensor, flow_ab: Tensor, flow_ba: Tensor
) -> Tensor:
    """The flow midpoint from precomputed flows (see `flow_midpoint`)."""
    t = _times(t, a)
    # Content at p at time t came from a at p + t f_ba(p) and goes to b at p + (1 - t) f_ab(p)
    # (constant velocity, flows sampled at p: the same approximation as `extrapolate_linear`).
    from_a = warp(a, t * flow_ba)
    from_b = warp(b, (1 - t) * flow_ab)
    return (1 - t) * from_a + t * from_b


def flow_midpoint(a: Tensor, b: Tensor, t: float | Tensor = 0.5, *, flow: FlowEstimator) -> Tensor:
    """The frame at time `t` between `a` (t = 0) and `b` (t = 1), both `(B, C, H, W)`: a warped
    along t times the flow b->a, b along (1 - t) times the flow a->b, blended (1 - t) : t.
    `t` is a number or a `(B,)` tensor. At t = 0.5 it is the plain average of the two warps."""
    if a.ndim != 4 or a.shape != b.shape:
        raise ValueError(
            f"a and b must be (B, C, H, W) of one shape; got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    flow_ab, flow_ba = pair_flows(a, b, flow)
    return blend_midpoint(a, b, t, flow_ab, flow_ba)

"""vidpred.flow.motion: constant-velocity extrapolation and the flow midpoint, checked exactly with
a stub flow of known value and end to end with DIS on a textured image moving at constant speed."""

import pytest
import torch
from conftest import textured

from vidpred.flow import DISFlow, FlowEstimator, warp
from vidpred.flow.motion import (
    backward_flow,
    blend_midpoint,
    extrapolate_linear,
    flow_midpoint,
    pair_flows,
)


class UniformFlow(FlowEstimator):
    """Returns `scale * (dx, dy)` everywhere, `scale` +1 for the pair's first call order."""

    name = "stub"

    def __init__(self, dx: float, dy: float) -> None:
        super().__init__()
        self.dx, self.dy = dx, dy
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _estimate(self, reference, other):
        self.calls.append((reference, other))
        B, _, H, W = reference.shape
        return reference.new_tensor([self.dx, self.dy]).view(1, 2, 1, 1).expand(B, 2, H, W)


def test_extrapolate_linear_warps_the_last_frame_by_k_times_the_backward_flow():
    context = torch.rand(2, 3, 3, 16, 20)
    stub = UniformFlow(-1.5, 0.5)
    out = extrapolate_linear(context, 3, flow=stub)
    assert out.shape == (2, 3, 3, 16, 20)
    ref, other = stub.calls[0]
    assert torch.equal(ref, context[:, -1]) and torch.equal(other, context[:, -2])
    back = torch.tensor([-1.5, 0.5]).view(1, 2, 1, 1).expand(2, 2, 16, 20)
    for k in range(3):
        assert torch.allclose(out[:, k], warp(context[:, -1], (k + 1) * back), atol=1e-6)


def test_linear_extrapolation_continues_a_constant_motion():
    frames = torch.cat([textured(48, 64, dx=2.0 * i) for i in range(4)])[None]  # (1, 4, 3, H, W)
    pred = extrapolate_linear(frames[:, :2], 2, flow=DISFlow())  # frames 2 and 3
    inner = (slice(None), slice(None), slice(None), slice(8, -8), slice(8, -8))
    err = (pred - frames[:, 2:])[inner].abs().mean()
    copy_err = (frames[:, 1:2] - frames[:, 2:])[inner].abs().mean()
    assert err < 0.25 * copy_err


def test_backward_flow_is_detached():
    context = torch.rand(1, 2, 3, 16, 16, requires_grad=True)
    assert not backward_flow(context, UniformFlow(1, 0)).requires_grad


@pytest.mark.parametrize("t", [0.5, 0.25])
def test_flow_midpoint_warps_each_neighbour_towards_t(t):
    a, b = torch.rand(2, 1, 3, 12, 12).unbind(0)
    stub = UniformFlow(2.0, -1.0)
    mid = flow_midpoint(a, b, t, flow=stub)
    flow = torch.tensor([2.0, -1.0]).view(1, 2, 1, 1).expand(1, 2, 12, 12)
    expected = (1 - t) * warp(a, t * flow) + t * warp(b, (1 - t) * flow)
    assert torch.allclose(mid, expected, atol=1e-6)


def test_flow_midpoint_lands_between_two_shifted_frames():
    a, mid, b = (textured(48, 64, dx=dx) for dx in (0.0, 2.0, 4.0))
    out = flow_midpoint(a, b, flow=DISFlow())
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    blend = (a + b) / 2
    assert (out - mid)[inner].abs().mean() < 0.3 * (blend - mid)[inner].abs().mean()


def test_pair_flows_and_per_sample_times():
    a, b = torch.rand(2, 2, 3, 8, 8).unbind(0)
    f_ab, f_ba = pair_flows(a, b, UniformFlow(1.0, 0.0))
    assert f_ab.shape == f_ba.shape == (2, 2, 8, 8)
    out = blend_midpoint(a, b, torch.tensor([0.0, 1.0]), f_ab, f_ba)
    assert torch.allclose(out[0], a[0], atol=1e-6) and torch.allclose(out[1], b[1], atol=1e-6)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="T>=2"):
        backward_flow(torch.rand(1, 1, 3, 8, 8), UniformFlow(0, 0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        flow_midpoint(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), 1.5, flow=UniformFlow(0, 0))
    with pytest.raises(ValueError, match="horizon"):
        extrapolate_linear(torch.rand(1, 2, 3, 8, 8), 0, flow=UniformFlow(0, 0))

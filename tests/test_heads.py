"""vidpred.models.heads and the flow head of UNetPredictor: untrained it is exactly the linear /
flow-mid baseline; it learns motion; checkpoints of both heads load; old ones load as pixels."""

import pytest
import torch
from conftest import textured

from vidpred.flow import (
    DISFlow,
    carry_forward,
    extrapolate_linear,
    flow_midpoint,
    repeated_change,
    warp,
)
from vidpred.models import ModelConfig, build_model, model_config_for, rollout
from vidpred.models.heads import FLOW_UNIT, compose_prediction

TINY = dict(base_width=8, channel_mults=(1, 2, 2, 2))


def moving_texture(T: int, H: int = 32, W: int = 32, *, dx: float, dy: float, seed: int = 3):
    """`(1, T, 3, H, W)`: a texture translating by (dx, dy) per frame."""
    return torch.cat([textured(H, W, dx=dx * t, dy=dy * t, seed=seed) for t in range(T)])[None]


def test_untrained_flow_predictor_is_the_linear_baseline_at_every_step():
    frames = torch.cat(
        [moving_texture(3, 64, 64, dx=1.7, dy=-0.6), moving_texture(3, 64, 64, dx=-2, dy=1)]
    )
    model = build_model(model_config_for("unet-s", context=3, head="flow", flow="dis")).eval()
    with torch.no_grad():
        out = rollout(model, frames, 3)
    torch.testing.assert_close(
        out, extrapolate_linear(frames, 3, flow=DISFlow()), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("t", [0.5, 0.25])
def test_untrained_flow_interpolator_is_the_flow_midpoint(t):
    frames = moving_texture(3, 64, 64, dx=2.5, dy=1.0)[:, [0, 2]]
    cfg = model_config_for("unet-s", task="interpolate", head="flow", flow="dis")
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model(frames, time=t)
    expected = flow_midpoint(frames[:, 0], frames[:, 1], t, flow=DISFlow())
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_flow_head_learns_a_constant_motion_and_keeps_its_correction_small():
    torch.manual_seed(0)
    model = build_model(model_config_for("unet-s", context=2, head="flow", flow="dis", **TINY))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # A textured square moving at constant velocity over a static textured background.
    background = textured(32, 32, seed=7)
    windows = []
    for seed, (dx, dy) in enumerate([(2, 1), (-1, 2), (1.5, -1.5), (-2, -1)]):
        fg = moving_texture(3, dx=dx, dy=dy, seed=seed)[0]  # (3, 3, H, W)
        mask = torch.zeros(3, 1, 32, 32)
        for t in range(3):
            y, x = 10 + round(dy * t), 10 + round(dx * t)
            mask[t, :, y : y + 10, x : x + 10] = 1
        windows.append(mask * fg + (1 - mask) * background)
    data = torch.stack(windows)  # (4, 3, 3, H, W)
    context, target = data[:, :2], data[:, 2]
    copy_err = (context[:, -1] - target).abs().mean()
    for _ in range(100):
        loss = (model(context) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    captured = {}
    handle = model.head.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    with torch.no_grad():
        pred = model(context)
    handle.remove()
    assert (pred - target).abs().mean() < 0.5 * copy_err
    # What does the work is the measured motion: the learned correction stays small.
    correction = captured["out"][:, :2] * FLOW_UNIT  # (B, 2, H, W) pixels
    assert correction.abs().mean() < 0.5  # well under the ~2 px a frame it rides on


def test_compose_prediction_with_zero_output_is_the_warp():
    last, motion, carried = torch.rand(2, 3, 8, 8), torch.randn(2, 2, 8, 8), torch.rand(2, 3, 8, 8)
    trend = torch.randn(2, 3, 8, 8) * 0.1
    out = compose_prediction(torch.zeros(2, 8, 8, 8), last, motion, carried, trend)
    torch.testing.assert_close(out, warp(last, motion), atol=0, rtol=0)
    out = compose_prediction(torch.zeros(2, 7, 8, 8), last, motion, carried, None)  # no trend
    torch.testing.assert_close(out, warp(last, motion), atol=0, rtol=0)


def test_compose_prediction_blend_weights_reach_each_alternative():
    last, motion, carried = torch.rand(1, 3, 8, 8), torch.randn(1, 2, 8, 8), torch.rand(1, 3, 8, 8)
    trend = torch.full((1, 3, 8, 8), 0.05)
    out = torch.zeros(1, 8, 8, 8)
    out[:, 2] = 20.0  # tanh -> 1: the unmoved last frame
    torch.testing.assert_close(compose_prediction(out, last, motion, carried, trend), last)
    out[:, 2], out[:, 3] = 0.0, 20.0  # the forward-splatted frame
    torch.testing.assert_close(compose_prediction(out, last, motion, carried, trend), carried)
    out[:, 3], out[:, 4] = 0.0, 20.0  # the appearance change carried on
    expected = (warp(last, motion) + trend).clamp(0, 1)
    torch.testing.assert_close(compose_prediction(out, last, motion, carried, trend), expected)


def test_carry_forward_moves_the_outline_where_the_warp_only_slides_the_texture():
    """A square moving right by 2 px: backward flow (-2, 0) on it. The warp reads the motion where
    content lands (flow 0 on the background), so its square does not advance; forward splatting
    moves it, and where it lands on still background the two are averaged (no depth order)."""
    last = torch.zeros(1, 1, 16, 16)
    last[..., 4:8, 4:8] = 1.0
    back = torch.zeros(1, 2, 16, 16)
    back[:, 0, 4:8, 4:8] = -2.0
    truth = torch.zeros(1, 1, 16, 16)
    truth[..., 4:8, 6:10] = 1.0
    linear = warp(last, back)
    carried = carry_forward(last, back, fill=linear)
    expected = truth.clone()
    expected[..., 4:8, 8:10] = 0.5  # square and background both landed there
    torch.testing.assert_close(carried, expected, atol=1e-6, rtol=0)
    assert linear[..., 4:8, 8:10].abs().max() < 1e-6  # the warp's leading edge did not move
    assert (carried - truth).abs().sum() < 0.51 * (linear - truth).abs().sum()


def test_repeated_change_keeps_a_fade_and_drops_sensor_noise():
    """A still textured frame under sensor noise (2 grey levels): the last step's change is noise
    and does not repeat, so nothing is kept. The same frame fading towards a flat colour (5% a
    frame) changes the same way twice: most of the change is kept. Moving texture: aligned by the
    motion, the fade is found as well as on a still frame."""
    g = torch.Generator().manual_seed(0)
    still = textured(32, 32, seed=5).expand(3, -1, -1, -1)[None]  # (1, 3, 3, H, W)
    noise = torch.randn(still.shape, generator=g) * (2 / 255)
    colour = torch.tensor([0.9, 0.1, 0.5]).view(1, 1, 3, 1, 1)
    alpha = torch.tensor([0.0, 0.05, 0.10]).view(1, 3, 1, 1, 1)
    zero = torch.zeros(1, 2, 32, 32)
    for frames, kept_share in (
        (still + noise, (0.0, 0.05)),
        (still * (1 - alpha) + colour * alpha, (0.95, 1.0)),
    ):
        change = frames[:, -1] - frames[:, -2]
        kept = repeated_change(frames, zero, frames[:, -2]).abs().sum() / change.abs().sum()
        assert kept_share[0] <= kept <= kept_share[1], kept
    moving = moving_texture(3, dx=1.0, dy=0.0) * (1 - alpha) + colour * alpha
    motion = DISFlow()(moving[:, -1], moving[:, -2])
    moved = warp(moving[:, -2], motion)
    change = moving[:, -1] - moved
    kept = repeated_change(moving, motion, moved)[..., 4:-4, 4:-4]
    assert kept.abs().sum() > 0.8 * change[..., 4:-4, 4:-4].abs().sum()
    assert repeated_change(moving[:, 1:], motion, moved).abs().max() == 0  # 2 frames: off


@pytest.mark.parametrize("task", ["predict", "interpolate"])
def test_flow_head_checkpoints_load_with_weights_only(tmp_path, task):
    cfg = model_config_for("unet-s", task=task, context=2, head="flow", flow="dis", **TINY)
    model = build_model(cfg)
    torch.save({"config": cfg.to_dict(), "model": model.state_dict()}, tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    again = build_model(ModelConfig.from_dict(payload["config"]))
    again.load_state_dict(payload["model"])
    assert again.config.head == "flow"
    assert not any("raft" in k or "flow" in k for k in payload["model"])  # estimator not saved


def test_an_old_config_without_a_head_loads_as_pixels():
    old = model_config_for("unet-s", **TINY).to_dict()
    del old["head"], old["flow"]
    assert ModelConfig.from_dict(old).head == "pixels"


def test_a_flow_head_saved_before_the_trend_loads_without_it_and_still_starts_at_linear():
    old = model_config_for("unet-s", context=3, head="flow", flow="dis", **TINY).to_dict()
    del old["trend"]
    cfg = ModelConfig.from_dict(old)
    assert not cfg.trend and ModelConfig.from_dict(cfg.to_dict()) == cfg
    model = build_model(cfg).eval()
    assert model.head.out_channels == 2 + 2 + 3  # flow, two blend weights, RGB
    frames = moving_texture(3, 32, 32, dx=1.5, dy=0.5)
    with torch.no_grad():
        out = rollout(model, frames, 2)
    torch.testing.assert_close(
        out, extrapolate_linear(frames, 2, flow=DISFlow()), atol=1e-6, rtol=0
    )
    pixels = model_config_for("unet-s", **TINY).to_dict()
    del pixels["trend"]
    assert ModelConfig.from_dict(pixels) == model_config_for("unet-s", **TINY)  # resumable


def test_flow_head_validates_its_config():
    with pytest.raises(ValueError, match="head must be one of"):
        model_config_for("unet-s", head="voxels")
    with pytest.raises(ValueError, match="resolved"):
        model_config_for("unet-s", head="flow", flow="auto")
    with pytest.raises(ValueError, match="residual"):
        model_config_for("unet-s", head="flow", residual=False)
    pixel = build_model(model_config_for("unet-s", **TINY))
    with pytest.raises(ValueError, match="flow head"):
        pixel(torch.rand(1, 2, 3, 16, 16), time=2)

"""Frame-rate conversion: vidpred.inference.retime_stream and `vidpred interpolate --fps`, with
flow-head interpolators (any t) and pixel-head ones (midpoints only)."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from conftest import make_frames, make_video, train_tiny_model
from typer.testing import CliRunner

from vidpred.cli import app
from vidpred.flow import DISFlow, flow_midpoint
from vidpred.inference import interpolate_times, load_model, retime_stream, to_tensor
from vidpred.io import open_source

runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip")
    return make_video(root / "clip.mp4", make_frames(10, 32, 48), fps=25)


@pytest.fixture(scope="module")
def pixel_head_model(clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("flowrun")
    return train_tiny_model(clip.parent, root / "run", task="interpolate", head="pixels", steps=1)


@pytest.fixture(scope="module")
def flow_head_model(clip, tmp_path_factory):
    from vidpred.config import RunConfig
    from vidpred.train import train

    root = tmp_path_factory.mktemp("flowhead")
    cfg = RunConfig().override(
        "data", paths=(str(clip),), size=(16, 16), context=2, cache_dir=str(root / "cache")
    )
    cfg = cfg.override("model", head="flow").override("loss", spec="l1", flow="dis")
    cfg = cfg.override(
        "train",
        task="interpolate",
        steps=1,
        batch_size=2,
        lr=1e-4,  # one small step: the head stays close to its untrained form
        device="cpu",
        out=str(root / "run"),
    )
    train(cfg)
    return load_model(root / "run" / "model.pt")


def _frames(n: int) -> list[np.ndarray]:
    return list(make_frames(n, 32, 48))


def test_retime_keeps_source_frames_on_the_grid_and_counts_right(flow_head_model):
    frames = _frames(6)
    out = list(retime_stream(flow_head_model, iter(frames), step=Fraction(25, 60)))
    # Positions 0, 5/12, 10/12, ... up to 5: 12 outputs per 5 source frames, plus the first.
    assert len(out) == 5 * 12 // 5 + 1
    for j, frame in enumerate(out):
        s = j * Fraction(25, 60)
        if s.denominator == 1:
            assert np.array_equal(frame, frames[int(s)])  # a source frame, untouched


def test_retime_with_a_flow_head_is_the_flow_midpoint_at_each_time(flow_head_model):
    frames = _frames(3)
    step = Fraction(1, 3)
    out = list(retime_stream(flow_head_model, iter(frames), step=step))
    a, b = to_tensor(frames[:2])
    # The tiny model saw one step of training: its head is nearly zero, so compare loosely with
    # the model's own answer at t = 1/3 and tightly where the grid meets a source frame.
    expected = interpolate_times(flow_head_model, a[None], b[None], [Fraction(1, 3)])
    got = torch.from_numpy(out[1]).permute(2, 0, 1).float() / 255
    assert (got - expected[0].clamp(0, 1)).abs().max() <= 1 / 255 + 1e-6
    untrained = flow_midpoint(a[None], b[None], 1 / 3, flow=DISFlow())[0]
    assert (got - untrained).abs().mean() < 0.02


def test_pixel_head_refuses_times_it_cannot_reach(pixel_head_model):
    lm = load_model(pixel_head_model)
    with pytest.raises(Exception, match="k/2\\^n"):
        list(retime_stream(lm, iter(_frames(3)), step=Fraction(2, 5)))
    assert len(list(retime_stream(lm, iter(_frames(3)), step=Fraction(1, 4)))) == 9


def test_cli_fps_converts_25_to_60_with_a_flow_head(clip, flow_head_model, tmp_path):
    out = tmp_path / "out.mp4"
    result = runner.invoke(
        app, ["interpolate", str(flow_head_model.path), str(clip), "--fps", "60", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    info = open_source(out).info
    assert info.fps == pytest.approx(60) and info.frames == 9 * 12 // 5 + 1


def test_cli_fps_with_a_pixel_head_is_a_one_line_error(clip, pixel_head_model, tmp_path):
    result = runner.invoke(
        app,
        [
            "interpolate",
            str(pixel_head_model),
            str(clip),
            "--fps",
            "60",
            "--out",
            str(tmp_path / "o.mp4"),
        ],
    )
    assert result.exit_code == 2 and "pixel-head" in result.stderr
    assert not (tmp_path / "o.mp4").exists()
    both = runner.invoke(
        app, ["interpolate", str(pixel_head_model), str(clip), "--fps", "60", "--factor", "2"]
    )
    assert both.exit_code == 2 and "--fps" in both.stderr

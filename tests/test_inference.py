"""`vidpred predict` and `vidpred interpolate` on tiny models trained here."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_frame_folder, make_frames, make_video, train_tiny_model
from PIL import Image
from typer.testing import CliRunner

from vidpred.cli import app
from vidpred.inference import dyadic_depth, load_model
from vidpred.io.sources import open_source

runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    make_video(root / "clip.mp4", make_frames(12, 32, 48), fps=10)
    models = {
        task: train_tiny_model(root / "clip.mp4", root / task, task=task)
        for task in ("predict", "interpolate")
    }
    for task in ("predict", "interpolate"):
        models[f"{task}-pixels"] = train_tiny_model(
            root / "clip.mp4", root / f"{task}-pixels", task=task, head="pixels"
        )
    return models


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def video(tmp_path) -> Path:
    return make_video(tmp_path / "in.mp4", make_frames(9, 32, 48, seed=3), fps=12)


def _as_tensor(frames) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, H, W) in [0, 1], written out here so the check does
    not lean on the conversions the commands use."""
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255


def _read_pngs(paths) -> torch.Tensor:
    return _as_tensor([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def _assert_written_frames_are(written, expected, *, not_simply) -> None:
    """What a command wrote is the model's own output, rounded to uint8: within 1/255. The
    model's output must differ from `not_simply` (a copy of the input) by more than that, or
    the check could not tell a model from a command that skipped it."""
    assert (expected - not_simply).abs().max() > 2 / 255
    assert written.shape == expected.shape
    assert (written - expected).abs().max() <= 1 / 255 + 1e-6


def test_predict_folder_of_pngs(models, video, tmp_path):
    out = tmp_path / "pred"
    result = invoke("predict", models["predict"], video, "--frames", 3, "--out", out)
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["pred_0001.png", "pred_0002.png", "pred_0003.png"]
    assert Image.open(files[0]).size == (16, 16)  # the model's size
    assert "fitting 48x32" in result.stderr


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_predict_video_file_keeps_fps(models, video, tmp_path, ext):
    out = tmp_path / f"pred{ext}"
    result = invoke("predict", models["predict"], video, "--frames", 4, "--out", out)
    assert result.exit_code == 0, result.output
    info = open_source(out).info
    assert info.frames == 4 and (info.width, info.height) == (16, 16)
    assert info.fps == pytest.approx(12, rel=0.05)


def test_predict_every_and_grid(models, video, tmp_path):
    out, grid = tmp_path / "pred", tmp_path / "grid.png"
    result = invoke(
        "predict",
        models["predict"],
        video,
        "--frames",
        2,
        "--every",
        3,
        "--out",
        out,
        "--grid",
        grid,
    )
    assert result.exit_code == 0, result.output
    # windows end at frames 1, 4, 7 (K = 2): 3 windows x 2 frames
    assert len(list(out.iterdir())) == 6
    g = np.asarray(Image.open(grid))
    # 3 rows; columns: 2 context + 2 truth (when known) + 2 predictions + 1 error map
    assert g.shape[0] == 3 * 18 + 2


@pytest.mark.parametrize("model", ["predict", "predict-pixels"])
def test_predicted_frames_are_the_models_rollout(models, tmp_path, model):
    frames = make_frames(5, 16, 16, seed=4)  # the model's own size: no resizing, no padding
    folder = make_frame_folder(tmp_path / "ctx", frames)
    out = tmp_path / "pred"
    result = invoke("predict", models[model], folder, "--frames", 3, "--out", out)
    assert result.exit_code == 0, result.output
    lm = load_model(models[model], device=torch.device("cpu"))
    window = _as_tensor(frames[-lm.config.context :])[None]  # (1, K, 3, H, W)
    expected = []
    with torch.no_grad():
        for k in range(1, 4):
            if lm.config.head == "flow":  # step k sampled along k times the measured motion
                expected.append(lm.model(window, time=k)[0])
                continue
            following = lm.model(window)  # (1, 3, H, W), fed back as the newest context frame
            expected.append(following[0])
            window = torch.cat([window[:, 1:], following[:, None]], dim=1)
    last = _as_tensor(frames[-1:]).expand(3, -1, -1, -1)
    written = _read_pngs(sorted(out.iterdir()))
    _assert_written_frames_are(written, torch.stack(expected), not_simply=last)


def test_predict_from_image_files_uses_the_last_k(models, tmp_path):
    folder = make_frame_folder(tmp_path / "ctx", make_frames(5, 16, 16))
    images = sorted(folder.iterdir())
    out = tmp_path / "pred"
    result = invoke("predict", models["predict"], *images, "--out", out)
    assert result.exit_code == 0, result.output
    assert len(list(out.iterdir())) == 1


def test_predict_refuses_to_overwrite(models, video, tmp_path):
    out = tmp_path / "p.mp4"
    out.write_bytes(b"keep me")
    result = invoke("predict", models["predict"], video, "--out", out)
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert out.read_bytes() == b"keep me"
    assert invoke("predict", models["predict"], video, "--out", out, "--overwrite").exit_code == 0
    assert open_source(out).info.frames == 1


def test_predict_bad_inputs(models, tmp_path):
    one = make_frame_folder(tmp_path / "one", make_frames(1, 16, 16))
    cases = [
        ([models["predict"], *one.iterdir()], "needs 2 context frames"),
        ([models["interpolate"], one], "is a interpolate model"),
        ([tmp_path / "none.pt", one], "no such file"),
    ]
    broken = tmp_path / "broken.pt"
    broken.write_bytes(models["predict"].read_bytes()[:300])
    cases.append(([broken, one], "not a loadable vidpred file"))
    text = tmp_path / "x.png"
    text.write_text("not an image")
    cases.append(([models["predict"], text, text], "not an image"))
    for args, needle in cases:
        result = invoke("predict", *args, "--out", tmp_path / "o")
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("factor", [2, 4])
def test_interpolate_video_factor_and_fps(models, video, tmp_path, factor):
    out = tmp_path / "x.mp4"
    result = invoke("interpolate", models["interpolate"], video, "--factor", factor, "--out", out)
    assert result.exit_code == 0, result.output
    info = open_source(out).info
    assert info.frames == (9 - 1) * factor + 1
    assert info.fps == pytest.approx(12 * factor, rel=0.01)
    assert (info.width, info.height) == (48, 32)  # native size, not the training size


def test_interpolate_slowmo_keeps_fps_and_odd_sizes_work(models, tmp_path):
    src = make_frame_folder(tmp_path / "odd", make_frames(4, 21, 27))
    out = tmp_path / "slow"
    result = invoke("interpolate", models["interpolate"], src, "--slowmo", "--out", out)
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert len(files) == 7 and Image.open(files[0]).size == (27, 21)
    exact = np.asarray(Image.open(files[0]))
    np.testing.assert_array_equal(exact, make_frames(4, 21, 27)[0])  # source frames kept


def test_interpolate_two_images(models, tmp_path):
    a, b = sorted(make_frame_folder(tmp_path / "ab", make_frames(2, 20, 30)).iterdir())
    result = invoke("interpolate", models["interpolate"], a, b, "--out", tmp_path / "m.png")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "m.png").size == (30, 20)
    result = invoke(
        "interpolate",
        models["interpolate"],
        a,
        b,
        "--times",
        "0.25,0.5,0.75",
        "--out",
        tmp_path / "t",
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "t").iterdir())) == 3


@pytest.mark.parametrize("model", ["interpolate", "interpolate-pixels"])
def test_interpolated_frames_are_the_models_midpoints(models, tmp_path, model):
    frames = make_frames(2, 16, 16, seed=5)
    a, b = sorted(make_frame_folder(tmp_path / "ab", frames).iterdir())
    out = tmp_path / "t"
    result = invoke("interpolate", models[model], a, b, "--times", "0.25,0.5,0.75",
                    "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    lm = load_model(models[model], device=torch.device("cpu"))
    first, last = _as_tensor(frames)[:, None]  # each (1, 3, H, W)
    with torch.no_grad():

        def middle(x, y, t=0.5):
            return lm.model(torch.stack([x, y], dim=1), **({"time": t} if t != 0.5 else {}))

        half = middle(first, last)
        if lm.config.head == "flow":  # any t directly
            expected = torch.cat([middle(first, last, 0.25), half, middle(first, last, 0.75)])
        else:  # t = 1/4, 3/4 as midpoints of midpoints
            expected = torch.cat([middle(first, half), half, middle(half, last)])
    blend = torch.cat([0.75 * first + 0.25 * last, (first + last) / 2, 0.25 * first + 0.75 * last])
    written = _read_pngs(sorted(out.iterdir()))
    _assert_written_frames_are(written, expected, not_simply=blend)
    single = tmp_path / "m.png"
    assert invoke("interpolate", models[model], a, b, "--out", single).exit_code == 0
    _assert_written_frames_are(_read_pngs([single]), half, not_simply=blend[1:2])


def test_interpolate_bad_inputs(models, video, tmp_path):
    m = models["interpolate"]
    for args, needle in [
        ([m, video, "--factor", "3"], "--factor 3"),
        ([models["predict"], video], "is a predict model"),
        ([m, video, video, video], "two images"),
    ]:
        result = invoke("interpolate", *args, "--out", tmp_path / "o.mp4")
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.stderr


def test_dyadic_depth():
    assert dyadic_depth([0.5]) == 1
    assert dyadic_depth([0.25, 0.5, 0.75]) == 2
    assert dyadic_depth([0.125]) == 3
    with pytest.raises(Exception, match="k/2"):
        dyadic_depth([0.3])

"""`vidpred eval`: model mode, folder mode, baselines, outputs and exit codes."""

import csv
import json

import numpy as np
import pytest
import torch
from conftest import make_frame_folder, make_frames, make_video, train_tiny_model
from typer.testing import CliRunner

from vidpred.cli import app
from vidpred.eval.evaluate import baseline_predict
from vidpred.eval.metrics import psnr
from vidpred.flow.backends import build_flow

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data = root / "data"
    for i in range(2):
        make_video(data / f"c{i}.mp4", make_frames(16, 32, 48, seed=i), fps=10)
    models = [train_tiny_model(data, root / name, seed=ord(name)) for name in ("a", "b")]
    return data, models


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_model_mode_writes_everything(setup, tmp_path):
    data, (a, b) = setup
    out = tmp_path / "ev"
    result = invoke(
        "eval",
        a,
        b,
        data,
        "--horizon",
        3,
        "--baseline",
        "copy-last",
        "--baseline",
        "linear",
        "--out",
        out,
        "--metrics",
        "psnr,ssim",
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "metrics.json").read_text())
    assert set(record["summary"]) == {"a", "b", "copy-last", "linear"}
    s = record["summary"]["a"]["psnr"]
    assert len(s["per_step"]) == 3 and s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    assert "skimage" in record["settings"]["ssim"]
    with open(out / "per_clip.csv") as fh:
        rows = list(csv.DictReader(fh))
    windows = 2 * (16 // 5)  # non-overlapping windows of 2 + 3 frames in each 16-frame clip
    assert len(rows) == 4 * windows * 3
    assert {"model", "clip", "first_frame", "step", "psnr", "ssim"} <= set(rows[0])
    grids = sorted((out / "grids").iterdir())
    assert grids and len(list((out / "animations").iterdir())) <= 3
    html = (out / "report.html").read_text()
    assert "copy-last" in html and "<svg" in html and "http://" not in html


def test_json_shape_for_one_model_and_for_several(setup):
    data, (a, _) = setup
    one = invoke("eval", a, data, "--json", "--metrics", "psnr")
    assert one.exit_code == 0, one.output
    summary = json.loads(one.stdout)
    assert set(summary) == {"psnr"} and {"mean", "std", "ci95", "per_step"} <= set(summary["psnr"])
    several = invoke("eval", a, data, "--json", "--metrics", "psnr", "--baseline", "copy-last")
    assert set(json.loads(several.stdout)) == {"a", "copy-last"}


def test_thresholds_give_exit_1_with_the_failing_metric(setup):
    data, (a, _) = setup
    ok = invoke("eval", a, data, "--metrics", "psnr,ssim", "--fail-under", "psnr=1")
    assert ok.exit_code == 0
    bad = invoke(
        "eval",
        a,
        data,
        "--metrics",
        "psnr,ssim",
        "--fail-under",
        "psnr=99",
        "--fail-over",
        "ssim=0.001",
    )
    assert bad.exit_code == 1
    lines = bad.stderr.strip().splitlines()
    assert any(line.startswith("FAIL a: psnr") and "< 99" in line for line in lines)
    assert any("ssim" in line and "> 0.001" in line for line in lines)


def test_folder_mode_matches_reference_psnr(tmp_path):
    truth = make_frames(4, 24, 24, seed=1)
    noisy = np.clip(
        truth.astype(int) + np.random.default_rng(0).integers(-9, 10, truth.shape), 0, 255
    ).astype(np.uint8)
    pred_dir = make_frame_folder(tmp_path / "pred", noisy)
    target_dir = make_frame_folder(tmp_path / "target", truth)
    result = invoke(
        "eval", "--pred", pred_dir, "--target", target_dir, "--metrics", "psnr", "--json"
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["psnr"]["mean"]
    expected = (
        psnr(
            torch.from_numpy(noisy).permute(0, 3, 1, 2) / 255.0,
            torch.from_numpy(truth).permute(0, 3, 1, 2) / 255.0,
        )
        .mean()
        .item()
    )
    assert got == pytest.approx(expected, rel=1e-9)


def test_folder_mode_mismatches_name_both(tmp_path):
    a = make_frame_folder(tmp_path / "a", make_frames(3, 16, 16))
    b = make_frame_folder(tmp_path / "b", make_frames(2, 16, 16))
    result = invoke("eval", "--pred", a, "--target", b, "--metrics", "psnr")
    assert result.exit_code == 2 and str(a) in result.stderr and str(b) in result.stderr
    c = make_frame_folder(tmp_path / "c", make_frames(3, 16, 20))
    result = invoke("eval", "--pred", a, "--target", c, "--metrics", "psnr")
    assert result.exit_code == 2 and "16x16" in result.stderr


def test_lpips_asked_for_without_weights_is_exit_2(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))
    data, (a, _) = setup
    result = invoke("eval", a, data, "--metrics", "psnr,lpips")
    assert result.exit_code == 2 and "vidpred weights fetch lpips-alex" in result.stderr
    result = invoke("eval", a, data, "--json")  # not asked for: skipped with a notice
    assert result.exit_code == 0 and "LPIPS skipped" in result.stderr
    assert "lpips" not in json.loads(result.stdout)


def test_baselines():
    frames = torch.rand(2, 3, 3, 24, 24)
    copy = baseline_predict("copy-last", frames, 2)
    assert copy.shape == (2, 2, 3, 24, 24) and torch.equal(copy[:, 1], frames[:, -1])
    # A texture moving 1 px right per frame keeps moving under the linear baseline.
    base = torch.rand(1, 3, 24, 40)
    base = torch.nn.functional.avg_pool2d(base, 3, 1, 1)
    clip = torch.stack([torch.roll(base, t, dims=-1) for t in range(4)], dim=1)  # (1, 4, ...)
    pred = baseline_predict("linear", clip[:, :3], 1, flow=build_flow("dis"))
    inner = (..., slice(4, -4), slice(6, -6))
    err_linear = (pred[:, 0] - clip[:, 3])[inner].abs().mean()
    err_copy = (clip[:, 2] - clip[:, 3])[inner].abs().mean()
    assert err_linear < 0.5 * err_copy

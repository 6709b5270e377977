"""`vidpred eval`: model mode, folder mode, baselines, outputs and exit codes."""

import csv
import json

import numpy as np
import pytest
import torch
from conftest import make_frame_folder, make_frames, make_video, train_tiny_model
from typer.testing import CliRunner

from vidpred.cli import app
from vidpred.eval.baselines import BASELINES, baseline_frames
from vidpred.eval.metrics import PSNR_CAP, capped_psnr, psnr
from vidpred.flow.backends import build_flow
from vidpred.models import ModelConfig, build_model
from vidpred.train.validation import REFERENCES

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data = root / "data"
    for i in range(2):
        make_video(data / f"c{i}.mp4", make_frames(16, 32, 48, seed=i), fps=10)
    models = [
        train_tiny_model(data, root / name, seed=ord(name), head="pixels") for name in ("a", "b")
    ]
    return data, models


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def untrained_copy(model_pt, out, *, noise: float = 0.0):
    """`model_pt`'s architecture with fresh weights: its zero-initialised output makes it predict
    exactly what copy-last (or blend) does; `noise` perturbs that output layer."""
    payload = torch.load(model_pt, weights_only=True)
    model = build_model(ModelConfig.from_dict(payload["model_config"]))
    state = model.state_dict()
    if noise:
        gen = torch.Generator().manual_seed(0)
        for key in ("head.weight", "head.bias"):
            state[key] = state[key] + noise * torch.randn(state[key].shape, generator=gen)
    torch.save({**payload, "model": state}, out)
    return out


def to_frames(frames):
    """uint8 (T, H, W, 3) -> (T, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


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
    paired = record["summary"]["a"]["paired"]
    assert set(paired) == {"copy-last", "linear"} and set(paired["linear"]) == {"psnr", "ssim"}
    p = paired["copy-last"]["psnr"]
    assert set(p) == {"delta", "ci95", "win_rate"} and p["ci95"][0] <= p["delta"] <= p["ci95"][1]
    assert 0 <= p["win_rate"] <= 1 and "paired" not in record["summary"]["copy-last"]
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
    assert "Δ vs copy-last" in html and "Δ vs linear" in html
    # The terminal table has the paired columns, with the JSON's delta.
    assert "Δ vs" in result.stdout and f"psnr {p['delta']:+.2f}" in result.stdout


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


class NoMotion:
    """A flow estimator that sees no motion."""

    def estimate_flow(self, a, b):
        return torch.zeros(a.shape[0], 2, *a.shape[-2:])


def test_baselines():
    frames = torch.rand(2, 3, 3, 24, 24)
    copy = baseline_frames("copy-last", frames, 2)
    assert copy.shape == (2, 2, 3, 24, 24) and torch.equal(copy[:, 1], frames[:, -1])
    # A texture moving 1 px right per frame keeps moving under the linear baseline.
    base = torch.rand(1, 3, 24, 40)
    base = torch.nn.functional.avg_pool2d(base, 3, 1, 1)
    clip = torch.stack([torch.roll(base, t, dims=-1) for t in range(4)], dim=1)  # (1, 4, ...)
    pred = baseline_frames("linear", clip[:, :3], 1, flow=build_flow("dis"))
    inner = (..., slice(4, -4), slice(6, -6))
    err_linear = (pred[:, 0] - clip[:, 3])[inner].abs().mean()
    err_copy = (clip[:, 2] - clip[:, 3])[inner].abs().mean()
    assert err_linear < 0.5 * err_copy
    # Interpolation: the neighbours' average, and the flow midpoint.
    pair = clip[:, 0::2]  # frames 0 and 2: the truth between them is frame 1
    assert torch.equal(baseline_frames("blend", pair)[:, 0], (clip[:, 0] + clip[:, 2]) / 2)
    still = baseline_frames("flow-mid", pair, flow=NoMotion())  # zero flow: the plain average
    torch.testing.assert_close(still[:, 0], (clip[:, 0] + clip[:, 2]) / 2)
    mid = baseline_frames("flow-mid", pair, flow=build_flow("dis"))
    err_mid = (mid[:, 0] - clip[:, 1])[inner].abs().mean()
    err_blend = (pair.mean(1) - clip[:, 1])[inner].abs().mean()
    assert err_mid < 0.5 * err_blend


def test_training_validation_logs_the_eval_baselines():
    assert {task: tuple(names) for task, names in BASELINES.items()} == REFERENCES


@pytest.mark.parametrize(
    "name, inputs, horizon, match",
    [
        ("nope", torch.rand(1, 2, 3, 8, 8), 1, "unknown"),
        ("linear", torch.rand(1, 2, 3, 8, 8), 1, "flow estimator"),
        ("blend", torch.rand(1, 3, 3, 8, 8), 1, "two neighbours"),
        ("copy-last", torch.rand(2, 3, 8, 8), 1, r"\(B, K, C, H, W\)"),
    ],
)
def test_baseline_bad_input(name, inputs, horizon, match):
    with pytest.raises(Exception, match=match):
        baseline_frames(name, inputs, horizon)


def test_psnr_cap_static_clip_copy_last_scores_one_grey_level(tmp_path):
    still = np.repeat(make_frames(1, 24, 24, seed=3), 6, axis=0)  # six identical frames
    folder = make_frame_folder(tmp_path / "still", still)
    result = invoke(
        "eval", folder, "--baseline", "copy-last", "--metrics", "psnr", "--json", "--size", "24"
    )
    assert result.exit_code == 0, result.output
    psnr_summary = json.loads(result.stdout)["psnr"]
    assert psnr_summary["mean"] == pytest.approx(PSNR_CAP, rel=1e-12)
    assert psnr_summary["mean"] == pytest.approx(48.1308, abs=1e-4)  # 20 log10(255)


def test_eval_with_no_model_scores_the_baselines_on_the_footage(tmp_path):
    frames = make_frames(9, 24, 24, seed=5)
    folder = make_frame_folder(tmp_path / "clip", frames)
    result = invoke(
        "eval", folder, "--baseline", "copy-last", "--baseline", "linear", "--metrics", "psnr",
        "--json", "--size", "24",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"copy-last", "linear"} and "paired" not in summary["copy-last"]
    # Windows of 2 context + 1 frames, non-overlapping: frames 2, 5, 8 are predicted.
    x = to_frames(frames)
    expected = capped_psnr(x[[1, 4, 7]], x[[2, 5, 8]]).mean().item()
    assert summary["copy-last"]["psnr"]["mean"] == pytest.approx(expected, rel=1e-6)
    assert summary["linear"]["psnr"]["mean"] > summary["copy-last"]["psnr"]["mean"]


def test_interpolation_model_is_scored_on_every_other_frame(tmp_path):
    frames = make_frames(9, 16, 16, seed=7)
    data = make_frame_folder(tmp_path / "clip", frames)
    trained = train_tiny_model(data, tmp_path / "interp", task="interpolate", head="pixels")
    model = untrained_copy(trained, tmp_path / "interp.pt")  # untrained: exactly blend
    result = invoke(
        "eval", model, data, "--baseline", "blend", "--baseline", "flow-mid",
        "--metrics", "psnr,ssim", "--json", "--out", tmp_path / "ev",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    x = to_frames(frames)
    blend = (x[[0, 2, 4, 6]] + x[[2, 4, 6, 8]]) / 2  # middles 1, 3, 5, 7 from their neighbours
    expected = capped_psnr(blend, x[[1, 3, 5, 7]])
    assert summary["blend"]["psnr"]["n"] == 4
    assert summary["blend"]["psnr"]["mean"] == pytest.approx(expected.mean().item(), abs=1e-5)
    assert summary["interp"]["psnr"]["mean"] == pytest.approx(expected.mean().item(), abs=1e-5)
    vs_blend = summary["interp"]["paired"]["blend"]["psnr"]
    assert abs(vs_blend["delta"]) < 1e-5 and set(summary["interp"]["paired"]) == {
        "blend",
        "flow-mid",
    }
    # A prediction baseline, or a horizon, does not fit an interpolation model: exit 2.
    wrong = invoke("eval", model, data, "--baseline", "copy-last")
    assert wrong.exit_code == 2 and "copy-last" in wrong.stderr and "interpolate" in wrong.stderr
    wrong = invoke("eval", model, data, "--horizon", "3")
    assert wrong.exit_code == 2 and "--horizon 3" in wrong.stderr


def test_an_untrained_flow_head_model_scores_exactly_the_linear_baseline(setup, tmp_path):
    data, _ = setup
    trained = train_tiny_model(data, tmp_path / "flow", head="flow")
    model = untrained_copy(trained, tmp_path / "flow.pt")
    args = ["--baseline", "linear", "--metrics", "psnr,ssim", "--horizon", "2", "--json"]
    result = invoke("eval", model, data, *args, "--fail-under", "delta-psnr:linear=0")
    assert result.exit_code == 0, result.output
    paired = json.loads(result.stdout)["flow"]["paired"]["linear"]
    assert abs(paired["psnr"]["delta"]) < 1e-6 and abs(paired["ssim"]["delta"]) < 1e-9


def test_fail_under_delta_against_copy_last(setup, tmp_path):
    data, (a, _) = setup
    copy = untrained_copy(a, tmp_path / "copy.pt")
    perturbed = untrained_copy(a, tmp_path / "perturbed.pt", noise=0.05)
    args = ["--baseline", "copy-last", "--metrics", "psnr,ssim"]
    ok = invoke("eval", copy, data, *args, "--fail-under", "delta-psnr:copy-last=0", "--json")
    assert ok.exit_code == 0, ok.output  # delta 0 is not below 0
    p = json.loads(ok.stdout)["copy"]["paired"]["copy-last"]["psnr"]
    assert p == {"delta": 0.0, "ci95": [0.0, 0.0], "win_rate": 0.5}  # every window a tie
    bad = invoke("eval", perturbed, data, *args, "--fail-under", "delta-psnr:copy-last=0")
    assert bad.exit_code == 1, bad.output
    assert "FAIL perturbed: psnr vs copy-last delta" in bad.stderr and "< 0" in bad.stderr


@pytest.mark.parametrize(
    "option, match",
    [
        (["--fail-under", "delta-psnr=0"], "expected METRIC=VALUE or delta-METRIC:BASELINE"),
        (["--fail-under", "delta-psnr:copy-last"], "expected METRIC=VALUE"),
        (["--fail-under", "psnr=abc"], "expected METRIC=VALUE"),
        (["--fail-over", "delta-lpips:copy-last=nan"], "expected METRIC=VALUE"),
        (["--fail-under", "delta-psnr:linear=0"], "linear is not a requested baseline"),
        (["--fail-under", "delta-lpips:copy-last=0", "--metrics", "psnr"], "not computed"),
        (["--baseline", "median"], "--baseline median: unknown"),
        (["--baseline", "blend"], "a baseline for interpolate models"),
        (["--lpips-net", "resnet"], "--lpips-net resnet"),
        (["--size", "sixteen"], "--size sixteen"),
    ],
)
def test_bad_options_are_one_line_before_any_work(tmp_path, option, match):
    # The model does not exist: an error about it would mean work started before the check.
    result = invoke("eval", tmp_path / "nope.pt", tmp_path, "--baseline", "copy-last", *option)
    assert result.exit_code == 2, result.output
    assert match in result.stderr and "nope.pt" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_delta_threshold_needs_a_model(tmp_path):
    result = invoke(
        "eval", tmp_path, "--baseline", "copy-last", "--fail-under", "delta-psnr:copy-last=0"
    )
    assert result.exit_code == 2 and "give a model.pt" in result.stderr


def test_out_is_not_overwritten_without_asking_and_stale_figures_go(setup, tmp_path):
    data, (a, _) = setup
    out = tmp_path / "ev"
    args = ["eval", a, data, "--metrics", "psnr", "--baseline", "copy-last", "--out", out]
    assert invoke(*args).exit_code == 0
    first = (out / "metrics.json").read_text()
    stale = out / "grids" / "worst_99.png"
    stale.write_bytes((out / "grids" / "worst_01.png").read_bytes())
    mine = out / "grids" / "mine.txt"
    mine.write_text("not eval's")
    refused = invoke(*args[:1], tmp_path / "nope.pt", *args[2:])  # refused before the model
    assert refused.exit_code == 2
    assert f"{out}: already exists (use --overwrite to replace it)" in refused.stderr
    assert (out / "metrics.json").read_text() == first
    again = invoke(*args, "--overwrite")
    assert again.exit_code == 0, again.output
    assert not stale.exists() and (out / "grids" / "worst_01.png").exists() and mine.exists()
    (tmp_path / "empty").mkdir()  # an empty folder holds nothing to lose
    assert invoke(*args[:-1], tmp_path / "empty").exit_code == 0
    (tmp_path / "file").write_text("x")
    result = invoke(*args[:-1], tmp_path / "file", "--overwrite")
    assert result.exit_code == 2 and "is a file" in result.stderr


def test_skipped_files_are_named_on_stderr(setup, tmp_path):
    data, (a, _) = setup
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for clip in data.iterdir():
        (mixed / clip.name).write_bytes(clip.read_bytes())
    make_video(mixed / "short.mp4", make_frames(2, 32, 48), fps=10)
    (mixed / "broken.mp4").write_bytes(b"not a video at all")
    result = invoke("eval", a, mixed, "--metrics", "psnr", "--json")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert any("short.mp4: skipped" in line and "frames" in line for line in notes)
    assert any("broken.mp4: skipped" in line for line in notes)
    json.loads(result.stdout)  # stdout stays clean JSON


def test_a_full_disk_is_one_line_naming_the_file(setup, tmp_path, monkeypatch):
    import errno

    from vidpred.eval import outputs

    def full(out, summary):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "report.html"))

    monkeypatch.setattr(outputs, "write_report", full)
    data, (a, _) = setup
    result = invoke("eval", a, data, "--metrics", "psnr", "--out", tmp_path / "ev")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'ev' / 'report.html'}: cannot write (No space left on device)"
    )

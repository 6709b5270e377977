"""The toy experiment: scene, measures, training, run_toy's files and the `vidpred toy` command.

Fast tests use 32x64 images and a handful of steps; `test_corrwise_l1_beats_l1_at_ci_size` checks
the paper's effect at 32x64 in 100 steps (~6 s); `test_default_run_orders_the_losses` runs the
real defaults (about a minute on 2 cores) and is marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image, ImageSequence
from typer.testing import CliRunner

from vidpred.cli import _VidpredGroup
from vidpred.cli import toy as toy_cmd
from vidpred.errors import SpecError, VidpredError
from vidpred.flow.warping import warp
from vidpred.losses import parse_loss_spec
from vidpred.toy import (
    ToyConfig,
    ToyScene,
    aligned_error,
    aligned_errors,
    parse_loss_list,
    pixelwise_references,
    run_toy,
    sharpness,
    train_predictor,
)
from vidpred.toy import measures as measures_mod
from vidpred.toy.figure import loss_label
from vidpred.toy.scene import SUBPIXEL
from vidpred.toy.train import build_predictor, toy_flow

TINY = dict(size=(32, 64), steps=3, batch_size=2, progress_frames=2, device="cpu")


@pytest.fixture
def scene() -> ToyScene:
    return ToyScene(height=32, width=64, spread=0.3)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty torch.hub folder: every pretrained network is missing, whatever this machine has."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "empty_hub"))


# --- scene -------------------------------------------------------------------------------------


def test_scene_geometry_at_the_issue_size():
    scene = ToyScene(height=64, width=128, spread=0.2)
    assert (scene.car_width, scene.car_height) == (26, 13)  # the issue's 26 px car
    assert scene.free_width == 128 - 27
    # Positions: a 1/4-px grid, symmetric about the centre, spanning spread * free width.
    steps = torch.diff(scene.positions)
    assert torch.allclose(steps, torch.full_like(steps, 1 / SUBPIXEL))
    span = float(scene.positions[-1] - scene.positions[0])
    assert abs(span - 0.2 * scene.free_width) <= 2 / SUBPIXEL
    assert float(scene.positions[0] + scene.positions[-1]) / 2 == pytest.approx(scene.centre)
    assert float(scene.sweep[0]) == 0 and float(scene.sweep[-1]) == scene.free_width


def test_spread_zero_is_one_position_and_one_is_the_whole_width():
    assert len(ToyScene(height=32, width=64, spread=0.0).positions) == 1
    full = ToyScene(height=32, width=64, spread=1.0)
    assert torch.equal(full.positions, full.sweep)


def test_render_pastes_the_car_in_its_box_only(scene):
    x = float(scene.positions[3])
    (target,) = scene.render([x])  # (3, H, W)
    assert target.shape == (3, 32, 64) and target.dtype == torch.float32
    assert float(target.min()) >= 0 and float(target.max()) <= 1
    changed = (target - scene.background).abs().sum(0) > 1e-6  # (H, W)
    rows, cols = changed.nonzero(as_tuple=True)
    assert scene.top <= int(rows.min()) and int(rows.max()) < scene.top + scene.car_height
    assert int(x) <= int(cols.min()) and int(cols.max()) < int(x) + scene.box_width
    assert changed.sum() > 0.5 * scene.car_width * scene.car_height  # the car covers its box


def test_subpixel_sprites_are_shifted_copies_of_one_car(scene):
    # Box filtering conserves coverage: the same car, so the same total alpha in every phase.
    coverage = scene.sprites[:, 3].sum(dim=(1, 2))  # (SUBPIXEL,)
    assert torch.allclose(coverage, coverage[0].expand_as(coverage), rtol=1e-5)
    # Its centre of mass moves right by 1/SUBPIXEL px per phase (to within what box filtering
    # shifts a pixel-centre centroid).
    cols = torch.arange(scene.box_width, dtype=torch.float32)
    centre = (scene.sprites[:, 3].sum(1) * cols).sum(1) / coverage  # (SUBPIXEL,)
    assert torch.allclose(torch.diff(centre), torch.full((SUBPIXEL - 1,), 1 / SUBPIXEL), atol=2e-3)


def test_scene_rejects_bad_arguments(scene):
    with pytest.raises(ValueError, match="spread"):
        ToyScene(height=32, width=64, spread=1.5)
    with pytest.raises(ValueError, match="at least"):
        ToyScene(height=8, width=64, spread=0.2)
    with pytest.raises(ValueError, match="outside"):
        scene.render([scene.free_width + 1])


# --- measures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [12.0, 20.25, 33.75])
def test_aligned_error_finds_a_true_target_exactly(scene, x):
    (target,) = scene.render([x])
    error, best_x = aligned_error(scene, target)
    assert error == pytest.approx(0, abs=1e-6)
    assert best_x == x
    assert aligned_errors(scene, target).shape == scene.sweep.shape


def test_aligned_error_orders_background_blur_and_car(scene):
    refs = pixelwise_references(scene)
    empty, _ = aligned_error(scene, scene.background)
    blur, _ = aligned_error(scene, refs["mean"])
    car, _ = aligned_error(scene, scene.render([scene.centre])[0])
    assert car < blur < empty
    assert empty > 0.1  # the car's contrast with the road


def test_sharpness_is_one_for_a_target_and_low_for_blur_and_road(scene):
    refs = pixelwise_references(scene)
    # Any true target is ~1: on the pixel grid a bit above, at a half pixel a bit below.
    for x in (scene.centre, scene.centre + 0.5, float(scene.positions[0])):
        assert sharpness(scene, scene.render([x])[0]) == pytest.approx(1, abs=0.1)
    targets = scene.render(scene.positions)
    mean_ratio = sum(sharpness(scene, t) for t in targets) / len(targets)
    assert mean_ratio == pytest.approx(1, rel=1e-5)
    assert sharpness(scene, refs["mean"]) < 0.5
    assert sharpness(scene, scene.background) < 0.05


def test_measures_check_the_image_shape(scene):
    with pytest.raises(ValueError, match=r"\(3, 32, 64\)"):
        aligned_error(scene, torch.zeros(3, 32, 65))
    with pytest.raises(ValueError, match="got"):
        sharpness(scene, torch.zeros(2, 3, 32, 64))
    # (1, 3, H, W) is accepted as one image.
    assert aligned_error(scene, scene.render([20.0]))[0] == pytest.approx(0, abs=1e-6)


def test_pixelwise_references_are_the_mean_and_median_of_the_targets(scene, monkeypatch):
    targets = scene.render(scene.positions)  # (N, 3, H, W)
    refs = pixelwise_references(scene)
    torch.testing.assert_close(refs["mean"], targets.mean(0))
    torch.testing.assert_close(refs["median"], torch.quantile(targets, 0.5, dim=0))
    # Column chunking (for large sizes) gives the same result.
    monkeypatch.setattr(measures_mod, "_CHUNK_ELEMENTS", 1000)
    chunked = pixelwise_references(scene)
    torch.testing.assert_close(chunked["median"], refs["median"])


# --- training ----------------------------------------------------------------------------------


def test_mse_training_converges_to_the_targets_mean(scene):
    from vidpred.losses import build_loss

    cfg = ToyConfig(size=(32, 64), spread=0.3, steps=200, batch_size=8, device="cpu")
    trained = train_predictor(scene, build_loss("mse"), cfg, device=torch.device("cpu"))
    mean = pixelwise_references(scene)["mean"]
    assert trained.image.shape == (3, 32, 64)
    assert (trained.image - mean).abs().mean() < 0.01


def test_snapshots_cover_training(scene):
    from vidpred.losses import build_loss

    cfg = ToyConfig(size=(32, 64), spread=0.3, steps=5, batch_size=2, device="cpu")
    trained = train_predictor(
        scene, build_loss("l1"), cfg, device=torch.device("cpu"), snapshot_every=2
    )
    assert [s for s, _ in trained.snapshots] == [0, 2, 4, 5]
    assert torch.equal(trained.snapshots[-1][1], trained.image)
    assert torch.allclose(trained.snapshots[0][1], torch.full((3, 32, 64), 0.5))  # grey start


def test_unet_predictor_runs_on_a_fixed_noise_input():
    cfg = ToyConfig(size=(32, 64), model="unet", device="cpu")
    net = build_predictor(cfg)
    with torch.no_grad():
        out = net()
        torch.testing.assert_close(net(), out)  # the input never changes
        torch.testing.assert_close(build_predictor(cfg)(), out)  # seeded
    assert out.shape == (1, 3, 32, 64) and float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(VidpredError, match="multiples of 8"):
        ToyConfig(size=(36, 64), model="unet")


def test_toy_flow_recovers_the_car_shift():
    scene = ToyScene(height=64, width=128, spread=0.2)
    reference, other = scene.render([50.0, 53.0])  # the car 3 px further right
    flow = toy_flow("dis").estimate_flow(reference[None], other[None])  # (1, 2, H, W)
    car = flow[0, 0, scene.rows, 53:73]  # on the car's body, away from its edges
    assert float(car.median()) == pytest.approx(3, abs=0.5)
    warped = warp(other[None], flow)[0]
    assert (warped - reference).abs().mean() < 0.3 * (other - reference).abs().mean()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spread": 1.2}, "spread"),
        ({"size": (8, 64)}, "at least"),
        ({"model": "gan"}, "model"),
        ({"steps": 0}, "steps"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_config_rejects_bad_settings(kwargs, match):
    with pytest.raises(VidpredError, match=match):
        ToyConfig(**kwargs)


# --- losses list and labels --------------------------------------------------------------------


def test_parse_loss_list():
    specs = parse_loss_list("mse, L1 ,l1+vgg,corr-l1")
    assert [str(s) for s in specs] == ["mse", "l1", "l1+vgg", "corr-l1"]
    with pytest.raises(SpecError, match="twice"):
        parse_loss_list("l1,L1")
    with pytest.raises(SpecError, match="empty"):
        parse_loss_list("l1,,mse")
    with pytest.raises(SpecError, match="unknown"):
        parse_loss_list("l1,foo")


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        ("mse", "MSE"),
        ("l1", "L1"),
        ("l1+vgg", "L1 + Perceptual"),
        ("corr-l1", "Corr-wise L1"),
        ("corr-l1+0.5*lpips", "Corr-wise L1 + 0.5 LPIPS"),
    ],
)
def test_loss_labels_follow_the_paper(spec, label):
    assert loss_label(parse_loss_spec(spec)) == label


# --- run_toy -----------------------------------------------------------------------------------


def test_run_toy_writes_the_files_and_fields(tmp_path):
    specs = parse_loss_list("mse,l1+vgg,corr-l1")
    report = run_toy(ToyConfig(**TINY), specs, tmp_path, pretrained=False)

    saved = json.loads((tmp_path / "toy.json").read_text())
    assert saved == report
    assert list(saved["losses"]) == ["mse", "l1+vgg", "corr-l1"]
    for entry in saved["losses"].values():
        assert {"aligned_error", "best_x", "sharpness", "label", "final_loss"} <= set(entry)
        assert entry["aligned_error"] >= 0 and entry["sharpness"] >= 0
    assert saved["losses"]["corr-l1"]["flow"] == "dis"
    assert saved["losses"]["mse"]["flow"] is None
    assert set(saved["references"]) == {"mean", "median", "sample"}
    assert saved["references"]["sample"]["aligned_error"] == 0
    assert saved["skipped"] == {}
    settings = saved["settings"]
    assert settings["size"] == [32, 64] and settings["spread"] == 0.3
    assert settings["progress_gif"] == "corr-l1"
    assert settings["positions"]["count"] >= 2

    # toy.png: header + 2x panels, Sample and three losses side by side.
    with Image.open(tmp_path / "toy.png") as im:
        width, height = im.size
    assert height > 2 * 32 and width > 4 * 4 * 64
    with Image.open(tmp_path / "references.png") as im:
        assert im.size[0] > 3 * 4 * 64
    with Image.open(tmp_path / "progress.gif") as gif:
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
    assert len(frames) >= TINY["steps"] + 1
    assert not np.array_equal(frames[0], frames[-1])  # the grey start vs. the last step


def test_run_toy_skips_losses_whose_weights_are_missing(tmp_path, no_weights):
    skipped = []
    from vidpred.toy import ToyHooks

    hooks = ToyHooks(on_skip=lambda spec, why: skipped.append((spec, why)))
    report = run_toy(ToyConfig(**TINY), parse_loss_list("l1,l1+vgg"), tmp_path, hooks=hooks)
    assert list(report["losses"]) == ["l1"]
    assert list(report["skipped"]) == ["l1+vgg"]
    assert skipped and skipped[0][0] == "l1+vgg" and "vidpred weights fetch vgg19" in skipped[0][1]
    assert report["settings"]["progress_gif"] == "l1"  # no corr-wise loss: the last one
    with pytest.raises(VidpredError, match="every loss was skipped"):
        run_toy(ToyConfig(**TINY), parse_loss_list("l1+vgg"), tmp_path / "b")


def test_run_toy_is_reproducible(tmp_path):
    specs = parse_loss_list("l1,corr-l1")
    runs = [run_toy(ToyConfig(**TINY), specs, tmp_path / str(i)) for i in range(2)]
    for entry in (r["losses"] for r in runs):
        for loss in entry.values():
            del loss["seconds"]
    assert runs[0] == runs[1]
    assert (tmp_path / "0" / "toy.png").read_bytes() == (tmp_path / "1" / "toy.png").read_bytes()


# --- the command -------------------------------------------------------------------------------


def _app() -> typer.Typer:
    # As vidpred.cli registers it: `app.command("toy")(toy_cmd.toy)`.
    app = typer.Typer(cls=_VidpredGroup)

    @app.callback()
    def _root() -> None:
        """A root, so `toy` stays a subcommand as in the real app."""

    app.command("toy")(toy_cmd.toy)
    return app


def _invoke(*args: str):
    return CliRunner().invoke(_app(), ["toy", *args])


def test_cli_writes_the_run_and_notes_skipped_losses(tmp_path, no_weights):
    out = tmp_path / "toy"
    tiny = ["--size", "32x64", "--steps", "2", "--batch-size", "2", "--device", "cpu"]
    result = _invoke("--losses", "mse,l1+vgg,corr-l1", "--out", str(out), *tiny)
    assert result.exit_code == 0, result.output
    assert "skipped l1+vgg" in result.output and "vidpred weights fetch vgg19" in result.output
    assert "corr-l1" in result.output and "aligned_error" in result.output
    for name in ("toy.png", "references.png", "progress.gif", "toy.json"):
        assert (out / name).is_file()
    assert list(json.loads((out / "toy.json").read_text())["losses"]) == ["mse", "corr-l1"]

    again = _invoke("--losses", "mse", "--out", str(out), *tiny)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert _invoke("--losses", "mse", "--out", str(out), "--overwrite", *tiny).exit_code == 0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--losses", "l1,bogus"], "unknown loss"),
        (["--spread", "2"], "spread"),
        (["--size", "axb"], "--size"),
        (["--model", "gan"], "--model"),
        (["--flow", "nope"], "--flow nope"),
    ],
)
def test_cli_user_errors_are_one_line_and_exit_2(tmp_path, args, match):
    result = _invoke("--out", str(tmp_path / "o"), "--steps", "1", "--size", "32x64", *args)
    assert result.exit_code == 2, result.output
    assert match in result.output
    assert "Traceback" not in result.output


def test_cli_refuses_a_file_as_out(tmp_path):
    file = tmp_path / "f"
    file.write_text("x")
    result = _invoke("--out", str(file), "--losses", "l1", "--steps", "1", "--size", "32x64")
    assert result.exit_code == 2 and "not a folder" in result.output


# --- the effect itself ------------------------------------------------------------------------


def test_corrwise_l1_beats_l1_at_ci_size(tmp_path: Path):
    """Issue 13: the paper's effect at the paper's spread (the default 0.3), CI-sized. Measured
    at these settings, seeds 0-3: corr-wise L1's aligned error is 0.24-0.31x L1's."""
    cfg = ToyConfig(size=(32, 64), steps=100, batch_size=8, progress_frames=2, device="cpu")
    assert cfg.spread == 0.3
    report = run_toy(cfg, parse_loss_list("l1,corr-l1"), tmp_path)
    corr, l1 = report["losses"]["corr-l1"], report["losses"]["l1"]
    assert corr["aligned_error"] < 0.5 * l1["aligned_error"]
    assert corr["sharpness"] > l1["sharpness"]


@pytest.mark.slow
def test_default_run_orders_the_losses(tmp_path: Path):
    """The issues' expectation at the default settings (spread 0.3): corr-wise L1's aligned error
    is at most 0.3x L1's and MSE's (issue 13; measured 0.29x L1's), its sharpness well above
    theirs; MSE and L1 sit at the analytic mean and median."""
    report = run_toy(ToyConfig(device="cpu"), parse_loss_list("mse,l1,corr-l1"), tmp_path)
    losses, refs = report["losses"], report["references"]
    corr, l1, mse = losses["corr-l1"], losses["l1"], losses["mse"]
    assert corr["aligned_error"] <= 0.3 * min(l1["aligned_error"], mse["aligned_error"])
    assert corr["sharpness"] > 0.6 > l1["sharpness"] > mse["sharpness"]
    assert mse["aligned_error"] == pytest.approx(refs["mean"]["aligned_error"], abs=0.01)
    assert l1["aligned_error"] == pytest.approx(refs["median"]["aligned_error"], abs=0.01)
    # The car sits within the training range, not at an edge of the image.
    positions = report["settings"]["positions"]
    assert positions["min"] - 5 <= corr["best_x"] <= positions["max"] + 5

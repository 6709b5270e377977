"""vidpred.eval.metrics against the references: scikit-image (PSNR, SSIM) and the lpips package;
vidpred.eval.stats (mean, std, bootstrap interval) at the end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vidpred import weights
from vidpred.errors import SpecError, VidpredError, WeightsMissingError
from vidpred.eval import metrics
from vidpred.eval.metrics import (
    PSNR_CAP,
    LPIPSMetric,
    capped_psnr,
    compute_metrics,
    plan_metrics,
    psnr,
    ssim,
)
from vidpred.eval.stats import paired, summarize, summarize_metrics

TOL = 1e-4  # the per-frame tolerance against skimage


def sk_psnr(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    p, t = pred.double().numpy(), target.double().numpy()  # (N, C, H, W)
    return np.array([peak_signal_noise_ratio(t[i], p[i], data_range=1) for i in range(len(p))])


def sk_ssim(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    p, t = pred.double().numpy(), target.double().numpy()
    return np.array(
        [
            structural_similarity(
                t[i], p[i], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                data_range=1, channel_axis=0,
            )
            for i in range(len(p))
        ]
    )  # fmt: skip


def scene(N: int, C: int, H: int, W: int, seed: int) -> torch.Tensor:
    """Real-looking frames (N, C, H, W) in [0, 1]: smooth gradients, a few flat shapes, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W] / max(H, W)
    out = np.empty((N, C, H, W))
    for n in range(N):
        for c in range(C):
            a, b, ph = rng.uniform(1, 6, size=3)
            img = 0.5 + 0.3 * np.sin(a * x + ph) * np.cos(b * y)
            for _ in range(3):  # flat rectangles and discs with sharp edges
                cy, cx, r = rng.uniform(0, H), rng.uniform(0, W), rng.uniform(2, max(H, W) / 3)
                shape = (
                    (np.abs(y * max(H, W) - cy) < r) & (np.abs(x * max(H, W) - cx) < r / 2)
                    if rng.random() < 0.5
                    else (y * max(H, W) - cy) ** 2 + (x * max(H, W) - cx) ** 2 < r**2
                )
                img[shape] = rng.uniform(0, 1)
            out[n, c] = img + 0.02 * rng.standard_normal((H, W))
    return torch.from_numpy(np.clip(out, 0, 1)).float()


def degrade(frames: torch.Tensor, seed: int) -> torch.Tensor:
    """A plausible prediction: shifted by a pixel, slightly blurred, noisier."""
    g = torch.Generator().manual_seed(seed)
    shifted = torch.roll(frames, shifts=1, dims=-1)
    blurred = (shifted + torch.roll(shifted, 1, dims=-2)) / 2
    return (blurred + 0.03 * torch.randn(frames.shape, generator=g)).clamp(0, 1)


def quantise(frames: torch.Tensor) -> torch.Tensor:
    return (frames * 255).round() / 255


CASES = {
    "random": lambda: (torch.rand(4, 3, 33, 47), torch.rand(4, 3, 33, 47)),
    "scene": lambda: (degrade(scene(4, 3, 40, 56, 1), 2), scene(4, 3, 40, 56, 1)),
    "uint8": lambda: (
        quantise(degrade(scene(3, 3, 64, 64, 3), 4)),
        quantise(scene(3, 3, 64, 64, 3)),
    ),
    "grey_min_size": lambda: (scene(3, 1, 11, 11, 5), degrade(scene(3, 1, 11, 11, 5), 6)),
}


@pytest.mark.parametrize("case", CASES)
def test_psnr_matches_skimage_per_frame(case):
    pred, target = CASES[case]()
    np.testing.assert_allclose(psnr(pred, target).numpy(), sk_psnr(pred, target), rtol=0, atol=TOL)


@pytest.mark.parametrize("case", CASES)
def test_ssim_matches_skimage_per_frame(case):
    pred, target = CASES[case]()
    np.testing.assert_allclose(ssim(pred, target).numpy(), sk_ssim(pred, target), rtol=0, atol=TOL)


def test_ssim_float64_input_is_exact_and_chunks_do_not_matter(monkeypatch):
    pred, target = degrade(scene(5, 3, 24, 20, 7), 8).double(), scene(5, 3, 24, 20, 7).double()
    ref = sk_ssim(pred, target)
    np.testing.assert_allclose(ssim(pred, target).numpy(), ref, rtol=0, atol=1e-12)
    monkeypatch.setattr(metrics, "_CPU_CHUNK_BYTES", 1)  # one frame per chunk
    np.testing.assert_allclose(ssim(pred, target).numpy(), ref, rtol=0, atol=1e-12)


def test_video_shape_gives_per_frame_values():
    pred, target = degrade(scene(6, 3, 16, 16, 9), 10), scene(6, 3, 16, 16, 9)
    B, T = 2, 3
    p5, t5 = pred.reshape(B, T, 3, 16, 16), target.reshape(B, T, 3, 16, 16)
    for fn in (psnr, ssim):
        out = fn(p5, t5)
        assert out.shape == (B, T) and out.dtype == torch.float64
        torch.testing.assert_close(out.flatten(), fn(pred, target), rtol=0, atol=1e-12)


def test_clip_psnr_is_mean_of_frame_psnrs_not_psnr_of_mean_mse():
    target = torch.full((1, 2, 3, 16, 16), 0.5, dtype=torch.float64)
    pred = target.clone()
    pred[0, 0] += 0.01  # frame 0: MSE 1e-4 -> 40 dB
    pred[0, 1] += 0.1  # frame 1: MSE 1e-2 -> 20 dB
    per_frame = psnr(pred, target)
    torch.testing.assert_close(per_frame, torch.tensor([[40.0, 20.0]], dtype=torch.float64))
    assert abs(per_frame.mean().item() - 30.0) < 1e-6  # PSNR of the mean MSE would be ~23 dB


def test_perfect_prediction():
    x = scene(2, 3, 20, 20, 11)
    assert torch.isinf(psnr(x, x)).all()
    torch.testing.assert_close(ssim(x, x), torch.ones(2, dtype=torch.float64))


def test_psnr_cap_is_one_grey_level_everywhere():
    # Issue 10: 8-bit video cannot tell an error below one grey level from none at all.
    assert abs(PSNR_CAP - 48.1308) < 1e-4
    still = scene(1, 3, 16, 16, 12).expand(4, 3, 16, 16)  # (T, C, H, W): a static clip
    copy_last = still[:-1]  # each frame predicted by the one before it
    assert (capped_psnr(copy_last, still[1:]) == PSNR_CAP).all()
    assert (capped_psnr(still + 0.4 / 255, still) == PSNR_CAP).all()  # ~56 dB uncapped
    assert psnr(still + 0.4 / 255, still)[0] > 55
    off_by_two = capped_psnr(still + 2 / 255, still)
    torch.testing.assert_close(off_by_two, torch.full((4,), 20 * np.log10(255 / 2)).double())
    assert (compute_metrics(still, still, metrics=("psnr",))["psnr"] == PSNR_CAP).all()


@pytest.mark.parametrize(
    "pred, target, match",
    [
        (torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 17), "shapes differ"),
        (torch.rand(3, 16, 16), torch.rand(3, 16, 16), r"\(N, C, H, W\)"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8),) * 2 + ("float frames",),
    ],
)
def test_bad_input_raises(pred, target, match):
    for fn in (psnr, ssim):
        with pytest.raises(ValueError, match=match):
            fn(pred, target)


def test_ssim_needs_the_window():
    with pytest.raises(ValueError, match=r"at least 11x11.*\(1, 3, 10, 32\)"):
        ssim(torch.rand(1, 3, 10, 32), torch.rand(1, 3, 10, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_matches_cpu():
    pred, target = degrade(scene(4, 3, 48, 48, 12), 13), scene(4, 3, 48, 48, 12)
    for fn in (psnr, ssim):
        torch.testing.assert_close(fn(pred.cuda(), target.cuda()).cpu(), fn(pred, target))


# --- LPIPS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lpips_random():
    return LPIPSMetric(net="alex", pretrained=False, batch_size=3)


def reference_lpips(metric: LPIPSMetric):
    """A separate `lpips.LPIPS` with the same weights, called the package's documented way."""
    import lpips

    with warnings.catch_warnings():  # lpips passes torchvision the deprecated `pretrained`
        warnings.simplefilter("ignore", UserWarning)
        ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    ref.load_state_dict(metric.model.state_dict())
    return ref.eval()


def test_lpips_matches_package(lpips_random):
    pred, target = degrade(scene(5, 3, 64, 64, 14), 15), scene(5, 3, 64, 64, 14)
    ref = reference_lpips(lpips_random)
    with torch.no_grad():
        expected = ref(pred, target, normalize=True).flatten().double()  # [0, 1] inputs
    out = lpips_random(pred, target)
    assert out.shape == (5,) and out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    video = lpips_random(pred.reshape(1, 5, 3, 64, 64), target.reshape(1, 5, 3, 64, 64))
    torch.testing.assert_close(video.flatten(), expected, rtol=0, atol=1e-5)


def test_lpips_module_is_frozen_and_perfect_prediction_is_zero(lpips_random):
    assert not lpips_random.training
    assert not any(p.requires_grad for p in lpips_random.parameters())
    lpips_random.train()  # a trainer's .train() must not switch dropout on
    assert not lpips_random.training
    x = scene(2, 3, 32, 32, 16)
    torch.testing.assert_close(lpips_random(x, x), torch.zeros(2, dtype=torch.float64))


def test_lpips_grey_frames_are_repeated_to_rgb(lpips_random):
    pred, target = scene(2, 1, 32, 32, 17), scene(2, 1, 32, 32, 18)
    torch.testing.assert_close(
        lpips_random(pred, target),
        lpips_random(pred.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)),
    )


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """torch.hub's cache pointed at an empty folder, as on a fresh machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    assert weights.checkpoints_dir() == tmp_path / "torch" / "hub" / "checkpoints"
    return weights.checkpoints_dir()


def test_lpips_loads_trunk_from_weights_cache(empty_cache):
    """The trunk comes from the torchvision file vidpred.weights locates: check the features at
    the five ReLUs lpips taps against torchvision's own alexnet holding the same file."""
    from torchvision.models import alexnet

    torch.manual_seed(0)
    tv = alexnet()
    state = {k: v for k, v in tv.state_dict().items() if k.startswith("features.")}
    empty_cache.mkdir(parents=True)
    torch.save(state, weights.get_entry("lpips-alex").path)

    metric = LPIPSMetric(net="alex", pretrained=True)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ours = metric.model.net(x)
        h, expected = x, []
        for i, layer in enumerate(tv.features[:12]):
            h = layer(h)
            if i in (1, 4, 7, 9, 11):  # relu1 .. relu5
                expected.append(h)
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_lpips_without_weights_raises_with_fix(empty_cache):
    with pytest.raises(WeightsMissingError, match="vidpred weights fetch lpips-alex"):
        LPIPSMetric(net="alex")
    assert issubclass(WeightsMissingError, VidpredError)  # the CLI turns it into exit 2


def test_plan_skips_lpips_with_notice_when_not_asked(empty_cache):
    chosen, notice = plan_metrics(None)
    assert chosen == ("psnr", "ssim")
    assert "vidpred weights fetch lpips-alex" in notice and "\n" not in notice
    assert plan_metrics(None, lpips_net="vgg")[1].count("lpips-vgg") >= 1


def test_plan_raises_when_lpips_asked_explicitly(empty_cache):
    with pytest.raises(WeightsMissingError, match="vidpred weights fetch lpips-alex"):
        plan_metrics(["psnr", "lpips"])
    assert plan_metrics(["SSIM", "psnr", "ssim"]) == (("ssim", "psnr"), None)


def test_plan_with_weights_present_keeps_lpips(empty_cache):
    empty_cache.mkdir(parents=True)
    weights.get_entry("lpips-alex").path.write_bytes(b"present")
    assert plan_metrics(None) == (("psnr", "ssim", "lpips"), None)
    assert plan_metrics(["lpips"]) == (("lpips",), None)


@pytest.mark.parametrize("requested", [["psnr", "fid"], [], [" "]])
def test_plan_rejects_unknown_metrics(requested):
    with pytest.raises(SpecError, match="choose from psnr, ssim, lpips"):
        plan_metrics(requested)


def test_compute_metrics(lpips_random):
    pred, target = degrade(scene(4, 3, 32, 32, 19), 20), scene(4, 3, 32, 32, 19)
    p5, t5 = pred.reshape(2, 2, 3, 32, 32), target.reshape(2, 2, 3, 32, 32)
    out = compute_metrics(p5, t5, lpips_model=lpips_random)
    assert list(out) == ["psnr", "ssim", "lpips"]
    assert all(v.shape == (2, 2) and v.dtype == torch.float64 for v in out.values())
    torch.testing.assert_close(out["ssim"], ssim(p5, t5))
    torch.testing.assert_close(out["lpips"].flatten(), lpips_random(pred, target))
    assert list(compute_metrics(pred, target, metrics=("ssim",))) == ["ssim"]
    with pytest.raises(ValueError, match="lpips_model"):
        compute_metrics(pred, target)
    with pytest.raises(ValueError, match="unknown metrics"):
        compute_metrics(pred, target, metrics=("psnr", "fid"))


@pytest.mark.slow
def test_lpips_vgg_matches_package():
    import lpips

    metric = LPIPSMetric(net="vgg", pretrained=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)
    ref.load_state_dict(metric.model.state_dict())
    pred, target = degrade(scene(2, 3, 64, 64, 21), 22), scene(2, 3, 64, 64, 21)
    with torch.no_grad():
        expected = ref.eval()(pred * 2 - 1, target * 2 - 1).flatten().double()
    torch.testing.assert_close(metric(pred, target), expected, rtol=0, atol=1e-5)


# --- vidpred.eval.stats (the numbers the report shows) -------------------------------------------


def test_summary_statistics_per_clip_and_per_step():
    rng = np.random.default_rng(0)
    values = rng.normal(30, 2, size=(400, 3)) + np.array([0.0, -1.0, -2.0])  # (clips, steps)
    s = summarize(values)
    clip_scores = values.mean(axis=1)
    assert s["n"] == 400 and len(s["per_step"]) == 3
    assert s["mean"] == pytest.approx(values.mean())
    assert s["std"] == pytest.approx(clip_scores.std(ddof=1))
    half = 1.96 * clip_scores.std(ddof=1) / np.sqrt(400)  # normal theory, for comparison
    lo, hi = s["ci95"]
    assert lo < s["mean"] < hi and (hi - lo) == pytest.approx(2 * half, rel=0.15)
    for t, step in enumerate(s["per_step"]):
        assert step["mean"] == pytest.approx(values[:, t].mean())
        assert step["std"] == pytest.approx(values[:, t].std(ddof=1))
        assert step["ci95"][0] < step["mean"] < step["ci95"][1]
    assert summarize(values) == s  # fixed seed: reruns give the same intervals
    assert summarize(values, seed=1)["ci95"] != s["ci95"]


def test_bootstrap_draws_are_shared_between_metrics():
    values = np.random.default_rng(1).random((25, 2))
    a, b = summarize(values), summarize(values + 1.0)  # same clips, shifted metric
    assert np.allclose(np.array(b["ci95"]) - a["ci95"], 1.0)


def test_single_clip_and_bad_shapes():
    s = summarize([0.75])
    assert s == {
        "n": 1,
        "mean": 0.75,
        "std": 0.0,
        "ci95": [0.75, 0.75],
        "per_step": [{"mean": 0.75, "std": 0.0, "ci95": [0.75, 0.75]}],
    }
    for bad in ([], np.zeros((2, 0)), np.zeros((2, 2, 2))):
        with pytest.raises(ValueError, match="n_clips, T"):
            summarize(bad)


def test_infinite_values_propagate_without_spoiling_other_steps():
    values = np.full((4, 2), 30.0)
    values[0, 1] = np.inf  # PSNR of a perfect frame
    s = summarize(values)
    assert s["mean"] == np.inf and s["per_step"][1]["mean"] == np.inf
    assert s["per_step"][0] == {"mean": 30.0, "std": 0.0, "ci95": [30.0, 30.0]}
    assert repr(summarize_metrics({"psnr": values})["psnr"]) == repr(s)  # nan != nan


# --- paired comparison with a baseline (issue 10) ------------------------------------------------


def test_paired_delta_and_win_rate_on_hand_made_numbers():
    model = np.array([30.0, 31.0, 29.0, 32.0])
    base = np.array([29.0, 31.0, 30.0, 30.0])  # deltas 1, 0, -1, 2: a win, a tie, a loss, a win
    p = paired(model, base)
    assert p["delta"] == pytest.approx(0.5) and p["win_rate"] == pytest.approx(2.5 / 4)
    assert set(p) == {"delta", "ci95", "win_rate"}
    # Lower is better (LPIPS): the delta keeps its sign, wins are counted the other way.
    q = paired(np.array([0.1, 0.2, 0.4]), np.array([0.2, 0.2, 0.3]), higher_is_better=False)
    assert q["delta"] == pytest.approx(0.0) and q["win_rate"] == pytest.approx(1.5 / 3)
    # Several steps per window: a window's score is its mean over the steps.
    r = paired(np.array([[30.0, 28.0], [30.0, 30.0]]), np.array([[29.0, 30.0], [31.0, 28.0]]))
    assert r["delta"] == pytest.approx(0.0) and r["win_rate"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one shape"):
        paired(np.zeros(3), np.zeros(4))


def test_paired_ci95_is_a_bootstrap_of_the_differences_with_the_same_draws():
    rng = np.random.default_rng(5)
    base = rng.normal(30, 3, size=40)
    model = base + rng.normal(0.3, 0.5, size=40)  # correlated with the baseline, as real pairs
    got = paired(model, base)
    # By hand: draw 40 windows with replacement 1000 times (seed 0, as `summarize`), average the
    # differences of the drawn windows, take the 2.5th and 97.5th percentiles.
    counts = np.random.default_rng(0).multinomial(40, np.full(40, 1 / 40), size=1000)
    d = model - base
    means = [d[np.repeat(np.arange(40), c)].mean() for c in counts]
    assert got["ci95"] == pytest.approx(list(np.percentile(means, [2.5, 97.5])), rel=1e-12)
    # Pairing is what makes the interval narrow: the unpaired intervals overlap widely.
    lo, hi = got["ci95"]
    assert 0 < lo < hi and hi - lo < 0.5 * (
        summarize(model)["ci95"][1] - summarize(model)["ci95"][0]
    )

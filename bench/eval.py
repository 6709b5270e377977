"""PSNR + SSIM throughput: vidpred.eval.metrics versus a plain scikit-image loop, in one run.

    python bench/eval.py [--video FILE] [--frames 64] [--size 256] [--repeats 5]
                         [--json bench/results/eval.json]

Both sides get the same frame pairs: consecutive frames of a real video (the "copy last frame"
prediction: frame t-1 predicts frame t), RGB at size x size, or synthetic frames when no video is
found. vidpred takes them as one float32 `(N, 3, H, W)` tensor; the loop calls
`peak_signal_noise_ratio` and `structural_similarity` (Wang et al. settings) frame by frame on
`(H, W, 3)` arrays, once in float32 (the same arrays, skimage's faster path) and once in float64
(`img_as_float`'s type). Each method runs `--repeats` times, interleaved, and keeps its fastest
run. The values are compared in the same run (max abs difference per frame). vidpred runs with
torch's default threads and again with one thread (core for core with the skimage loop, which
runs on one core). On a machine where other processes hold cores, torch's multi-threaded runs
slow down badly (each small op waits on a busy core); the one-thread numbers are the stable ones.

Goal (issue "vidpred eval"): >= 5x the float32 loop's frames/s on the CPU at 256x256.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vidpred.eval.metrics import psnr, ssim

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = ROOT.parent / "shared/data/bigbuckbunny.mp4"


def video_frames(path: Path, count: int, size: int, skip: int = 48) -> np.ndarray:
    """`count` consecutive uint8 (size, size, 3) frames, after skipping the first `skip`."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= skip:
                frames.append(frame.to_ndarray(format="rgb24", width=size, height=size))
            if len(frames) == count:
                break
    if len(frames) < count:
        raise SystemExit(f"{path}: only {len(frames)} frames after skipping {skip}")
    return np.stack(frames)


def synthetic_frames(count: int, size: int) -> np.ndarray:
    """Smooth colour waves drifting right plus noise, uint8 (count, size, size, 3)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    frames = np.empty((count, size, size, 3))
    for t in range(count):
        for c in range(3):
            frames[t, ..., c] = 0.5 + 0.35 * np.sin(9 * x + 0.2 * t + c) * np.cos(6 * y - c)
    frames += 0.03 * rng.standard_normal(frames.shape)
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def skimage_loop(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-frame loop a user would write: `pred`, `target` (N, H, W, 3) float arrays."""
    p_out = np.empty(len(pred))
    s_out = np.empty(len(pred))
    for i in range(len(pred)):
        p_out[i] = peak_signal_noise_ratio(target[i], pred[i], data_range=1)
        s_out[i] = structural_similarity(
            target[i],
            pred[i],
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1,
            channel_axis=-1,
        )
    return p_out, s_out


def vidpred_metrics(
    pred: torch.Tensor, target: torch.Tensor, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """vidpred's batched metrics, with torch's default threads or `threads` for this call."""
    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        return psnr(pred, target).numpy(), ssim(pred, target).numpy()
    finally:
        torch.set_num_threads(default)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO if DEFAULT_VIDEO.exists() else None)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=ROOT / "bench/results/eval.json")
    args = ap.parse_args()

    N = args.frames
    if args.video is not None:
        clip = video_frames(args.video, N + 1, args.size)
        source = str(args.video)
    else:
        clip = synthetic_frames(N + 1, args.size)
        source = "synthetic"
    frames = torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255  # (N + 1, 3, H, W)
    pred, target = frames[:-1].contiguous(), frames[1:].contiguous()  # copy-last-frame pairs
    pred32 = pred.permute(0, 2, 3, 1).numpy().copy()  # (N, H, W, 3): same values, skimage layout
    target32 = target.permute(0, 2, 3, 1).numpy().copy()
    pred64, target64 = pred32.astype(np.float64), target32.astype(np.float64)

    methods = {
        "vidpred": lambda: vidpred_metrics(pred, target),
        "vidpred_1_thread": lambda: vidpred_metrics(pred, target, threads=1),
        "skimage_float32": lambda: skimage_loop(pred32, target32),
        "skimage_float64": lambda: skimage_loop(pred64, target64),
    }
    load_before = os.getloadavg()[0]
    values = {name: fn() for name, fn in methods.items()}  # also the warm-up
    best = dict.fromkeys(methods, float("inf"))
    for _ in range(args.repeats):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)

    ref_psnr, ref_ssim = values["skimage_float64"]
    ours_psnr, ours_ssim = values["vidpred"]
    f32_psnr, f32_ssim = values["skimage_float32"]
    fps = {name: N / t for name, t in best.items()}
    result = {
        "frames": N,
        "size": [args.size, args.size],
        "source": source,
        "repeats": args.repeats,
        "seconds": best,
        "frames_per_s": fps,
        "ratio_vs_skimage_float32": fps["vidpred"] / fps["skimage_float32"],
        "ratio_vs_skimage_float64": fps["vidpred"] / fps["skimage_float64"],
        "ratio_1_thread_vs_skimage_float32": fps["vidpred_1_thread"] / fps["skimage_float32"],
        "ratio_1_thread_vs_skimage_float64": fps["vidpred_1_thread"] / fps["skimage_float64"],
        "max_abs_diff": {
            "psnr_vs_float64": float(np.abs(ours_psnr - ref_psnr).max()),
            "ssim_vs_float64": float(np.abs(ours_ssim - ref_ssim).max()),
            "psnr_vs_float32": float(np.abs(ours_psnr - f32_psnr).max()),
            "ssim_vs_float32": float(np.abs(ours_ssim - f32_ssim).max()),
        },
        "mean": {"psnr": float(ref_psnr.mean()), "ssim": float(ref_ssim.mean())},
        "machine": {
            "torch_threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "load_average_1min": [load_before, os.getloadavg()[0]],  # before, after
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
    }
    for name in methods:
        print(f"{name:>16}: {fps[name]:8.1f} frames/s ({best[name]:.3f} s for {N})")
    for threads in ("", "_1_thread"):
        label = f"vidpred{threads.replace('_', ' ')}"
        for ref in ("float32", "float64"):
            ratio = result[f"ratio{threads}_vs_skimage_{ref}"]
            print(f"{label} vs skimage {ref} loop: {ratio:.2f}x")
    diffs = result["max_abs_diff"]
    print(
        f"max abs diff vs skimage float64: PSNR {diffs['psnr_vs_float64']:.2e} dB, "
        f"SSIM {diffs['ssim_vs_float64']:.2e}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

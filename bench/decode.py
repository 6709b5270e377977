"""Dataset reading vs a plain PyAV decode loop, in one run.

    python bench/decode.py [VIDEO ...] [--size 64] [--json bench/results/decode.json]

- plain: `container.decode` + `to_ndarray("rgb24")` over every frame of every file (what a
  naive dataset does per epoch), source frames per second;
- cold: a fresh cache: decode once into it (resized while decoding) and read every window once;
  source frames per second of that first pass;
- warm: the cache already built: every window read through `ClipDataset`, frames delivered per
  second (each window delivers context + horizon frames).

Goals (issue 2): cold >= 0.8x plain, warm >= 20x plain.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import av
import torch

from vidpred.data import ClipDataset, FrameCache, load_clips

ROOT = Path(__file__).resolve().parent.parent


def plain_decode(paths: list[Path]) -> tuple[int, float]:
    t0, n = time.perf_counter(), 0
    for p in paths:
        with av.open(str(p)) as c:
            for frame in c.decode(video=0):
                frame.to_ndarray(format="rgb24")
                n += 1
    return n, time.perf_counter() - t0


def read_all_windows(ds: ClipDataset) -> int:
    frames = 0
    for i in range(len(ds)):
        frames += ds[i].shape[0]
    return frames


def main() -> None:
    ap = argparse.ArgumentParser()
    default = [ROOT / "sample_videos", ROOT.parent / "shared/data/bigbuckbunny.mp4"]
    ap.add_argument("videos", nargs="*", type=Path, default=[p for p in default if p.exists()])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--context", type=int, default=3)
    ap.add_argument("--horizon", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "bench/results/decode.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    paths = sorted(p for v in args.videos for p in ([v] if v.is_file() else v.rglob("*.mp4")))
    size, frames = (args.size, args.size), args.context + args.horizon

    n_src, t_plain = plain_decode(paths)
    with tempfile.TemporaryDirectory() as tmp:
        cache = FrameCache(Path(tmp))
        t0 = time.perf_counter()
        clips, _ = load_clips(paths, size=size, frames=frames, cache=cache)
        ds = ClipDataset(clips, frames=frames, size=size, train=True)
        read_all_windows(ds)
        t_cold = time.perf_counter() - t0
        clips, _ = load_clips(paths, size=size, frames=frames, cache=cache)  # all hits
        ds = ClipDataset(clips, frames=frames, size=size, train=True)
        t0 = time.perf_counter()
        delivered = read_all_windows(ds)
        t_warm = time.perf_counter() - t0

    plain_fps = n_src / t_plain
    result = {
        "files": [str(p) for p in paths],
        "source_frames": n_src,
        "windows": len(ds),
        "size": list(size),
        "plain_fps": plain_fps,
        "cold_fps": n_src / t_cold,
        "warm_fps": delivered / t_warm,
        "cold_vs_plain": (n_src / t_cold) / plain_fps,
        "warm_vs_plain": (delivered / t_warm) / plain_fps,
        "machine": {"cpu_threads": torch.get_num_threads(), "python": platform.python_version()},
    }
    for k in ("cold_vs_plain", "warm_vs_plain"):
        print(f"{k}: {result[k]:.2f}x")
    print(f"({n_src} source frames in {len(paths)} files, {len(ds)} windows at {size})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

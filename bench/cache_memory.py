"""Peak memory while caching a long 1080p video (issue 2: must stay under 1 GiB).

    python bench/cache_memory.py [--seconds 600] [--fps 30] [--size 128]

Encodes a synthetic 1920x1080 H.264 clip of `--seconds` (a moving texture, libx264 ultrafast),
then caches it in a fresh child process, as `vidpred train` would, and reports the child's peak
resident memory (ru_maxrss) next to a baseline child that only imports vidpred. Saves JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys, time, resource
from pathlib import Path
from vidpred.data import FrameCache, working_size
from vidpred.io.sources import open_source
t0 = time.perf_counter()
if sys.argv[1] != "-":
    source = open_source(sys.argv[1])
    size = working_size((source.info.height, source.info.width), (int(sys.argv[3]),) * 2)
    clip = FrameCache(Path(sys.argv[2])).get(source, size)
    print(clip.frames, clip.height, clip.width)
else:
    print(0, 0, 0)
print(time.perf_counter() - t0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
"""


def make_video(path: Path, seconds: int, fps: int) -> int:
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(1080 + 64, 1920 + 64, 3), dtype=np.uint8)
    n = seconds * fps
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "35"}
        for i in range(n):
            y, x = (i // 3) % 64, i % 64
            frame = av.VideoFrame.from_ndarray(texture[y : y + 1080, x : x + 1920], format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return n


def run_child(video: str, cache: Path, size: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, video, str(cache), str(size)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    frames, h, w = map(int, out[0].split())
    return {
        "frames": frames,
        "cached_hw": [h, w],
        "seconds": float(out[1]),
        "peak_rss_mib": int(out[2]) / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--json", type=Path, default=ROOT / "bench/results/cache_memory.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long1080p.mp4"
        t0 = time.perf_counter()
        n = make_video(video, args.seconds, args.fps)
        encode_s = time.perf_counter() - t0
        baseline = run_child("-", Path(tmp) / "cache", args.size)
        cached = run_child(str(video), Path(tmp) / "cache", args.size)
        size_mib = video.stat().st_size / 2**20
    result = {
        "video": {
            "width": 1920,
            "height": 1080,
            "frames": n,
            "fps": args.fps,
            "file_mib": size_mib,
            "encode_s": encode_s,
        },
        "import_only_peak_rss_mib": baseline["peak_rss_mib"],
        "caching": cached,
        "limit_mib": 1024,
        "ru_maxrss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(
        f"{n} frames of 1080p cached at {cached['cached_hw']}: peak RSS "
        f"{cached['peak_rss_mib']:.0f} MiB (import alone {baseline['peak_rss_mib']:.0f} MiB; "
        f"limit 1024 MiB)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Does a training loss rank the two zero-parameter predictions the way PSNR does?

For every window of every clip (centre crop at the working size, horizon 1), the next frame is
predicted by `copy-last` and by `linear` (DIS, constant velocity), and each prediction is scored
with PSNR and with losses `vidpred train --loss` offers (l1, mse, corr-l1, corr-l1+mse,
l1+corr-l1, as training computes them: `vidpred.losses.build_loss`). Per clip it prints how much
worse copy-last is than linear under each: PSNR in dB, each loss as a relative change (+10% =
copy-last's loss is 10% higher, so the loss, like PSNR, prefers linear).

A loss that barely tells the two apart cannot teach a flow head *where* things go, only how they
look: the reason behind the flow head's measurements with corr-l1 in the README. Saves JSON.

    python bench/loss_ranking.py                     # the sample clips + the shared bunny clip
    python bench/loss_ranking.py clips/*.mp4 --size 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quality import default_clips, windows_of  # noqa: E402  (bench/, the script's folder)

from vidpred.eval.baselines import baseline_frames  # noqa: E402
from vidpred.eval.metrics import capped_psnr  # noqa: E402
from vidpred.flow.backends import build_flow  # noqa: E402
from vidpred.losses import build_loss  # noqa: E402

LOSSES = ("l1", "mse", "corr-l1", "corr-l1+mse", "l1+corr-l1")
CONTEXT = 3


def rank_clip(path: Path, *, size: int, flow, losses: dict, max_windows: int) -> dict:
    """Mean PSNR and losses of copy-last and linear over the windows of one clip."""
    windows = windows_of([path], frames=CONTEXT + 1, size=size, time_split=None)[:max_windows]
    n = len(windows)  # (N, K + 1, C, H, W)
    context, truth = windows[:, :CONTEXT], windows[:, CONTEXT:]
    scores: dict[str, dict[str, float]] = {}
    for name in ("copy-last", "linear"):
        pred = baseline_frames(name, context, 1, flow=flow)  # (N, 1, C, H, W)
        row = {"psnr": capped_psnr(pred, truth).mean().item()}
        with torch.no_grad():
            for spec, loss_fn in losses.items():
                row[spec] = loss_fn(pred, truth)[0].item()
        scores[name] = row
    copy, lin = scores["copy-last"], scores["linear"]
    return {
        "windows": n,
        "scores": scores,
        "copy_minus_linear_psnr_db": copy["psnr"] - lin["psnr"],
        "copy_vs_linear_loss_rel": {s: copy[s] / lin[s] - 1 for s in losses},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path, default=default_clips())
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--max-windows", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/loss_ranking.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    flow = build_flow("dis")
    losses = {spec: build_loss(spec, flow=flow) for spec in LOSSES}
    rows = {}
    head = f"{'clip':28s} {'windows':>7s} {'PSNR dB':>8s}" + "".join(f"{s:>13s}" for s in LOSSES)
    print("copy-last vs linear, horizon 1: PSNR difference; each loss's relative difference")
    print(head)
    for path in a.clips:
        r = rank_clip(path, size=a.size, flow=flow, losses=losses, max_windows=a.max_windows)
        rows[path.name] = r
        rel = "".join(f"{r['copy_vs_linear_loss_rel'][s]:+13.1%}" for s in LOSSES)
        print(f"{path.name[:28]:28s} {r['windows']:7d} {r['copy_minus_linear_psnr_db']:+8.2f}{rel}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "size": a.size,
        "threads": a.threads,
        "max_windows": a.max_windows,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
    }
    a.out.write_text(json.dumps({"meta": meta, "clips": rows}, indent=1) + "\n")
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()

"""Which head and loss to train by default: {pixels, flow} x {l1, corr-l1, corr-l1+mse,
l1+corr-l1}, each trained on the same budget, scored against copy-last and linear on windows it
never saw.

    python bench/quality.py                          # the sample clips + the shared bunny clip
    python bench/quality.py --heldout clips/a.mp4 clips/b.mp4 --steps 400

Every config is `vidpred train` with its defaults except `--head` and `--loss` (so whatever
else the defaults say, synthetic share, lr, schedule, is what is measured; `--train-horizon N`
also sets `--horizon N`, and the scoring sets stay the same), `--val-split time`: the last 20%
of every training file is never trained on. Two scoring sets, horizon 1 and 3:
- `time`: windows from those held-back ends (same footage, later frames);
- `heldout`: every `--heldout` file (footage the model never saw at all).
Per set: mean PSNR and SSIM of the model, copy-last and linear; the paired difference to each
baseline with its bootstrap ci95 and win rate over windows (`vidpred.eval.stats.paired`, as
`vidpred eval` reports them); and the sharpness ratio (mean gradient energy of the predictions
/ that of the truth: below 1 is blur). Prints a table, saves JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidpred.config import RunConfig  # noqa: E402
from vidpred.data import ClipDataset, load_clips, split_by_time  # noqa: E402
from vidpred.eval.baselines import baseline_frames  # noqa: E402
from vidpred.eval.metrics import compute_metrics  # noqa: E402
from vidpred.eval.stats import paired  # noqa: E402
from vidpred.flow.backends import build_flow  # noqa: E402
from vidpred.inference import load_model, predict_future  # noqa: E402
from vidpred.train import train  # noqa: E402

LOSSES = ("l1", "corr-l1", "corr-l1+mse", "l1+corr-l1")  # the last: pixel-wise l1 + corr-wise l1
CONFIGS = [(h, loss) for h in ("pixels", "flow") for loss in LOSSES]
SHARED = ROOT.parent / "shared" / "data" / "bigbuckbunny.mp4"


def sharpness(x: torch.Tensor) -> torch.Tensor:
    """Mean squared finite difference (gradient energy) per window: `(B, T, C, H, W)` -> `(B,)`."""
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)


def score(model, windows: torch.Tensor, horizon: int, flow) -> dict:
    """Scores of `model`, copy-last and linear on `windows` `(N, K + horizon, C, H, W)`."""
    K = model.config.context
    psnr, ssim, sharp = {}, {}, {}
    for name in ("model", "copy-last", "linear"):
        p_all, s_all, g_all = [], [], []
        for batch in windows.split(32):
            context, truth = batch[:, :K], batch[:, K:]
            with torch.no_grad():
                if name == "model":
                    pred = predict_future(model, context, horizon)
                else:
                    pred = baseline_frames(name, context, horizon, flow=flow)
            m = compute_metrics(pred, truth, metrics=("psnr", "ssim"))
            p_all.append(m["psnr"].mean(1).numpy())
            s_all.append(m["ssim"].mean(1).numpy())
            g_all.append((sharpness(pred) / sharpness(truth).clamp_min(1e-12)).numpy())
        psnr[name], ssim[name] = np.concatenate(p_all), np.concatenate(s_all)
        sharp[name] = float(np.concatenate(g_all).mean())
    return {
        "windows": int(len(windows)),
        "psnr": {k: float(v.mean()) for k, v in psnr.items()},
        "ssim": {k: float(v.mean()) for k, v in ssim.items()},
        "sharpness": sharp,
        # eval's own paired statistics: mean delta, bootstrap ci95, win rate (ties half)
        "paired_psnr": {b: paired(psnr["model"], psnr[b]) for b in ("copy-last", "linear")},
    }


def default_clips() -> list[Path]:
    """The sample clips, and real footage: the shared bunny clip where it exists, else the
    excerpt of it in sample_videos/ (never both: the same frames would sit on both sides of the
    time split)."""
    clips = sorted((ROOT / "sample_videos").glob("*.mp4"))
    excerpt = ROOT / "sample_videos" / "bigbuckbunny_excerpt.mp4"
    real = SHARED if SHARED.exists() else excerpt
    return [c for c in clips if c != excerpt] + [real]


def windows_of(paths, *, frames: int, size: int, time_split: float | None) -> torch.Tensor:
    """Non-overlapping centre-crop windows of `paths` (only the last `time_split` of each file)."""
    clips, _ = load_clips(paths, size=(size, size), frames=frames)
    if time_split is not None:
        _, clips = split_by_time(clips, val_fraction=time_split, span=frames)
    ds = ClipDataset(clips, frames=frames, size=(size, size), step=frames)
    return torch.stack([ds[i] for i in range(len(ds))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", nargs="+", default=[str(c) for c in default_clips()])
    ap.add_argument("--heldout", nargs="*", default=[], help="files never trained on")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--train-horizon", type=int, default=None, help="frames each training window predicts"
    )
    ap.add_argument("--configs", nargs="*", help="HEAD:LOSS pairs (default: all eight)")
    ap.add_argument("--runs", type=Path, default=Path("runs/bench_quality"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/quality.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    configs = [tuple(c.split(":", 1)) for c in a.configs] if a.configs else CONFIGS
    defaults = RunConfig()
    train_horizon = a.train_horizon or defaults.data.horizon
    frames = defaults.data.context + 3
    sets = {
        "time": windows_of(
            a.data, frames=frames, size=a.size, time_split=defaults.data.val_fraction
        )
    }
    if a.heldout:
        sets["heldout"] = windows_of(a.heldout, frames=frames, size=a.size, time_split=None)
    flow = build_flow("dis")
    results = []
    for head, loss in configs:
        out = a.runs / f"{head}_{loss}"
        cfg = defaults.override(
            "data",
            paths=tuple(a.data),
            size=(a.size, a.size),
            val_split="time",
            horizon=train_horizon,
        )
        cfg = cfg.override("model", head=head).override("loss", spec=loss)
        cfg = cfg.override(
            "train",
            steps=a.steps,
            batch_size=a.batch_size,
            seed=a.seed,
            out=str(out),
            device="cpu",
            sample_every=0,
            val_every=0,
        )
        t0 = time.perf_counter()
        shutil.rmtree(out, ignore_errors=True)  # a fresh run each time
        train(cfg)
        seconds = time.perf_counter() - t0
        model = load_model(out / "model.pt", device=torch.device("cpu"))
        entry = {"head": head, "loss": loss, "train_seconds": round(seconds, 1)}
        for name, w in sets.items():
            for h in (1, 3):
                entry[f"{name}_h{h}"] = score(model, w[:, : defaults.data.context + h], h, flow)
        results.append(entry)
        print(row(entry), flush=True)
    report = {
        "settings": {
            "data": a.data,
            "heldout": a.heldout,
            "steps": a.steps,
            "batch_size": a.batch_size,
            "size": a.size,
            "threads": a.threads,
            "seed": a.seed,
            "train_horizon": train_horizon,
            "defaults": defaults.to_dict(),
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
        "windows": {k: int(len(v)) for k, v in sets.items()},
        "results": results,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))
    print(f"saved {a.out}")


def row(e: dict) -> str:
    parts = [f"{e['head']:6s} {e['loss']:12s}"]
    for key in sorted(k for k in e if k.endswith(("_h1", "_h3"))):
        s = e[key]
        d = s["paired_psnr"]["linear"]
        c = s["paired_psnr"]["copy-last"]
        parts.append(
            f"{key}: {s['psnr']['model']:.2f} dB, vs linear {d['delta']:+.2f} "
            f"[{d['ci95'][0]:+.2f},{d['ci95'][1]:+.2f}], vs copy {c['delta']:+.2f}, "
            f"sharp {s['sharpness']['model']:.2f}"
        )
    return " | ".join(parts)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()

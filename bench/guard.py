"""A linear guard, measured and not shipped: does falling back to `linear` where a model has just
lost to it help on footage the model never saw? Δ PSNR vs `linear` of each model unguarded and
guarded, on the same windows, per set and horizon, with the paired guarded - unguarded
difference and its ci95.

    python bench/guard.py runs/*/model.pt --heldout data/real/heldout/*.mp4 \\
        --sets broad=data/real/broad fresh=data/real/fresh new=data/real/new \\
        confirm=data/real/confirm

The guard: with one frame more than the model's K context frames, the last context frame is
itself a future of the K before it. The model and `linear` both predict it; on each cell of a
`GRID` x `GRID` grid the model is trusted (weight 1) where its mean squared error there is no
higher than linear's, else linear is (weight 0); the weights are bilinearly smoothed to the
frame, and every predicted step is `w * model + (1 - w) * linear`. A window with no frame
before it (the first of a clip, or of a held-back end) keeps the model's prediction. (Tried
first: the same choice for the whole frame; it helped less.) The README has the verdict and
the rule it was judged by; the implementation as a `--guard` option of predict and eval, with
tests, is commit `dc27930` on the branch `experiment/linear-guard`.

Windows, exactly those of the README's tables:
- `time` (the last 20% of each `--data` file, as `bench/quality.py` holds it back) and
  `heldout` (`--heldout` files): quality.py's windows, K + 3 frames, one every K + 3;
- each `--sets NAME=FOLDER`: `vidpred eval`'s windows at that horizon, K + h frames, one every
  K + h (what `bench/unseen.py` scores).
Prints one line per model, set and horizon; saves JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quality import default_clips  # noqa: E402  (bench/, the script's folder)

from vidpred.config import RunConfig  # noqa: E402
from vidpred.data import ClipDataset, load_clips, split_by_time  # noqa: E402
from vidpred.eval.baselines import baseline_frames  # noqa: E402
from vidpred.eval.metrics import compute_metrics  # noqa: E402
from vidpred.eval.stats import paired  # noqa: E402
from vidpred.flow.backends import build_flow  # noqa: E402
from vidpred.flow.motion import extrapolate_linear  # noqa: E402
from vidpred.inference import load_model, predict_future  # noqa: E402

GRID = 8  # cells per side: 8 x 8 px at 64 x 64


def guard_weights(model_pred, linear_pred, truth) -> torch.Tensor:
    """`(B, 1, H, W)`: 1 where `model_pred` is no worse than `linear_pred` against `truth` (each
    `(B, C, H, W)`) in mean squared error over a grid cell, 0 where worse, bilinear between."""
    err_model = F.adaptive_avg_pool2d((model_pred - truth).pow(2).mean(1, keepdim=True), GRID)
    err_linear = F.adaptive_avg_pool2d((linear_pred - truth).pow(2).mean(1, keepdim=True), GRID)
    trust = (err_model <= err_linear).to(truth.dtype)  # (B, 1, GRID, GRID)
    return F.interpolate(trust, size=truth.shape[-2:], mode="bilinear", align_corners=False)


def guard_of(lm, context, flow, checked) -> torch.Tensor:
    """`(B, 1, 1, H, W)` weights of the model's prediction from the last K of `context`
    `(B, K + 1, C, H, W)`, its check on the last frame; `checked` `(B,)` bool: whether the first
    frame is real (else the model is trusted everywhere)."""
    history = context[:, : lm.config.context]  # (B, K, C, H, W)
    weights = guard_weights(
        predict_future(lm, history, 1)[:, 0],
        extrapolate_linear(history, 1, flow=flow)[:, 0],
        context[:, -1],
    )
    weights = torch.where(checked.view(-1, 1, 1, 1), weights, torch.ones_like(weights))
    return weights[:, None]  # (B, 1, 1, H, W): the same at every step


def windows_with_lead(paths, *, frames: int, time_split: float | None = None):
    """`(N, 1 + frames, C, H, W)` centre-crop windows, one every `frames`, each led by the frame
    before it (a copy of its first frame where there is none), and `(N,)` bool: whether that
    frame is real."""
    clips, _ = load_clips(paths, size=(64, 64), frames=frames)
    if time_split is not None:
        _, clips = split_by_time(clips, val_fraction=time_split, span=frames)
    ds = ClipDataset(clips, frames=frames, size=(64, 64), step=frames)
    out, checked = [], []
    for i in range(len(ds)):
        c, start = ds.locate(i)
        window = ds[i]  # (frames, C, H, W)
        if start > 0:  # the same centre crop of one frame more
            part = ds.clips[c].part(start - 1, start + frames)
            led = ClipDataset([part], frames=frames + 1, size=(64, 64))[0]
            assert torch.equal(led[1:], window)
        else:
            led = torch.cat([window[:1], window])
        out.append(led)
        checked.append(start > 0)
    return torch.stack(out), torch.tensor(checked)


def psnr(pred: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    return compute_metrics(pred, truth, metrics=("psnr",))["psnr"].mean(1).numpy()


def score(lm, windows: torch.Tensor, checked: torch.Tensor, horizon: int, flow) -> dict:
    """Δ PSNR vs linear of the model and of the guarded model on `windows`, and their paired
    difference."""
    K = lm.config.context
    values: dict[str, list] = {"model": [], "guarded": [], "linear": []}
    for w, c in zip(windows.split(32), checked.split(32), strict=True):
        context, truth = w[:, 1 : 1 + K], w[:, 1 + K : 1 + K + horizon]
        with torch.no_grad():  # the guarded prediction blends the two it is scored against
            model = predict_future(lm, context, horizon)
            linear = baseline_frames("linear", context, horizon, flow=flow)
            weights = guard_of(lm, w[:, : 1 + K], flow, c)
            values["model"].append(psnr(model, truth))
            values["guarded"].append(psnr(weights * model + (1 - weights) * linear, truth))
            values["linear"].append(psnr(linear, truth))
    v = {k: np.concatenate(x) for k, x in values.items()}
    return {
        "windows": len(v["linear"]),
        "checked": int(checked.sum()),
        "model_vs_linear": paired(v["model"], v["linear"]),
        "guarded_vs_linear": paired(v["guarded"], v["linear"]),
        "guarded_vs_model": paired(v["guarded"], v["model"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--data", nargs="*", default=[str(c) for c in default_clips()])
    ap.add_argument("--heldout", nargs="*", default=[])
    ap.add_argument("--sets", nargs="*", default=[], help="NAME=FOLDER, scored as eval does")
    ap.add_argument("--horizons", nargs="+", type=int, default=[1, 3])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/guard.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = RunConfig().data
    K = data.context
    quality = {}  # quality.py's windows serve every horizon up to 3
    if a.data:
        quality["time"] = windows_with_lead(a.data, frames=K + 3, time_split=data.val_fraction)
    if a.heldout:
        quality["heldout"] = windows_with_lead(a.heldout, frames=K + 3)
    sets = {}  # (name, horizon) -> (windows, checked)
    for h in a.horizons:
        sets |= {(name, h): w for name, w in quality.items()}
        for spec in a.sets:
            name, _, folder = spec.partition("=")
            sets[name, h] = windows_with_lead([folder], frames=K + h)
    flow = build_flow("dis")
    results = []
    for model in a.models:
        lm = load_model(model)
        if lm.config.context != K:
            raise SystemExit(f"{model}: context {lm.config.context}; these windows are for {K}")
        for (name, h), (windows, checked) in sets.items():
            entry = {"model": str(model), "set": name, "horizon": h}
            entry |= score(lm, windows, checked, h, flow)
            results.append(entry)
            m, g = entry["model_vs_linear"]["delta"], entry["guarded_vs_linear"]["delta"]
            d = entry["guarded_vs_model"]
            lo, hi = d["ci95"]
            print(
                f"{model} {name} h={h}: vs linear {m:+.3f} unguarded, {g:+.3f} guarded "
                f"(guarded - unguarded {d['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}])",
                flush=True,
            )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"data": a.data, "heldout": a.heldout, "sets": a.sets, "threads": a.threads}
    a.out.write_text(json.dumps({"settings": settings, "results": results}, indent=1))
    print(f"saved {a.out}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()

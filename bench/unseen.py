"""Trained models on real footage they never saw: `vidpred eval` against copy-last and linear,
per set of clips and horizon, with the paired Δ PSNR, its ci95, the mean Δ per clip and their
mean (each clip weighted alike).

    python bench/unseen.py runs/a/model.pt runs/b/model.pt --clips broad=/data/ten fresh=/data/four

Each (model, set, horizon) is one `vidpred eval MODEL DIR --horizon H --baseline copy-last
--baseline linear --metrics psnr` run, exactly what a user would type, at one thread (eval's
numbers do not depend on it). Prints one line per run, saves JSON. The README's five-set table
came from these runs (its broad, fresh and new folders); which clips they are, and where to get
them, is written there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ("copy-last", "linear")


def run_eval(
    model: Path, data: list[Path], horizon: int, baselines=BASELINES, vidpred=None
) -> tuple[dict, list]:
    """One `vidpred eval MODEL DATA... --horizon H --baseline ... --metrics psnr --json` run: its
    JSON report and every window's PSNRs, `(clip path, first frame, step, {name: psnr})`, the
    clip's absolute path as eval names it. `vidpred` is the command line that starts the CLI
    (default `python -m vidpred`)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval"
        # Absolute paths: eval runs from the repository root, not from where this was started.
        cmd = [*(vidpred or [sys.executable, "-m", "vidpred"]), "eval", str(model.resolve())]
        cmd += [str(p.resolve()) for p in data]
        cmd += ["--horizon", str(horizon), "--metrics", "psnr", "--out", str(out), "--json"]
        for b in baselines:
            cmd += ["--baseline", b]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"{model}: vidpred eval failed: {done.stderr.strip()}")
        scores: dict[tuple, dict[str, float]] = defaultdict(dict)
        for r in csv.DictReader((out / "per_clip.csv").open()):
            key = (r["clip"], int(r["first_frame"]), int(r["step"]))
            scores[key][r["model"]] = float(r["psnr"])
    return json.loads(done.stdout), [(*key, s) for key, s in sorted(scores.items())]


def model_name(names) -> str:
    """The one name among a window's scores that is not a baseline."""
    (name,) = (k for k in names if k not in BASELINES)
    return name


def eval_once(model: Path, clips: Path, horizon: int, vidpred=None) -> dict:
    """One `vidpred eval` run: the model's paired Δ PSNR vs each baseline, and per clip."""
    report, rows = run_eval(model, [clips], horizon, vidpred=vidpred)
    name = model_name(report)
    per_clip = clip_means(rows)
    return {
        "windows": report["linear"]["psnr"]["n"],
        "psnr": {k: report[k]["psnr"]["mean"] for k in (name, *BASELINES)},
        "paired_psnr": {b: report[name]["paired"][b]["psnr"] for b in BASELINES},
        "per_clip_delta_vs_linear": per_clip,
        # Every clip weighted alike: a long clip does not outvote the others, as it does in the
        # pooled mean over windows.
        "clip_mean_delta_vs_linear": sum(per_clip.values()) / len(per_clip),
    }


def clip_means(rows: list) -> dict[str, float]:
    """Mean over windows and steps of model - linear PSNR, per clip file name."""
    deltas: dict[str, list[float]] = defaultdict(list)
    for clip, _, _, scores in rows:
        deltas[Path(clip).name].append(scores[model_name(scores)] - scores["linear"])
    return {clip: sum(v) / len(v) for clip, v in sorted(deltas.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--clips", nargs="+", required=True, help="NAME=DIR: a set of clips to score")
    ap.add_argument("--horizons", nargs="+", type=int, default=[1, 3])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/unseen.json")
    a = ap.parse_args()
    sets = dict(s.split("=", 1) for s in a.clips)
    results = [
        score(model, name, clips, h)
        for model in a.models
        for name, clips in sets.items()
        for h in a.horizons
    ]
    settings = {"models": [str(m) for m in a.models], "sets": sets, "horizons": a.horizons}
    save(a.out, settings, results)


def score(model: Path, name: str, clips: str, horizon: int, label: str = "", vidpred=None) -> dict:
    """One (model, set, horizon) run as a result row, printed as it lands; `label` names a variant
    and `vidpred` is passed to `run_eval`."""
    r = {"model": str(model), "set": name, "clips": clips, "horizon": horizon}
    r |= eval_once(model, Path(clips), horizon, vidpred=vidpred)
    d = r["paired_psnr"]["linear"]
    print(
        f"{model} {name} h={horizon}{label}: vs linear {d['delta']:+.2f} "
        f"[{d['ci95'][0]:+.2f},{d['ci95'][1]:+.2f}], vs copy-last "
        f"{r['paired_psnr']['copy-last']['delta']:+.2f} ({r['windows']} windows); "
        f"mean over clips vs linear {r['clip_mean_delta_vs_linear']:+.2f}",
        flush=True,
    )
    return r


def save(out: Path, settings: dict, results: list) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": settings, "results": results}, indent=1))
    print(f"saved {out}")


if __name__ == "__main__":
    main()

"""What `vidpred eval --out` writes from an `EvalResult`: metrics.json (the summary, paired
deltas included), per_clip.csv (every window's value of every metric), grids/ and animations/ of
the worst windows, and report.html. Every file is written atomically."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vidpred import __version__
from vidpred.errors import InputError
from vidpred.eval.evaluate import EvalResult
from vidpred.eval.metrics import HIGHER_IS_BETTER
from vidpred.eval.report import Animation, EvalSummary, Figure, ModelSummary, write_report
from vidpred.io.atomic import atomic_path
from vidpred.io.frames import write_image
from vidpred.io.grids import comparison_grid, error_map, grid, to_uint8
from vidpred.io.video import write_frames

#: The figures an evaluation writes into `--out`; an earlier evaluation's are removed first (the
#: CLI refuses an existing `--out` without `--overwrite`; issue 12).
OUTPUT_FIGURES = ("grids/worst_*.png", "animations/worst_*.gif")


def remove_stale_figures(out: Path) -> None:
    """Delete the grids and animations of an earlier evaluation in `out` (only names this module
    writes), so a run with fewer worst windows leaves none of the old ones beside its own."""
    for pattern in OUTPUT_FIGURES:
        for path in out.glob(pattern):
            path.unlink(missing_ok=True)


def write_outputs(result: EvalResult, out: Path, *, settings: dict, notes: Sequence[str]) -> None:
    """metrics.json, per_clip.csv, grids/*.png, animations/*.gif and report.html in `out`.
    Figures of an earlier evaluation in `out` are removed first; every file is written
    atomically. An OSError (a full disk, a read-only folder) becomes an InputError naming it."""
    try:
        _write_outputs(result, out, settings=settings, notes=notes)
    except OSError as e:
        where = e.filename or out
        raise InputError(f"{where}: cannot write ({e.strerror or e})") from None


def _write_outputs(result: EvalResult, out: Path, *, settings: dict, notes: Sequence[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_figures(out)
    summary = result.summary()
    record = {
        "vidpred": __version__,
        "settings": settings,
        "details": result.details,
        "notes": list(notes),
        "summary": summary,
    }
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=True))
    with atomic_path(out / "per_clip.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "clip", "first_frame", "step", *result.metrics])
        for s in result.scores:
            tables = [s.table(m) for m in result.metrics]
            for i, (clip, first) in enumerate(result.windows):
                for t in range(tables[0].shape[1]):
                    w.writerow([s.name, clip, first, t + 1, *(f"{x[i, t]:.6g}" for x in tables)])
    figures, animations = _figures(result, out)
    report = EvalSummary(
        models=[
            ModelSummary(
                s.name,
                {m: v for m, v in summary[s.name].items() if m != "paired"},
                baseline=s.baseline,
                description=s.description,
                paired=summary[s.name].get("paired", {}),
            )
            for s in result.scores
        ],
        metrics=result.metrics,
        details=result.details,
        notes=list(notes),
        grids=figures,
        animations=animations,
        lpips_net=settings.get("lpips_net", "alex"),
    )
    write_report(out, report)


def _figures(result: EvalResult, out: Path) -> tuple[list[Figure], list[Animation]]:
    figures, animations = [], []
    names = [s.name for s in result.scores]
    metric = "psnr" if "psnr" in result.metrics else result.metrics[0]
    worst = sorted(result.worst, reverse=True)  # worst first
    for rank, (key, index, frames) in enumerate(worst, start=1):
        clip, first = result.windows[index]
        value = -key if HIGHER_IS_BETTER[metric] else key
        image = comparison_grid(
            frames["context"][None],
            frames["truth"][None],
            [p[None] for p in frames["preds"]],
            max_rows=1,
        )
        path = out / "grids" / f"worst_{rank:02d}.png"
        write_image(path, image)
        figures.append(
            Figure(
                title=f"#{rank}: {Path(clip).name}, frames from {first}",
                image=path,
                caption=("neighbours" if result.task == "interpolate" else "context")
                + " | truth | "
                + " | ".join(f"{n} + error" for n in names),
                metric=metric,
                value=value,
            )
        )
        if rank <= 3:
            gif = out / "animations" / f"worst_{rank:02d}.gif"
            write_frames(gif, _animation_frames(frames, task=result.task), fps=4)
            animations.append(
                Animation(
                    title=f"#{rank}: {Path(clip).name}",
                    gif=gif,
                    caption="truth | "
                    + " | ".join(names)
                    + (
                        " (neighbour, middle frame, neighbour)"
                        if result.task == "interpolate"
                        else " (context, then predictions)"
                    ),
                )
            )
    return figures, animations


def _animation_frames(frames: dict, *, task: str) -> list[np.ndarray]:
    """truth | each prediction (| its error), side by side, over the window in time order:
    context then horizon, or, to interpolate, the first neighbour, the middle, the second."""
    inputs, truth, preds = frames["context"], frames["truth"], frames["preds"]
    if task == "interpolate":
        sequence = torch.stack([inputs[0], truth[0], inputs[1]])  # (3, C, H, W)
        predicted = {1: 0}  # frame 1 of the sequence is prediction 0
    else:
        sequence = torch.cat([inputs, truth])  # (K + T, C, H, W)
        K = inputs.shape[0]
        predicted = {K + i: i for i in range(truth.shape[0])}
    rows = []
    for t in range(sequence.shape[0]):
        i = predicted.get(t)
        panels = [sequence[t]] + [sequence[t] if i is None else p[i] for p in preds]
        panels += [error_map(p[i], sequence[t]) for p in preds if i is not None]
        rows.append([to_uint8(x) for x in panels])
    width = max(len(r) for r in rows)
    blank = np.full_like(rows[0][0], 255)
    return [grid([r + [blank] * (width - len(r))]) for r in rows]

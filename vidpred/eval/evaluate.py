"""`vidpred eval`: score models (and baselines) on held-out windows, or any system's output frames
against ground truth; summarise with confidence intervals; write metrics.json, per_clip.csv,
comparison grids and report.html.

Model mode: windows of `context + horizon` frames (centre crop, fixed order, non-overlapping),
each model predicts `horizon` frames from its last K context frames (autoregressive rollout),
and every predicted frame is scored against the truth. Folder mode: frame i of `--pred` is scored
against frame i of `--target` (sorted by name).
"""

from __future__ import annotations

import csv
import heapq
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from vidpred import __version__
from vidpred.data import ClipDataset, load_clips
from vidpred.errors import InputError
from vidpred.eval.metrics import HIGHER_IS_BETTER, PSNR_CAP, LPIPSMetric, compute_metrics
from vidpred.eval.report import Animation, EvalSummary, Figure, ModelSummary, write_report
from vidpred.eval.stats import summarize_metrics
from vidpred.flow.backends import build_flow
from vidpred.flow.motion import extrapolate_linear
from vidpred.inference import LoadedModel, predict_future, to_tensor
from vidpred.io.atomic import atomic_path
from vidpred.io.frames import FrameFolderReader, write_image
from vidpred.io.grids import comparison_grid, error_map, grid, to_uint8
from vidpred.io.video import write_frames

BASELINES = {
    "copy-last": "repeat the last context frame",
    "linear": "extrapolate the last context frame along DIS flow (constant velocity)",
}


@dataclass
class Scores:
    """Per-window, per-step values of every metric for one model or baseline."""

    name: str
    baseline: bool = False
    description: str = ""
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)  # metric -> [(B, T)]

    def add(self, batch: dict[str, Tensor]) -> None:
        for metric, v in batch.items():
            self.values.setdefault(metric, []).append(v.detach().cpu().double().numpy())

    def table(self, metric: str) -> np.ndarray:
        """`(windows, T)` with PSNR capped (identical frames are inf, as in skimage)."""
        x = np.concatenate(self.values[metric])
        return np.minimum(x, PSNR_CAP) if metric == "psnr" else x


@dataclass
class EvalResult:
    scores: list[Scores]
    metrics: tuple[str, ...]
    windows: list[tuple[str, int]]  # (clip, first frame) per row of every table
    details: dict[str, str]
    worst: list[tuple[float, int, dict[str, Tensor]]] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, dict]]:
        return {
            s.name: summarize_metrics({m: s.table(m) for m in self.metrics}) for s in self.scores
        }


# -- predictions -------------------------------------------------------------------------------


def baseline_predict(name: str, context: Tensor, horizon: int, *, flow=None) -> Tensor:
    """`(B, K, C, H, W)` context -> `(B, horizon, C, H, W)` for a named baseline."""
    last = context[:, -1]
    if name == "copy-last":
        return last[:, None].expand(-1, horizon, -1, -1, -1)
    if name == "linear":
        return extrapolate_linear(context, horizon, flow=flow)
    raise InputError(f"--baseline {name}: unknown; choose from {', '.join(BASELINES)}")


def evaluate_models(
    models: Sequence[tuple[str, LoadedModel]],
    data: Sequence[Path],
    *,
    horizon: int,
    baselines: Sequence[str] = (),
    metrics: Sequence[str],
    lpips_model: LPIPSMetric | None = None,
    size: tuple[int, int] | None = None,
    max_clips: int = 0,
    batch_size: int = 16,
    keep_worst: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Score every model and baseline on the same windows of `data`."""
    if not models and not baselines:
        raise InputError("nothing to evaluate: give a model.pt or a --baseline")
    for b in baselines:
        if b not in BASELINES:
            raise InputError(f"--baseline {b}: unknown; choose from {', '.join(BASELINES)}")
    first = models[0][1] if models else None
    size = size or (first.size if first else (64, 64))
    stride = first.stride if first else 1
    K = max([lm.config.context for _, lm in models] + [2 if "linear" in baselines else 1])
    clips, skipped = load_clips(data, size=size, frames=K + horizon, stride=stride)
    span = (K + horizon) * stride
    ds = ClipDataset(clips, frames=K + horizon, size=size, stride=stride, step=span)
    n = min(len(ds), max_clips) if max_clips > 0 else len(ds)
    device = first.device if first else torch.device("cpu")
    flow = build_flow("dis") if "linear" in baselines else None
    scores = [Scores(name) for name, _ in models] + [
        Scores(b, baseline=True, description=BASELINES[b]) for b in baselines
    ]
    result = EvalResult(
        scores=scores,
        metrics=tuple(metrics),
        windows=[(str(clips[c].source), s) for c, s in (ds.locate(i) for i in range(n))],
        details={
            "data": ", ".join(map(str, data)),
            "windows": f"{n} ({len(clips)} clips; context {K}, horizon {horizon}, stride {stride})",
            "size": f"{size[0]}x{size[1]} (H x W), centre crop",
            **{f"model {name}": f"{lm.path} (step {lm.step})" for name, lm in models},
            **({"skipped": "; ".join(f"{s.path}: {s.reason}" for s in skipped)} if skipped else {}),
        },
    )
    loader = DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size=batch_size)
    done = 0
    for batch in loader:
        frames = batch.to(device)  # (B, K + horizon, C, H, W)
        context, truth = frames[:, :K], frames[:, K:]
        preds = [predict_future(lm, context[:, -lm.config.context :], horizon) for _, lm in models]
        preds += [baseline_predict(b, context, horizon, flow=flow) for b in baselines]
        per_model = []
        for s, pred in zip(scores, preds, strict=True):
            values = compute_metrics(pred, truth, metrics=metrics, lpips_model=lpips_model)
            s.add(values)
            per_model.append(values)
        _keep_worst(result, per_model[0], done, context, truth, preds, keep_worst)
        done += frames.shape[0]
        if on_progress:
            on_progress(done, n)
    return result


def _keep_worst(result: EvalResult, values, offset, context, truth, preds, k: int) -> None:
    """Keep the `k` windows where the first model (or baseline) scores worst, with their frames."""
    metric = "psnr" if "psnr" in values else next(iter(values))
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    score = values[metric].clamp(max=PSNR_CAP).mean(dim=1).cpu()  # (B,)
    for b in range(score.shape[0]):
        item = (-sign * float(score[b]), offset + b)  # heap keeps the k largest = worst
        frames = {
            "context": context[b].cpu(),
            "truth": truth[b].cpu(),
            "preds": [p[b].cpu() for p in preds],
        }
        if len(result.worst) < k:
            heapq.heappush(result.worst, (*item, frames))
        elif item > result.worst[0][:2]:
            heapq.heapreplace(result.worst, (*item, frames))


def evaluate_folders(
    pred_dir: Path,
    target_dir: Path,
    *,
    metrics: Sequence[str],
    lpips_model: LPIPSMetric | None = None,
    batch_size: int = 16,
) -> EvalResult:
    """Score frame i of `pred_dir` against frame i of `target_dir` (natural name order)."""
    pred, target = FrameFolderReader(pred_dir), FrameFolderReader(target_dir)
    if pred.frames != target.frames:
        raise InputError(
            f"{pred_dir} has {pred.frames} frames but {target_dir} has {target.frames}; "
            "they are matched by sorted name, so the counts must agree"
        )
    if (pred.width, pred.height) != (target.width, target.height):
        raise InputError(
            f"{pred.files[0]} is {pred.width}x{pred.height} but {target.files[0]} is "
            f"{target.width}x{target.height}"
        )
    scores = Scores(pred_dir.name or str(pred_dir))
    result = EvalResult(
        scores=[scores],
        metrics=tuple(metrics),
        windows=[(f.name, i) for i, f in enumerate(pred.files)],
        details={"pred": str(pred_dir), "target": str(target_dir), "frames": str(pred.frames)},
    )
    for start in range(0, pred.frames, batch_size):
        stop = start + batch_size
        p = to_tensor(list(pred.iter_frames(start, stop)))  # (n, 3, H, W)
        t = to_tensor(list(target.iter_frames(start, stop)))
        values = compute_metrics(p, t, metrics=metrics, lpips_model=lpips_model)
        scores.add({m: v[:, None] for m, v in values.items()})  # one "step" per frame
    return result


# -- outputs -----------------------------------------------------------------------------------


def summary_json(summary: dict[str, dict[str, dict]]) -> dict:
    """The `--json` shape: one model -> its metrics; several -> keyed by name."""
    return next(iter(summary.values())) if len(summary) == 1 else summary


def check_thresholds(
    summary: dict[str, dict[str, dict]],
    scores: Sequence[Scores],
    *,
    under: dict[str, float],
    over: dict[str, float],
) -> list[str]:
    """One line per missed threshold, for models (baselines are context, not candidates)."""
    failures = []
    candidates = [s.name for s in scores if not s.baseline] or [scores[0].name]
    for name in candidates:
        for metric, limit in under.items():
            value = summary[name][metric]["mean"]
            if not value >= limit:
                failures.append(f"FAIL {name}: {metric} {value:.4g} < {limit:g}")
        for metric, limit in over.items():
            value = summary[name][metric]["mean"]
            if not value <= limit:
                failures.append(f"FAIL {name}: {metric} {value:.4g} > {limit:g}")
    return failures


def write_outputs(result: EvalResult, out: Path, *, settings: dict, notes: Sequence[str]) -> None:
    """metrics.json, per_clip.csv, grids/*.png, animations/*.gif and report.html in `out`."""
    out.mkdir(parents=True, exist_ok=True)
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
            ModelSummary(s.name, summary[s.name], baseline=s.baseline, description=s.description)
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
                caption="context | truth | " + " | ".join(f"{n} + error" for n in names),
                metric=metric,
                value=value,
            )
        )
        if rank <= 3:
            gif = out / "animations" / f"worst_{rank:02d}.gif"
            write_frames(gif, _animation_frames(frames), fps=4)
            animations.append(
                Animation(
                    title=f"#{rank}: {Path(clip).name}",
                    gif=gif,
                    caption="truth | " + " | ".join(names) + " (context, then predictions)",
                )
            )
    return figures, animations


def _animation_frames(frames: dict) -> list[np.ndarray]:
    """truth | each prediction, side by side, over context then horizon."""
    truth = torch.cat([frames["context"], frames["truth"]])  # (K + T, C, H, W)
    K = frames["context"].shape[0]
    rows = []
    for t in range(truth.shape[0]):
        panels = [truth[t]] + [truth[t] if t < K else p[t - K] for p in frames["preds"]]
        panels += [error_map(p[t - K], truth[t]) for p in frames["preds"] if t >= K]
        rows.append([to_uint8(x) for x in panels])
    width = max(len(r) for r in rows)
    blank = np.full_like(rows[0][0], 255)
    return [grid([r + [blank] * (width - len(r))]) for r in rows]

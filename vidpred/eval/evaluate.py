"""`vidpred eval`: score models (and baselines) on held-out windows, or any system's output frames
against ground truth; summarise with confidence intervals and check thresholds (`outputs` writes
the files).

Model mode, prediction: windows of `context + horizon` frames (centre crop, fixed order,
non-overlapping), each model predicts `horizon` frames from its last K context frames
(autoregressive rollout), and every predicted frame is scored against the truth.
Model mode, interpolation: every other frame is dropped and predicted from its two neighbours
(windows of three frames, one starting every second frame), and scored against the truth.
With no model, the baselines alone say how hard the footage is.
Folder mode: frame i of `--pred` is scored against frame i of `--target` (sorted by name).

When baselines are given, every model is also compared with each of them on the same windows
(`stats.paired`: mean delta, its bootstrap ci95, win rate), under `"paired"` in the summary.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from vidpred.data import ClipDataset, load_clips
from vidpred.data.dataset import Skipped
from vidpred.errors import InputError
from vidpred.eval.baselines import (
    BASELINES,
    NEEDS_FLOW,
    baseline_frames,
    check_baselines,
    split_window,
)
from vidpred.eval.metrics import HIGHER_IS_BETTER, LPIPSMetric, compute_metrics
from vidpred.eval.stats import paired, summarize_metrics
from vidpred.flow.backends import build_flow
from vidpred.inference import LoadedModel, interpolate_at, predict_future, to_tensor
from vidpred.io.frames import FrameFolderReader


@dataclass(frozen=True)
class Threshold:
    """A `--fail-under`/`--fail-over` limit on a model's mean of `metric`, or, with `baseline`,
    on its paired mean delta against that baseline (`delta-psnr:copy-last=0`)."""

    metric: str
    value: float
    baseline: str | None = None

    @property
    def label(self) -> str:
        return f"delta-{self.metric}:{self.baseline}" if self.baseline else self.metric


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
        """`(windows, T)`; PSNR is already capped (`metrics.capped_psnr`)."""
        return np.concatenate(self.values[metric])


@dataclass
class EvalResult:
    scores: list[Scores]
    metrics: tuple[str, ...]
    windows: list[tuple[str, int]]  # (clip, first frame) per row of every table
    details: dict[str, str]
    task: str = "predict"
    skipped: list[Skipped] = field(default_factory=list)
    worst: list[tuple[float, int, dict[str, Tensor]]] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, dict]]:
        """`{name: {metric: summarize(...)}}`; a model (not a baseline) also gets
        `"paired": {baseline: {metric: {"delta", "ci95", "win_rate"}}}` when baselines ran."""
        out = {
            s.name: summarize_metrics({m: s.table(m) for m in self.metrics}) for s in self.scores
        }
        baselines = [s for s in self.scores if s.baseline]
        for s in self.scores:
            if s.baseline or not baselines:
                continue
            out[s.name]["paired"] = {
                b.name: {
                    m: paired(s.table(m), b.table(m), higher_is_better=HIGHER_IS_BETTER[m])
                    for m in self.metrics
                }
                for b in baselines
            }
        return out


# -- predictions -------------------------------------------------------------------------------


def models_task(models: Sequence[tuple[str, LoadedModel]]) -> str | None:
    """The task every model was trained for (None without models); InputError if they differ."""
    tasks = {lm.config.task: lm.path for _, lm in models}
    if len(tasks) > 1:
        listed = " and ".join(f"{path} ({task})" for task, path in tasks.items())
        raise InputError(f"{listed}: models of different tasks; evaluate them separately")
    return next(iter(tasks), None)


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
    """Score every model and baseline on the same windows of `data` (prediction or
    interpolation, as the models were trained; with no model, as the baselines are)."""
    if not models and not baselines:
        raise InputError("nothing to evaluate: give a model.pt or a --baseline")
    task = check_baselines(baselines, models_task(models))
    if task == "interpolate" and horizon != 1:
        raise InputError(
            f"--horizon {horizon}: interpolation predicts the one frame between two neighbours; "
            "leave --horizon at 1"
        )
    first = models[0][1] if models else None
    size = size or (first.size if first else (64, 64))
    stride = first.stride if first else 1
    if task == "interpolate":
        K, frames, step = 2, 3, 2 * stride  # (a, middle, b); each middle frame scored once
    else:
        K = max([lm.config.context for _, lm in models] + [2 if "linear" in baselines else 1])
        frames, step = K + horizon, (K + horizon) * stride  # non-overlapping windows
    clips, skipped = load_clips(data, size=size, frames=frames, stride=stride)
    ds = ClipDataset(clips, frames=frames, size=size, stride=stride, step=step)
    n = min(len(ds), max_clips) if max_clips > 0 else len(ds)
    device = first.device if first else torch.device("cpu")
    flow = build_flow("dis") if NEEDS_FLOW & set(baselines) else None
    scores = [Scores(name) for name, _ in models] + [
        Scores(b, baseline=True, description=BASELINES[task][b]) for b in baselines
    ]
    shape = (
        f"the middle frame of 3, stride {stride}"
        if task == "interpolate"
        else f"context {K}, horizon {horizon}, stride {stride}"
    )
    result = EvalResult(
        scores=scores,
        metrics=tuple(metrics),
        windows=[(str(clips[c].source), s) for c, s in (ds.locate(i) for i in range(n))],
        task=task,
        skipped=list(skipped),
        details={
            "data": ", ".join(map(str, data)),
            "task": task,
            "windows": f"{n} ({len(clips)} clips; {shape})",
            "size": f"{size[0]}x{size[1]} (H x W), centre crop",
            **{f"model {name}": f"{lm.path} (step {lm.step})" for name, lm in models},
            **({"skipped": "; ".join(f"{s.path}: {s.reason}" for s in skipped)} if skipped else {}),
        },
    )
    loader = DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size=batch_size)
    done = 0
    for batch in loader:
        window = batch.to(device)  # (B, frames, C, H, W)
        inputs, truth = split_window(window, task=task, context=K)
        preds = [_model_frames(lm, inputs, task=task, horizon=horizon) for _, lm in models]
        preds += [baseline_frames(b, inputs, horizon, flow=flow) for b in baselines]
        per_model = []
        for s, pred in zip(scores, preds, strict=True):
            values = compute_metrics(pred, truth, metrics=metrics, lpips_model=lpips_model)
            s.add(values)
            per_model.append(values)
        _keep_worst(result, per_model[0], done, inputs, truth, preds, keep_worst)
        done += window.shape[0]
        if on_progress:
            on_progress(done, n)
    return result


def _model_frames(lm: LoadedModel, inputs: Tensor, *, task: str, horizon: int) -> Tensor:
    """`(B, horizon, C, H, W)`: a rollout from the model's last K frames, or the middle frame."""
    if task == "interpolate":
        return interpolate_at(lm, inputs[:, 0], inputs[:, 1], 0.5)[:, None]
    return predict_future(lm, inputs[:, -lm.config.context :], horizon)


def _keep_worst(result: EvalResult, values, offset, context, truth, preds, k: int) -> None:
    """Keep the `k` windows where the first model (or baseline) scores worst, with their frames."""
    metric = "psnr" if "psnr" in values else next(iter(values))
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    score = values[metric].mean(dim=1).cpu()  # (B,)
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
    under: Sequence[Threshold] = (),
    over: Sequence[Threshold] = (),
) -> list[str]:
    """One line per missed threshold, for models (baselines are context, not candidates; with
    no model, the first baseline). A value equal to the limit passes."""
    failures = []
    candidates = [s.name for s in scores if not s.baseline] or [scores[0].name]
    for name in candidates:
        for limits, fails, sign in ((under, float.__lt__, "<"), (over, float.__gt__, ">")):
            for t in limits:
                if t.baseline is None:
                    value = summary[name][t.metric]["mean"]
                else:
                    value = summary[name]["paired"][t.baseline][t.metric]["delta"]
                if math.isnan(value) or fails(float(value), t.value):
                    what = f"{t.metric} vs {t.baseline} delta" if t.baseline else t.metric
                    failures.append(f"FAIL {name}: {what} {value:.4g} {sign} {t.value:g}")
    return failures

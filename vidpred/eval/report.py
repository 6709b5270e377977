"""The evaluation report: one self-contained `report.html` (inline CSS, inline SVG plots, images
embedded as data URIs, no scripts, nothing fetched from the network).

The eval command fills an `EvalSummary` and calls `write_report(out_dir, summary)`. Statistics
come from `vidpred.eval.stats` (`summarize` per model and metric, `paired` per baseline); images
are uint8 arrays, PNG/JPEG/GIF bytes or files. This module turns them into plain values (numbers
formatted, plot coordinates computed); the page itself is the Jinja2 template
`templates/report.html.j2`, rendered with autoescape, so no markup is built in Python.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from vidpred import __version__
from vidpred.errors import InputError
from vidpred.eval.metrics import HIGHER_IS_BETTER, PSNR_CAP
from vidpred.io.atomic import atomic_path

ImageSource = np.ndarray | bytes | str | Path

METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS"}
_DECIMALS = {"psnr": 2, "ssim": 4, "lpips": 4}
# Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")  # fmt: skip


@dataclass(frozen=True)
class ModelSummary:
    """One row of the report: a trained model or a baseline (e.g. copy-last-frame).

    `metrics` maps a metric name to `vidpred.eval.stats.summarize(...)` output; `paired` maps a
    baseline's name to `{metric: vidpred.eval.stats.paired(...)}` (the "Δ vs" columns)."""

    name: str
    metrics: Mapping[str, Mapping[str, Any]]
    baseline: bool = False
    description: str = ""
    paired: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """A comparison grid. `value` of `metric` (the clip's score) orders the grids worst first."""

    title: str
    image: ImageSource
    caption: str = ""
    metric: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class Animation:
    """An animated prediction: GIF bytes or a .gif file."""

    title: str
    gif: bytes | str | Path
    caption: str = ""


@dataclass(frozen=True)
class EvalSummary:
    """Everything the report shows. `details` are shown as given (data, checkpoint, horizon...);
    `notes` are one-line remarks (e.g. "LPIPS skipped: ...")."""

    models: Sequence[ModelSummary]
    metrics: Sequence[str] = ("psnr", "ssim", "lpips")
    title: str = "vidpred evaluation"
    details: Mapping[str, str] = field(default_factory=dict)
    notes: Sequence[str] = ()
    grids: Sequence[Figure] = ()
    animations: Sequence[Animation] = ()
    lpips_net: str = "alex"
    step_label: str = "horizon step"


def write_report(out_dir: str | Path, summary: EvalSummary, *, name: str = "report.html") -> Path:
    """Write the report into `out_dir` (created if needed, the file replaced atomically) and
    return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    page = render_report(summary)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("vidpred.eval", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a name the template misspells fails, not renders blank
    keep_trailing_newline=True,
)


def render_report(summary: EvalSummary) -> str:
    """The report as one HTML string."""
    if not summary.models:
        raise ValueError("the report needs at least one model or baseline")
    names = [s.name for s in summary.models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique (they key colours and legends): {names}")
    metrics = [m for m in summary.metrics if any(m in s.metrics for s in summary.models)]
    colours = {s.name: PALETTE[i % len(PALETTE)] for i, s in enumerate(summary.models)}
    bases = list(dict.fromkeys(b for s in summary.models for b in s.paired))
    steps = max(
        (len(s.metrics[m]["per_step"]) for s in summary.models for m in s.metrics), default=0
    )
    plots = []
    if steps > 1:
        for m in metrics:
            rows = [s for s in summary.models if m in s.metrics]
            plots.append(_plot(m, rows, colours))
    return _TEMPLATES.get_template("report.html.j2").render(
        title=summary.title,
        details=dict(summary.details),
        notes=list(summary.notes),
        metrics=metrics,
        labels={m: METRIC_LABELS.get(m, m) for m in (*METRIC_LABELS, *metrics)},
        arrows={m: _arrow(m) for m in metrics},
        paired_bases=bases,
        rows=_summary_rows(summary.models, metrics, bases, colours),
        plots=plots,
        step_label=summary.step_label,
        grids=[_figure(f) for f in _worst_first(summary.grids)],
        ranked=_ranked(summary.grids),
        animations=[_figure(a, expect="gif") for a in summary.animations],
        lpips_net=summary.lpips_net,
        psnr_cap=f"{PSNR_CAP:.2f}",
        version=__version__,
    )


def _fmt(metric: str | None, value: float | None, *, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return {math.inf: "∞", -math.inf: "−∞"}.get(value, "n/a")
    text = f"{value:{'+' if sign else ''}.{_DECIMALS.get(metric or '', 3)}f}"
    return text.replace("-", "−")


def _arrow(metric: str) -> str:
    return "↑" if HIGHER_IS_BETTER.get(metric, True) else "↓"


def _best(metric: str, values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if HIGHER_IS_BETTER.get(metric, True) else min(finite)


def _summary_rows(
    models: Sequence[ModelSummary], metrics: list[str], bases: list[str], colours
) -> list[dict]:
    """One dict per table row: the metric cells (None where missing) and the Δ cells."""
    best = {m: _best(m, [s.metrics[m]["mean"] for s in models if m in s.metrics]) for m in metrics}
    rows = []
    for s in models:
        n = next((s.metrics[m].get("n") for m in metrics if m in s.metrics), None)
        cells = []
        for m in metrics:
            st = s.metrics.get(m)
            if st is None:
                cells.append(None)
                continue
            lo, hi = st["ci95"]
            cells.append(
                {
                    "value": f"{_fmt(m, st['mean'])} ± {_fmt(m, st['std'])}",
                    "best": st["mean"] == best[m],
                    "lo": _fmt(m, lo),
                    "hi": _fmt(m, hi),
                }
            )
        deltas = [_delta_cell(s.paired.get(b, {}), metrics, b) for b in bases]
        rows.append(
            {
                "name": s.name,
                "colour": colours[s.name],
                "baseline": s.baseline,
                "description": s.description,
                "n": "" if n is None else n,
                "cells": cells,
                "deltas": deltas,
            }
        )
    return rows


def _delta_cell(pairs: Mapping[str, Mapping[str, Any]], metrics: list[str], base: str) -> list:
    """One line per metric: the paired delta, its interval, the win rate, and a verdict (better
    or worse when the interval excludes zero, else even)."""
    lines = []
    for m in metrics:
        p = pairs.get(m)
        if p is None:
            continue
        lo, hi = p["ci95"]
        verdict = "even"
        if lo > 0 or hi < 0:
            verdict = "better" if (lo > 0) == HIGHER_IS_BETTER.get(m, True) else "worse"
        lines.append(
            {
                "label": METRIC_LABELS.get(m, m).split(" ")[0],
                "delta": _fmt(m, p["delta"], sign=True),
                "lo": _fmt(m, lo, sign=True),
                "hi": _fmt(m, hi, sign=True),
                "wins": f"{100 * p['win_rate']:.0f}%",
                "verdict": verdict,
                "tip": f"{verdict} than {base}" if verdict != "even" else f"not resolved vs {base}",
            }
        )
    return lines


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)
    first = math.floor(lo / step) * step
    ticks, k = [], 0
    while (v := first + k * step) < hi + step * 0.999:
        ticks.append(round(v, 10))
        k += 1
    return ticks


def _plot(metric: str, models: Sequence[ModelSummary], colours) -> dict:
    """Coordinates of the per-step plot (mean per step, one line per model, baselines dashed,
    shaded 95% CI) and the rows of its table, for the template's SVG."""
    W, H = 520, 280
    left, right, top, bottom = 56, 16, 34, 44
    pw, ph = W - left - right, H - top - bottom
    series = [(s, s.metrics[metric]["per_step"]) for s in models]
    T = max(len(p) for _, p in series)
    ys = [v for _, p in series for st in p for v in (st["mean"], *st["ci95"]) if math.isfinite(v)]
    yticks = nice_ticks(min(ys), max(ys)) if ys else [0.0, 1.0]
    y0, y1 = yticks[0], yticks[-1]
    xticks = list(range(1, T + 1)) if T <= 12 else [int(t) for t in nice_ticks(1, T) if 1 <= t <= T]

    def sx(t: float) -> str:
        return f"{left + (t - 1) / max(T - 1, 1) * pw:.1f}"

    def sy(v: float) -> str:
        return f"{top + (1 - (v - y0) / ((y1 - y0) or 1)) * ph:.1f}"

    lines, table = [], []
    for s, per_step in series:
        pts = [(t, st) for t, st in enumerate(per_step, 1) if math.isfinite(st["mean"])]
        band = [(t, st["ci95"]) for t, st in pts if all(map(math.isfinite, st["ci95"]))]
        upper = [f"{sx(t)},{sy(ci[1])}" for t, ci in band]
        lower = [f"{sx(t)},{sy(ci[0])}" for t, ci in reversed(band)]
        lines.append(
            {
                "name": s.name,
                "colour": colours[s.name],
                "baseline": s.baseline,
                "band": " ".join(upper + lower) if len(band) > 1 else "",
                "line": " ".join(f"{sx(t)},{sy(st['mean'])}" for t, st in pts),
                "dots": [
                    (sx(t), sy(st["mean"]), f"{s.name}, step {t}: {_fmt(metric, st['mean'])}")
                    for t, st in pts
                ],
            }
        )
        cells = []
        for st in per_step:
            lo, hi = st["ci95"]
            tip = f"95% CI [{_fmt(metric, lo)}, {_fmt(metric, hi)}]; std {_fmt(metric, st['std'])}"
            cells.append((_fmt(metric, st["mean"]), tip))
        table.append(
            {"name": s.name, "colour": colours[s.name], "baseline": s.baseline, "cells": cells}
        )
    return {
        "label": METRIC_LABELS.get(metric, metric),
        "arrow": _arrow(metric),
        "width": W,
        "height": H,
        "left": left,
        "right": left + pw,
        "top": top,
        "bottom": top + ph,
        "yticks": [(sy(v), f"{v:g}") for v in yticks],
        "xticks": [(sx(t), str(t)) for t in xticks],
        "series": lines,
        "steps": list(range(1, T + 1)),
        "table": table,
    }


def _ranked(figs: Sequence[Figure]) -> bool:
    return any(f.metric and f.value is not None for f in figs)


def _worst_first(figs: Sequence[Figure]) -> list[Figure]:
    """Worst score first (low PSNR/SSIM, high LPIPS); unscored figures keep their order, last."""

    def badness(f: Figure) -> tuple[int, float]:
        if not f.metric or f.value is None or not math.isfinite(f.value):
            return (1, 0.0)
        return (0, f.value if HIGHER_IS_BETTER.get(f.metric, True) else -f.value)

    return sorted(figs, key=badness)


def _figure(fig: Figure | Animation, *, expect: str | None = None) -> dict:
    source = fig.gif if isinstance(fig, Animation) else fig.image
    uri, width = _image_uri(source, expect=expect)
    metric = getattr(fig, "metric", None)
    value = getattr(fig, "value", None)
    score = (
        f"{METRIC_LABELS.get(metric, metric)} {_fmt(metric, value)}"
        if metric and value is not None
        else ""
    )
    # Small frames (64x64 panels) are shown at 2x, pixelated, so one can see the errors.
    return {
        "title": fig.title,
        "uri": uri,
        "width": 2 * width if width and width <= 500 else None,
        "caption": fig.caption,
        "score": score,
    }


_MAGIC = {b"\x89PNG": "png", b"GIF8": "gif", b"\xff\xd8\xff": "jpeg", b"RIFF": "webp"}


def _image_uri(source: ImageSource, *, expect: str | None = None) -> tuple[str, int | None]:
    """`(data URI, width in pixels or None)` for a uint8 array (encoded as PNG), image bytes, or
    an image file."""
    if isinstance(source, np.ndarray):
        data = _png_bytes(source)
    elif isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"{path}: cannot read image for the report ({e.strerror})") from None
    kind = next((k for magic, k in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None or (expect and kind != expect):
        what = f"a {expect.upper()}" if expect else "a PNG, GIF, JPEG or WebP image"
        where = f"{source}: " if isinstance(source, str | Path) else ""
        raise InputError(f"{where}not {what} (report images are embedded as they are)")
    width = None
    if kind == "png" and len(data) >= 24:  # IHDR: width is the big-endian uint32 at byte 16
        width = int.from_bytes(data[16:20], "big")
    elif kind == "gif" and len(data) >= 10:  # logical screen width, little-endian, at byte 6
        width = int.from_bytes(data[6:8], "little")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}", width


def _png_bytes(image: np.ndarray) -> bytes:
    import imageio.v3 as iio  # deferred: only needed when arrays are given

    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or (image.ndim == 3 and image.shape[2] not in (1, 3, 4))
    ):
        raise ValueError(
            f"report images are uint8 (H, W), (H, W, 3) or (H, W, 4), got {image.dtype} "
            f"{image.shape}"
        )
    return iio.imwrite("<bytes>", np.ascontiguousarray(image.squeeze()), extension=".png")

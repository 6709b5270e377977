"""The evaluation report: one self-contained `report.html` (inline CSS, inline SVG plots, images
embedded as data URIs, no scripts, nothing fetched from the network).

The eval command fills an `EvalSummary` and calls `write_report(out_dir, summary)`. Statistics
come from `vidpred.stats.summarize` (one dict per model and metric); images are uint8 arrays,
PNG/JPEG/GIF bytes or files.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidpred import __version__
from vidpred.errors import InputError
from vidpred.eval.metrics import HIGHER_IS_BETTER

ImageSource = np.ndarray | bytes | str | Path

METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS"}
_DECIMALS = {"psnr": 2, "ssim": 4, "lpips": 4}
# Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")  # fmt: skip


@dataclass(frozen=True)
class ModelSummary:
    """One row of the report: a trained model or a baseline (e.g. copy-last-frame).

    `metrics` maps a metric name to `vidpred.stats.summarize(...)` output."""

    name: str
    metrics: Mapping[str, Mapping[str, Any]]
    baseline: bool = False
    description: str = ""


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
    """Write the report into `out_dir` (created if needed) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(render_report(summary), encoding="utf-8")
    return path


def render_report(summary: EvalSummary) -> str:
    """The report as one HTML string."""
    if not summary.models:
        raise ValueError("the report needs at least one model or baseline")
    names = [s.name for s in summary.models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique (they key colours and legends): {names}")
    metrics = [m for m in summary.metrics if any(m in s.metrics for s in summary.models)]
    colours = {s.name: PALETTE[i % len(PALETTE)] for i, s in enumerate(summary.models)}
    parts = [f"<header><h1>{_e(summary.title)}</h1>{_details(summary.details)}</header>"]
    if summary.notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in summary.notes)
        parts.append(f'<ul class="notes">{items}</ul>')
    parts.append("<section><h2>Summary</h2>")
    parts.append(_summary_table(summary.models, metrics, colours))
    parts.append(
        '<p class="hint">mean &plusmn; standard deviation over clips, with the 95% bootstrap '
        "confidence interval of the mean below; best mean per column in bold.</p></section>"
    )
    steps = max(
        (len(s.metrics[m]["per_step"]) for s in summary.models for m in s.metrics), default=0
    )
    if steps > 1:
        parts.append(f"<section><h2>Per {_e(summary.step_label)}</h2><div class='plots'>")
        for m in metrics:
            rows = [s for s in summary.models if m in s.metrics]
            parts.append(
                "<div class='plot'>"
                + _line_plot(m, rows, colours, summary.step_label)
                + _step_table(m, rows, colours)
                + "</div>"
            )
        parts.append("</div></section>")
    if summary.grids:
        parts.append("<section><h2>Comparison grids</h2>")
        parts.append('<p class="hint">Worst clips first.</p>' if _ranked(summary.grids) else "")
        for fig in _worst_first(summary.grids):
            score = (
                f" &middot; {_e(METRIC_LABELS.get(fig.metric, fig.metric))} "
                f"{_fmt(fig.metric, fig.value)}"
                if fig.metric and fig.value is not None
                else ""
            )
            parts.append(_figure(fig.title, *_image_uri(fig.image), fig.caption, score))
        parts.append("</section>")
    if summary.animations:
        parts.append("<section><h2>Animated predictions</h2><div class='anims'>")
        for a in summary.animations:
            parts.append(_figure(a.title, *_image_uri(a.gif, expect="gif"), a.caption, ""))
        parts.append("</div></section>")
    parts.append(_definitions(metrics, summary.lpips_net))
    parts.append(f"<footer>Written by vidpred {_e(__version__)}.</footer>")
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(summary.title)}</title><style>{_CSS}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(metric: str | None, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return {math.inf: "&infin;", -math.inf: "&minus;&infin;"}.get(value, "n/a")
    return f"{value:.{_DECIMALS.get(metric or '', 3)}f}"


def _details(details: Mapping[str, str]) -> str:
    if not details:
        return ""
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in details.items())
    return f'<dl class="details">{rows}</dl>'


def _swatch(colour: str, baseline: bool) -> str:
    cls = "swatch dashed" if baseline else "swatch"
    return f'<span class="{cls}" style="--c:{colour}"></span>'


def _best(metric: str, values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if HIGHER_IS_BETTER.get(metric, True) else min(finite)


def _summary_table(models: Sequence[ModelSummary], metrics: list[str], colours) -> str:
    arrow = {m: "&uarr;" if HIGHER_IS_BETTER.get(m, True) else "&darr;" for m in metrics}
    head = "".join(
        f"<th class='num'>{_e(METRIC_LABELS.get(m, m))} <span class='dir'>{arrow[m]}</span></th>"
        for m in metrics
    )
    best = {m: _best(m, [s.metrics[m]["mean"] for s in models if m in s.metrics]) for m in metrics}
    rows = []
    for s in models:
        n = next((s.metrics[m].get("n") for m in metrics if m in s.metrics), None)
        tag = " <span class='tag'>baseline</span>" if s.baseline else ""
        desc = f"<div class='desc'>{_e(s.description)}</div>" if s.description else ""
        cells = [
            f"<th scope='row'>{_swatch(colours[s.name], s.baseline)}{_e(s.name)}{tag}{desc}</th>",
            f"<td class='num'>{'' if n is None else n}</td>",
        ]
        for m in metrics:
            if m not in s.metrics:
                cells.append("<td class='num muted'>&mdash;</td>")
                continue
            st = s.metrics[m]
            lo, hi = st["ci95"]
            strong = st["mean"] == best[m]
            value = f"{_fmt(m, st['mean'])} &plusmn; {_fmt(m, st['std'])}"
            value = f"<strong>{value}</strong>" if strong else value
            cells.append(
                f"<td class='num'>{value}<div class='ci'>[{_fmt(m, lo)}, {_fmt(m, hi)}]</div></td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table class='summary'><thead><tr><th>model</th><th class='num'>clips</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _step_table(metric: str, models: Sequence[ModelSummary], colours) -> str:
    T = max(len(s.metrics[metric]["per_step"]) for s in models)
    head = "".join(f"<th class='num'>{t}</th>" for t in range(1, T + 1))
    rows = []
    for s in models:
        cells = []
        for st in s.metrics[metric]["per_step"]:
            lo, hi = st["ci95"]
            tip = f"95% CI [{_fmt(metric, lo)}, {_fmt(metric, hi)}]; std {_fmt(metric, st['std'])}"
            cells.append(f"<td class='num' title='{tip}'>{_fmt(metric, st['mean'])}</td>")
        cells += ["<td></td>"] * (T - len(cells))
        rows.append(
            f"<tr><th scope='row'>{_swatch(colours[s.name], s.baseline)}{_e(s.name)}</th>"
            + "".join(cells)
            + "</tr>"
        )
    return (
        f"<details><summary>{_e(METRIC_LABELS.get(metric, metric))} per step (table)</summary>"
        f"<table class='steps'><thead><tr><th>step</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></details>"
    )


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


def _line_plot(metric: str, models: Sequence[ModelSummary], colours, step_label: str) -> str:
    """Mean per step, one line per model (baselines dashed), shaded 95% CI; inline SVG."""
    W, H = 520, 280
    left, right, top, bottom = 56, 16, 34, 44
    pw, ph = W - left - right, H - top - bottom
    series = [(s, s.metrics[metric]["per_step"]) for s in models]
    T = max(len(p) for _, p in series)
    ys = [v for _, p in series for st in p for v in (st["mean"], *st["ci95"]) if math.isfinite(v)]
    yticks = nice_ticks(min(ys), max(ys)) if ys else [0.0, 1.0]
    y0, y1 = yticks[0], yticks[-1]
    xticks = list(range(1, T + 1)) if T <= 12 else [int(t) for t in nice_ticks(1, T) if 1 <= t <= T]

    def sx(t: float) -> float:
        return left + (t - 1) / max(T - 1, 1) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - y0) / ((y1 - y0) or 1)) * ph

    out = [
        f"<svg viewBox='0 0 {W} {H}' width='{W}' height='{H}' role='img' "
        f"aria-label='{_e(METRIC_LABELS.get(metric, metric))} per {_e(step_label)}'>",
        f"<text x='{left}' y='20' class='ptitle'>{_e(METRIC_LABELS.get(metric, metric))} "
        f"{'&uarr;' if HIGHER_IS_BETTER.get(metric, True) else '&darr;'}</text>",
    ]
    for v in yticks:
        y = sy(v)
        out.append(f"<line x1='{left}' x2='{left + pw}' y1='{y:.1f}' y2='{y:.1f}' class='grid'/>")
        out.append(f"<text x='{left - 8}' y='{y + 4:.1f}' class='ytick'>{v:g}</text>")
    for t in xticks:
        x = sx(t)
        out.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top + ph}' y2='{top + ph + 5}' class='axis'/>"
        )
        out.append(f"<text x='{x:.1f}' y='{top + ph + 19}' class='xtick'>{t}</text>")
    out.append(f"<line x1='{left}' x2='{left + pw}' y1='{top + ph}' y2='{top + ph}' class='axis'/>")
    out.append(f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + ph}' class='axis'/>")
    out.append(f"<text x='{left + pw / 2}' y='{H - 8}' class='xlabel'>{_e(step_label)}</text>")
    for s, per_step in series:
        c = colours[s.name]
        pts = [(t, st) for t, st in enumerate(per_step, 1) if math.isfinite(st["mean"])]
        band = [(t, st["ci95"]) for t, st in pts if all(map(math.isfinite, st["ci95"]))]
        if len(band) > 1:
            upper = " ".join(f"{sx(t):.1f},{sy(ci[1]):.1f}" for t, ci in band)
            lower = " ".join(f"{sx(t):.1f},{sy(ci[0]):.1f}" for t, ci in reversed(band))
            out.append(f"<polygon points='{upper} {lower}' fill='{c}' fill-opacity='0.14'/>")
        line = " ".join(f"{sx(t):.1f},{sy(st['mean']):.1f}" for t, st in pts)
        dash = " stroke-dasharray='6 4'" if s.baseline else ""
        out.append(f"<polyline points='{line}' fill='none' stroke='{c}' stroke-width='2.2'{dash}/>")
        for t, st in pts:
            tip = f"{s.name}, step {t}: {_fmt(metric, st['mean'])}"
            out.append(
                f"<circle cx='{sx(t):.1f}' cy='{sy(st['mean']):.1f}' r='3.2' fill='{c}'>"
                f"<title>{_e(tip)}</title></circle>"
            )
    out.append("</svg>")
    legend = "".join(
        f"<span>{_swatch(colours[s.name], s.baseline)}{_e(s.name)}</span>" for s, _ in series
    )
    return "".join(out) + f"<div class='legend'>{legend}</div>"


def _ranked(figs: Sequence[Figure]) -> bool:
    return any(f.metric and f.value is not None for f in figs)


def _worst_first(figs: Sequence[Figure]) -> list[Figure]:
    """Worst score first (low PSNR/SSIM, high LPIPS); unscored figures keep their order, last."""

    def badness(f: Figure) -> tuple[int, float]:
        if not f.metric or f.value is None or not math.isfinite(f.value):
            return (1, 0.0)
        return (0, f.value if HIGHER_IS_BETTER.get(f.metric, True) else -f.value)

    return sorted(figs, key=badness)


def _figure(title: str, uri: str, width: int | None, caption: str, score: str) -> str:
    cap = f"<span class='ftitle'>{_e(title)}</span>{score}"
    if caption:
        cap += f"<div class='fcap'>{_e(caption)}</div>"
    # Small frames (64x64 panels) are shown at 2x, pixelated, so one can see the errors.
    size = f" style='width:{2 * width}px'" if width and width <= 500 else ""
    return (
        f"<figure><img src='{uri}' alt='{_e(title)}'{size}><figcaption>{cap}</figcaption></figure>"
    )


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


def _definitions(metrics: Sequence[str], lpips_net: str) -> str:
    text = {
        "psnr": "Peak signal-to-noise ratio of each predicted frame against its target, with "
        "frames in [0, 1]: 10&middot;log<sub>10</sub>(1 / MSE), the MSE taken over all pixels "
        "and channels of that frame. A clip's PSNR is the <em>mean of its per-frame PSNRs</em> "
        "(not the PSNR of the mean MSE). Equal to scikit-image's "
        "<code>peak_signal_noise_ratio(data_range=1)</code>. Higher is better.",
        "ssim": "Structural similarity per frame with Wang et al. (2004)'s settings, equal to "
        "scikit-image's <code>structural_similarity(gaussian_weights=True, sigma=1.5, "
        "use_sample_covariance=False, data_range=1, channel_axis=-1)</code>: an 11&times;11 "
        "Gaussian window (&sigma; = 1.5), K<sub>1</sub> = 0.01, K<sub>2</sub> = 0.03, the SSIM "
        "map averaged over the region 5 pixels inside the border, then over colour channels. "
        "Higher is better (1 = identical).",
        "lpips": "Learned Perceptual Image Patch Similarity (Zhang et al. 2018), the "
        f'<code>lpips</code> package, version 0.1, <code>net="{_e(lpips_net)}"</code> '
        "(ImageNet trunk, calibrated linear layers), inputs scaled to [&minus;1, 1]. "
        "Lower is better (0 = identical).",
    }
    items = "".join(
        f"<dt>{_e(METRIC_LABELS.get(m, m))}</dt><dd>{text[m]}</dd>" for m in metrics if m in text
    )
    stats = (
        "<dt>Statistics</dt><dd>Each clip's score is its mean over the predicted steps. The table "
        "gives the mean over clips &plusmn; the sample standard deviation of the clip scores "
        "(n&minus;1), and a 95% percentile-bootstrap confidence interval of the mean (1000 "
        "resamples of clips, fixed seed; every model is resampled with the same draws). Per-step "
        "values are computed the same way from the clips' values at that step.</dd>"
    )
    return f"<section><h2>Definitions</h2><dl class='defs'>{items}{stats}</dl></section>"


_CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#d8dee4; --bg:#ffffff; --soft:#f6f8fa;
  --accent:#4e79a7; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",
  Arial,sans-serif; }
main { max-width:1120px; margin:0 auto; padding:36px 28px 48px; }
header { border-bottom:1px solid var(--line); padding-bottom:18px; margin-bottom:8px; }
h1 { font-size:28px; font-weight:650; letter-spacing:-0.01em; margin:0 0 12px; }
h2 { font-size:19px; font-weight:620; margin:34px 0 12px; padding-bottom:6px;
  border-bottom:1px solid var(--line); }
.details { display:grid; grid-template-columns:max-content 1fr; gap:4px 18px; margin:0;
  font-size:14px; }
.details dt { color:var(--muted); }
.details dd { margin:0; font-family:ui-monospace,SFMono-Regular,Menlo,"DejaVu Sans Mono",
  monospace; font-size:13px; word-break:break-all; }
.notes { background:#fff8e6; border:1px solid #f0d58c; border-radius:8px; padding:10px 14px 10px
  32px; margin:18px 0 0; font-size:14px; }
table { border-collapse:collapse; font-variant-numeric:tabular-nums; }
table.summary { width:100%; font-size:15px; }
th, td { padding:9px 14px; border-bottom:1px solid var(--line); text-align:left;
  vertical-align:top; }
thead th { font-size:13px; color:var(--muted);
  font-weight:600; border-bottom:2px solid var(--line); white-space:nowrap; }
tbody tr:nth-child(even) { background:var(--soft); }
th[scope=row] { font-weight:600; white-space:nowrap; }
.num { text-align:right; white-space:nowrap; }
.muted { color:var(--muted); }
.ci { color:var(--muted); font-size:12.5px; margin-top:1px; }
.desc { color:var(--muted); font-weight:400; font-size:12.5px; white-space:normal; }
.tag { display:inline-block; font-size:11px; font-weight:600; color:var(--muted);
  border:1px solid var(--line); border-radius:10px; padding:0 7px; margin-left:6px;
  vertical-align:1px; }
.swatch { display:inline-block; width:18px; height:0; border-top:3px solid var(--c);
  margin-right:9px; vertical-align:4px; }
.swatch.dashed { border-top-style:dashed; }
.hint { color:var(--muted); font-size:13px; margin:8px 0 0; }
.plots { display:grid; grid-template-columns:repeat(auto-fit,minmax(520px,1fr)); gap:22px; }
.plot { border:1px solid var(--line); border-radius:10px; padding:10px 12px 6px; }
.plot svg { display:block; max-width:100%; height:auto; font-family:inherit; }
.plot .grid { stroke:#e7ebef; stroke-width:1; }
.plot .axis { stroke:#8c959f; stroke-width:1; }
.plot .ptitle { font-size:14px; font-weight:600; fill:var(--fg); }
.plot .ytick { font-size:11.5px; fill:var(--muted); text-anchor:end; }
.plot .xtick { font-size:11.5px; fill:var(--muted); text-anchor:middle; }
.plot .xlabel { font-size:12px; fill:var(--muted); text-anchor:middle; }
.plot .legend { display:flex; flex-wrap:wrap; gap:4px 18px; font-size:12.5px;
  margin:2px 0 4px 50px; }
details { margin:6px 0 4px; font-size:13.5px; }
summary { cursor:pointer; color:var(--accent); }
table.steps { font-size:13px; margin-top:8px; }
table.steps th, table.steps td { padding:5px 9px; }
figure { margin:0 0 26px; }
figure img { display:block; max-width:100%; height:auto; image-rendering:pixelated;
  border:1px solid var(--line); border-radius:6px; }
figcaption { font-size:13.5px; color:var(--muted); margin-top:6px; }
.ftitle { color:var(--fg); font-weight:600; }
.fcap { margin-top:2px; }
.anims { display:flex; flex-wrap:wrap; gap:22px; }
.anims figure { margin:0; }
.defs dt { font-weight:600; margin-top:12px; }
.defs dd { margin:3px 0 0; color:#32383f; max-width:860px; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,"DejaVu Sans Mono",monospace;
  font-size:12.5px; background:var(--soft); padding:1px 4px; border-radius:4px; }
footer { margin-top:40px; color:var(--muted); font-size:12.5px; }
"""

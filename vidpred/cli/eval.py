"""`vidpred eval`: metrics people trust, a report people want to look at, exit codes CI can use."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from vidpred.cli.common import DeviceOption, OverwriteOption, check_output, parse_size
from vidpred.cli.console import console, err_console, notice
from vidpred.errors import InputError
from vidpred.eval.baselines import BASELINES, check_baselines
from vidpred.eval.evaluate import (
    Threshold,
    check_thresholds,
    evaluate_folders,
    evaluate_models,
    models_task,
    summary_json,
)
from vidpred.eval.metrics import HIGHER_IS_BETTER, PSNR_CAP, LPIPSMetric, plan_metrics
from vidpred.eval.outputs import write_outputs
from vidpred.inference import load_model
from vidpred.train.runtime import resolve_device

MODEL_SUFFIXES = (".pt", ".pth")
ALL_BASELINES = [name for names in BASELINES.values() for name in names]
_DECIMALS = {"psnr": 2, "ssim": 4, "lpips": 4}
# METRIC=VALUE, or delta-METRIC:BASELINE=VALUE (a limit on the paired delta, issue 10).
_THRESHOLD = re.compile(r"^(?:delta-(?P<dm>[a-z]+):(?P<base>[a-z-]+)|(?P<m>[a-z]+))=(?P<v>.+)$")


def eval_(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Model files (*.pt) then data (videos, folders).", show_default=False),
    ] = None,
    horizon: Annotated[int, typer.Option(min=1, help="Frames to predict and score.")] = 1,
    pred: Annotated[
        Path | None, typer.Option(help="Folder mode: frames to score (any system's output).")
    ] = None,
    target: Annotated[Path | None, typer.Option(help="Folder mode: the ground truth.")] = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option(
            help="Add a baseline, repeatable: copy-last or linear (DIS flow) to predict, blend "
            "or flow-mid (DIS flow) to interpolate. Models are compared with each (Δ columns)."
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: psnr,ssim,lpips. [default: all; LPIPS only when "
            "its weights are present]"
        ),
    ] = None,
    lpips_net: Annotated[str, typer.Option(help="alex (LPIPS default) or vgg.")] = "alex",
    max_clips: Annotated[int, typer.Option(min=0, help="Score at most N windows (0: all).")] = 0,
    size: Annotated[str | None, typer.Option(help="HxW. [default: the model's]")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    out: Annotated[
        Path | None,
        typer.Option(help="Write metrics.json, per_clip.csv, grids/ and report.html here."),
    ] = None,
    overwrite: OverwriteOption = False,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            help="METRIC=VALUE: exit 1 if a model's mean is below; delta-METRIC:BASELINE=VALUE: "
            "if its mean paired delta to that baseline is (e.g. delta-psnr:copy-last=0)."
        ),
    ] = None,
    fail_over: Annotated[
        list[str] | None,
        typer.Option(help="Like --fail-under, exit 1 if above (e.g. delta-lpips:copy-last=0)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Score models (and baselines) on held-out windows, or --pred frames against --target.

    Prediction models predict --horizon frames after each window's context; interpolation models
    predict every other frame from its two neighbours. With only --baseline, see how hard the
    footage is. Exit codes: 0 ok, 1 a --fail-under/--fail-over threshold missed, 2 bad input.
    """
    # Every option is checked before any work starts (issue 12): nothing is decoded, loaded or
    # written for a command that is going to be refused.
    baselines = list(dict.fromkeys(baseline or []))
    under = _thresholds(fail_under, "--fail-under")
    over = _thresholds(fail_over, "--fail-over")
    if lpips_net not in ("alex", "vgg"):
        raise InputError(f"--lpips-net {lpips_net}: use alex or vgg")
    folder_mode = pred is not None or target is not None
    paths = inputs or []
    model_paths = [p for p in paths if p.suffix in MODEL_SUFFIXES]
    data = [p for p in paths if p.suffix not in MODEL_SUFFIXES]
    if folder_mode:
        if pred is None or target is None or inputs or baselines:
            raise InputError("folder mode takes --pred DIR --target DIR and nothing else")
    elif not data:
        raise InputError("no DATA given: vidpred eval MODEL.pt... DATA... --horizon N")
    task = check_baselines(baselines, None) if baselines else None
    requested = None if metrics is None else metrics.split(",")
    if lpips_net != "alex" and requested is None:
        requested = ["psnr", "ssim", "lpips"]  # asking for a net is asking for LPIPS
    chosen, skip_notice = plan_metrics(requested, lpips_net=lpips_net)
    _check_thresholds(under + over, chosen, baselines, has_model=bool(model_paths))
    if out is not None:
        _check_out(out, overwrite=overwrite)
    size_hw = parse_size(size)

    notes = [skip_notice] if skip_notice else []
    if skip_notice:
        notice(skip_notice)
    dev = resolve_device(device)
    if folder_mode:
        lpips_model = LPIPSMetric(net=lpips_net).to(dev) if "lpips" in chosen else None
        result = evaluate_folders(
            pred, target, metrics=chosen, lpips_model=lpips_model, batch_size=batch_size
        )
    else:
        models = [(_name(p, model_paths), load_model(p, device=dev)) for p in model_paths]
        task = check_baselines(baselines, models_task(models) or task)
        lpips_model = LPIPSMetric(net=lpips_net).to(dev) if "lpips" in chosen else None
        result = evaluate_models(
            models,
            data,
            horizon=horizon,
            baselines=baselines,
            metrics=chosen,
            lpips_model=lpips_model,
            size=size_hw,
            max_clips=max_clips,
            batch_size=batch_size,
        )
        for s in result.skipped:  # issue 12: a file left out is named, not only in metrics.json
            notice(f"{s.path}: skipped ({s.reason})")
    summary = result.summary()
    if out is not None:
        settings = {
            "psnr": "per frame on [0, 1] (MSE over pixels and channels), mean over frames; "
            f"each frame capped at {PSNR_CAP:.2f} dB = 20 log10(255), a one-grey-level error",
            "ssim": "skimage structural_similarity: gaussian_weights, sigma 1.5, "
            "use_sample_covariance False, data_range 1, channel_axis",
            "lpips": f"lpips {lpips_net} v0.1, inputs in [-1, 1]",
            "lpips_net": lpips_net,
            "ci95": "percentile bootstrap over clips, 1000 resamples, seed 0",
            "paired": "model minus baseline per window, mean; ci95 with the same draws; "
            "win_rate: share of windows where the model is better, ties half",
            "task": result.task,
            "metrics": list(chosen),
        }
        write_outputs(result, out, settings=settings, notes=notes)
    if as_json:
        print(json.dumps(summary_json(summary), indent=2))
    else:
        _print_table(summary, chosen, result.scores)
        if out is not None:
            console.print(f"report: {out / 'report.html'}", highlight=False)
    failures = check_thresholds(summary, result.scores, under=under, over=over)
    for line in failures:
        err_console.print(line, highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def _name(path: Path, all_paths: list[Path]) -> str:
    """A run's folder name for RUN/model.pt, else the file's stem; unique among the models."""
    name = path.parent.name if path.stem == "model" and path.parent.name else path.stem
    same = [p for p in all_paths if (p.parent.name if p.stem == "model" else p.stem) == name]
    return str(path) if len(same) > 1 else name


def _thresholds(items: list[str] | None, option: str) -> list[Threshold]:
    out = []
    for item in items or []:
        match = _THRESHOLD.match(item.strip().lower())
        try:
            value = float(match["v"]) if match else math.nan
        except ValueError:
            value = math.nan
        if match is None or not math.isfinite(value):
            raise InputError(
                f"{option} {item}: expected METRIC=VALUE or delta-METRIC:BASELINE=VALUE, "
                "e.g. psnr=28 or delta-psnr:copy-last=0"
            )
        out.append(Threshold(match["dm"] or match["m"], value, match["base"]))
    return out


def _check_thresholds(
    thresholds: list[Threshold], chosen: tuple[str, ...], baselines: list[str], *, has_model: bool
) -> None:
    for t in thresholds:
        if t.metric not in chosen:
            raise InputError(
                f"threshold {t.label}: {t.metric} is not computed (metrics: {', '.join(chosen)})"
            )
        if t.baseline is None:
            continue
        if t.baseline not in baselines:
            given = ", ".join(baselines) or "none"
            raise InputError(
                f"threshold {t.label}: {t.baseline} is not a requested baseline (given: {given}); "
                f"add --baseline {t.baseline}"
            )
        if not has_model:
            raise InputError(f"threshold {t.label}: a delta compares a model; give a model.pt")


def _check_out(out: Path, *, overwrite: bool) -> None:
    """`--out` follows predict's rule: an existing output is replaced only with --overwrite.
    An empty folder holds nothing to lose; a file is never a place to write a folder into."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; --out takes a folder")
    if out.is_dir() and not any(out.iterdir()):
        return
    check_output(out, overwrite=overwrite)


def _fmt(metric: str, value: float, *, sign: bool = False) -> str:
    return f"{value:{'+' if sign else ''}.{_DECIMALS.get(metric, 3)}f}"


def _print_table(summary, metrics, scores) -> None:
    table = Table(title_justify="left")
    table.add_column("model")
    for m in metrics:
        table.add_column(m, justify="right")
    bases = [s.name for s in scores if s.baseline]
    paired = any("paired" in summary[s.name] for s in scores)
    for b in bases if paired else []:
        table.add_column(f"Δ vs {b}", justify="right")
    for s in scores:
        row = [escape(s.name) + ("\n[dim]baseline[/]" if s.baseline else "")]
        for m in metrics:
            v = summary[s.name][m]
            lo, hi = v["ci95"]
            row.append(f"{_fmt(m, v['mean'])}\n[dim]\\[{_fmt(m, lo)}, {_fmt(m, hi)}][/]")
        for b in bases if paired else []:
            row.append(_delta_cell(summary[s.name].get("paired", {}).get(b), metrics))
        table.add_row(*row)
    console.print(table)
    legend = "mean \\[95% bootstrap CI over clips]"
    if paired:
        legend += (
            "; Δ: model minus baseline on the same windows \\[paired 95% CI], green/red where "
            "the CI excludes 0 (better/worse); win rates in --json and the report"
        )
    console.print(legend, style="dim", highlight=False)


def _delta_cell(pairs: dict | None, metrics) -> str:
    """One line per metric, coloured when the paired CI excludes zero."""
    if not pairs:
        return ""
    lines = []
    for m in metrics:
        p = pairs[m]
        lo, hi = p["ci95"]
        text = f"{m} {_fmt(m, p['delta'], sign=True)}"
        if lo > 0 or hi < 0:
            better = (lo > 0) == HIGHER_IS_BETTER[m]
            text = f"[{'green' if better else 'red'}]{text}[/]"
        lines.append(f"{text}\n[dim]\\[{_fmt(m, lo, sign=True)}, {_fmt(m, hi, sign=True)}][/]")
    return "\n".join(lines)

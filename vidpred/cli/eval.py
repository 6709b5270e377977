"""`vidpred eval`: metrics people trust, a report people want to look at, exit codes CI can use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vidpred.cli.common import DeviceOption, parse_size
from vidpred.cli.console import console, err_console, notice
from vidpred.errors import InputError
from vidpred.eval.evaluate import (
    check_thresholds,
    evaluate_folders,
    evaluate_models,
    summary_json,
    write_outputs,
)
from vidpred.eval.metrics import PSNR_CAP, LPIPSMetric, plan_metrics
from vidpred.inference import load_model
from vidpred.train.runtime import resolve_device

MODEL_SUFFIXES = (".pt", ".pth")


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
        typer.Option(help="Add a baseline: copy-last or linear (DIS flow). Repeatable."),
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
    fail_under: Annotated[
        list[str] | None, typer.Option(help="METRIC=VALUE: exit 1 if a model's mean is below.")
    ] = None,
    fail_over: Annotated[
        list[str] | None, typer.Option(help="METRIC=VALUE: exit 1 if a model's mean is above.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Score models (and baselines) on held-out windows, or --pred frames against --target.

    Exit codes: 0 ok, 1 a --fail-under/--fail-over threshold missed, 2 bad input.
    """
    under = _thresholds(fail_under, "--fail-under")
    over = _thresholds(fail_over, "--fail-over")
    if lpips_net not in ("alex", "vgg"):
        raise InputError(f"--lpips-net {lpips_net}: use alex or vgg")
    requested = None if metrics is None else metrics.split(",")
    if lpips_net != "alex" and requested is None:
        requested = ["psnr", "ssim", "lpips"]  # asking for a net is asking for LPIPS
    chosen, skip_notice = plan_metrics(requested, lpips_net=lpips_net)
    notes = [skip_notice] if skip_notice else []
    for m in list(under) + list(over):
        if m not in chosen:
            raise InputError(
                f"threshold on {m}, which is not computed (metrics: {', '.join(chosen)})"
            )
    if skip_notice:
        notice(skip_notice)
    dev = resolve_device(device)
    lpips_model = LPIPSMetric(net=lpips_net).to(dev) if "lpips" in chosen else None

    if pred is not None or target is not None:
        if pred is None or target is None or inputs:
            raise InputError("folder mode takes --pred DIR --target DIR and nothing else")
        result = evaluate_folders(
            pred, target, metrics=chosen, lpips_model=lpips_model, batch_size=batch_size
        )
    else:
        paths = inputs or []
        model_paths = [p for p in paths if p.suffix in MODEL_SUFFIXES]
        data = [p for p in paths if p.suffix not in MODEL_SUFFIXES]
        if not data:
            raise InputError("no DATA given: vidpred eval MODEL.pt... DATA... --horizon N")
        models = [
            (_name(p, model_paths), load_model(p, device=dev, task="predict")) for p in model_paths
        ]
        result = evaluate_models(
            models,
            data,
            horizon=horizon,
            baselines=baseline or [],
            metrics=chosen,
            lpips_model=lpips_model,
            size=parse_size(size),
            max_clips=max_clips,
            batch_size=batch_size,
        )
    summary = result.summary()
    if out is not None:
        settings = {
            "psnr": f"per frame on [0, 1] (MSE over pixels and channels), mean over frames; "
            f"capped at {PSNR_CAP:g} dB for identical frames",
            "ssim": "skimage structural_similarity: gaussian_weights, sigma 1.5, "
            "use_sample_covariance False, data_range 1, channel_axis",
            "lpips": f"lpips {lpips_net} v0.1, inputs in [-1, 1]",
            "lpips_net": lpips_net,
            "ci95": "percentile bootstrap over clips, 1000 resamples, seed 0",
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


def _thresholds(items: list[str] | None, option: str) -> dict[str, float]:
    out = {}
    for item in items or []:
        metric, _, value = item.partition("=")
        try:
            out[metric.strip().lower()] = float(value)
        except ValueError:
            raise InputError(f"{option} {item}: expected METRIC=VALUE, e.g. psnr=28") from None
    return out


def _print_table(summary, metrics, scores) -> None:
    table = Table(title_justify="left")
    table.add_column("model")
    for m in metrics:
        table.add_column(m, justify="right")
    for s in scores:
        row = [s.name + (" (baseline)" if s.baseline else "")]
        for m in metrics:
            v = summary[s.name][m]
            lo, hi = v["ci95"]
            row.append(f"{v['mean']:.4g} [{lo:.4g}, {hi:.4g}]")
        table.add_row(*row)
    console.print(table)
    console.print("mean [95% bootstrap CI over clips]", style="dim")

"""`vidpred train DATA... --loss corr-l1`: train a predictor, writing a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vidpred.cli.common import parse_size
from vidpred.cli.console import console, err_console, notice
from vidpred.config import RunConfig, load_config
from vidpred.errors import InputError
from vidpred.train.trainer import Trainer
from vidpred.train.trainer import train as run_training


def train(
    data: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Video files, folders of videos, folders of frames.", show_default=False
        ),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            help="Loss spec: l1, mse, corr-l1, corr-l1+vgg, l1+0.5*lpips, l1+corr-l1 (pixel-wise "
            "l1 plus corr-wise l1) ... [default: l1+corr-l1]"
        ),
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="predict | interpolate. [default: predict]")
    ] = None,
    context: Annotated[int | None, typer.Option(min=1, help="Context frames. [default: 3]")] = None,
    horizon: Annotated[
        int | None, typer.Option(min=1, help="Frames predicted by rollout. [default: 1]")
    ] = None,
    stride: Annotated[
        int | None, typer.Option(min=1, help="Take every N-th frame. [default: 1]")
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            help="Crop size N or HxW: multiples of 8, at least 16 (32 with an lpips loss). "
            "[default: 64]"
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="unet-s | unet-m | unet-l. [default: unet-s]")
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(
            help="pixels: a correction to the last frame; flow: the last frame carried along the "
            "measured motion, plus learned corrections (starts as the linear baseline). "
            "[default: flow]"
        ),
    ] = None,
    flow: Annotated[
        str | None,
        typer.Option(
            help="Flow for corr- losses: auto | dis | raft-small | raft-large. [default: auto]"
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="[default: 16]")] = None,
    steps: Annotated[
        int | None,
        typer.Option(min=1, help="Total steps (a resumed run's target). [default: 1000]"),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Train for this many epochs instead of --steps.")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Adam learning rate (the schedule's peak). [default: 1e-3]")
    ] = None,
    lr_schedule: Annotated[
        str | None,
        typer.Option(help="cosine (5% warmup, decay to 0) | constant. [default: cosine]"),
    ] = None,
    val_split: Annotated[
        str | None,
        typer.Option(
            help="How validation is held out: files, time (the end of every file), or auto "
            "(files when that leaves two or more, else time). [default: auto]"
        ),
    ] = None,
    synthetic: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=0.95,
            help="Share of training windows drawn from synthetic motion (photographs moved by "
            "random pans, zooms and objects) mixed into DATA; 0: DATA alone. [default: 0.5]",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="[default: 0]")] = None,
    device: Annotated[
        str | None, typer.Option(help="auto | cpu | cuda | mps. [default: auto]")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="fp32 | bf16 | fp16 (CUDA). [default: fp32]")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=0, help="DataLoader workers. [default: 0]")
    ] = None,
    val_every: Annotated[int | None, typer.Option(min=0, help="[default: 200]")] = None,
    sample_every: Annotated[int | None, typer.Option(min=0, help="[default: 200]")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(min=1, help="[default: 100]")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder. [default: runs/run]")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace the run already in --out, whole (a folder holding anything else is "
            "never written into).",
        ),
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="A TOML config; flags given here win over it.")
    ] = None,
) -> None:
    """Train a U-Net predictor on video clips. Writes RUN/model.pt, checkpoints, metrics.csv,
    config.toml and sample grids."""
    cfg = build_config(**locals())
    if not cfg.data.paths:
        raise InputError("no DATA given (and none in the config)")
    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]} steps/s"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    bar = None
    decoding = Progress(
        TextColumn("[bold]caching frames"),
        TextColumn("{task.completed} decoded"),
        console=err_console,
        transient=True,
    )
    decoded = decoding.add_task("decode", total=None)

    def frame_decoded() -> None:
        if not decoding.live.is_started:
            decoding.start()
        decoding.advance(decoded)

    def ready(trainer: Trainer) -> None:
        nonlocal bar
        decoding.stop()
        if not trainer.dist.is_main:
            return
        for s in trainer.data.skipped:
            notice(f"skipped {s.path}: {s.reason}")
        if trainer.flow:
            notice(f"flow backend: {trainer.flow}")
        if trainer.data.val_split == "time":
            notice("validation: the last frames of every file (a split by time)")
        elif trainer.data.val_split == "none":
            notice("no validation split: validation uses centre crops of the training windows")
        progress.start()
        bar = progress.add_task(
            "train", total=trainer.total_steps, completed=trainer.step, loss="-", rate="-"
        )

    def step(n: int, logs: dict[str, float]) -> None:
        if bar is not None:
            rate = progress.tasks[bar].speed
            progress.update(
                bar, completed=n, loss=f"{logs['loss']:.4f}", rate=f"{rate:.2f}" if rate else "-"
            )

    try:
        summary = run_training(
            cfg,
            resume=resume,
            overwrite=overwrite,
            on_ready=ready,
            on_step=step,
            on_frame=frame_decoded,
        )
    finally:
        decoding.stop()
        progress.stop()
    if summary.interrupted:
        console.print(
            f"interrupted at step {summary.step}; saved {summary.run_dir}/checkpoints/last.pt. "
            f"Resume with: vidpred train --resume --out {summary.run_dir}"
        )
        raise typer.Exit(130)
    val = "  ".join(f"{k} {v:.4g}" for k, v in summary.val.items())
    console.print(
        f"done: {summary.step} steps in {summary.seconds:.0f} s, loss {summary.loss:.4g}"
        f"{'  ' + val if val else ''} -> {summary.run_dir / 'model.pt'}",
        highlight=False,
    )


def build_config(
    *, resume: bool, overwrite: bool, config: Path | None, out: Path | None, **flags
) -> RunConfig:
    """Defaults < --config file < the resumed run's config.toml < flags given now."""
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if resume:
        if out is None:
            raise InputError("--resume needs --out RUN (the run folder to continue)")
        saved = out / "config.toml"
        if not saved.is_file():
            raise InputError(f"{saved}: no such file; is {out} a vidpred run folder?")
        cfg = load_config(saved)
    else:
        cfg = load_config(config) if config else RunConfig()
    data = flags.pop("data")
    cfg = cfg.override(
        "data",
        paths=tuple(str(p) for p in data) if data else None,
        context=flags["context"],
        horizon=flags["horizon"],
        stride=flags["stride"],
        size=parse_size(flags["size"]),
        val_split=flags["val_split"],
        synthetic=flags["synthetic"],
    )
    cfg = cfg.override("model", name=flags["model"], head=flags["head"])
    cfg = cfg.override("loss", spec=flags["loss"], flow=flags["flow"])
    return cfg.override(
        "train",
        task=flags["task"],
        steps=flags["steps"],
        epochs=flags["epochs"],
        batch_size=flags["batch_size"],
        lr=flags["lr"],
        lr_schedule=flags["lr_schedule"],
        seed=flags["seed"],
        device=flags["device"],
        precision=flags["precision"],
        workers=flags["workers"],
        val_every=flags["val_every"],
        sample_every=flags["sample_every"],
        checkpoint_every=flags["checkpoint_every"],
        out=str(out) if out is not None else None,
    )

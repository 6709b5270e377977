"""`vidpred toy --losses mse,l1,l1+0.5*vgg,corr-l1 --out toy/`: the paper's toy experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vidpred.cli.common import check_output, parse_size
from vidpred.cli.console import console, err_console, notice
from vidpred.errors import InputError
from vidpred.toy import DEFAULT_LOSSES, ToyConfig, ToyHooks, parse_loss_list, run_toy

_DEFAULTS = ToyConfig()


def toy(
    losses: Annotated[
        str,
        typer.Option(
            help="Comma-separated loss specs, one predictor each, e.g. mse,l1,corr-l1+vgg. "
            "A spec whose pretrained weights are missing is skipped with a notice."
        ),
    ] = DEFAULT_LOSSES,
    out: Annotated[
        Path,
        typer.Option(help="Output folder: toy.png, references.png, progress.gif, toy.json."),
    ] = Path("toy"),
    spread: Annotated[
        float,
        typer.Option(
            help="Range of the car's positions as a fraction of the free width (0: fixed, "
            "1: anywhere); 0.3 is the paper's. Pixel-wise losses blur at any spread above 0. "
            "With DIS flow (measured at lr 0.05, batch 8) corr-wise L1 lost the cabin at 0.4, and "
            "at 0.9 L1 and corr-wise L1 both gave the empty road: the flow no longer matches "
            "displacements that large."
        ),
    ] = _DEFAULTS.spread,
    size: Annotated[
        str, typer.Option(help="Image size HxW; the car is ~1/5 of the width.")
    ] = "{}x{}".format(*_DEFAULTS.size),
    steps: Annotated[int, typer.Option(min=1, help="Training steps per loss.")] = _DEFAULTS.steps,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Targets per step.")
    ] = _DEFAULTS.batch_size,
    model: Annotated[
        str,
        typer.Option(
            help="image: the output image is the parameter (minutes on a CPU); unet: a small "
            "U-Net on a fixed noise input, the authors' setup (needs thousands of steps: a GPU)."
        ),
    ] = _DEFAULTS.model,
    lr: Annotated[
        float | None,
        typer.Option(help="Adam learning rate, cosine-decayed. [default: 0.1 image, 3e-3 unet]"),
    ] = None,
    flow: Annotated[
        str,
        typer.Option(
            help="Flow for corr- losses: dis (DIS medium preset) | auto | raft-small | raft-large."
        ),
    ] = _DEFAULTS.flow,
    seed: Annotated[int, typer.Option(help="Seeds the predictor and the targets.")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the files of an earlier run in --out.")
    ] = False,
) -> None:
    """Show why pixel-wise losses fail under positional uncertainty (the paper's toy): a car at a
    random position on a fixed background, one fixed input, one predictor per loss. MSE learns
    the targets' mean, L1 their median, corr-wise L1 a sharp car. Writes toy.png, references.png
    (the analytic mean and median), progress.gif and toy.json (aligned_error: L1 to the nearest
    target over the car's box; sharpness: gradient energy relative to the targets'). About a
    minute on a 2-core CPU; a perceptual term (vgg, lpips) adds ~1 s a step there, far less on a
    GPU.
    """
    specs = parse_loss_list(losses)
    cfg = ToyConfig(
        size=parse_size(size),
        spread=spread,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        model=model,
        flow=flow,
        seed=seed,
        device=device,
    )
    if out.exists() and not out.is_dir():
        raise InputError(
            f"{out}: not a folder (--out takes the folder to write the toy's files to)"
        )
    check_output(out / "toy.json", overwrite=overwrite)

    progress = Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    bar = None

    def start(spec: str, total: int) -> None:
        nonlocal bar
        bar = progress.add_task(spec, total=total, loss="-")

    def step(n: int, loss: float) -> None:
        progress.update(bar, completed=n, loss=f"{loss:.4f}")

    def done(spec: str, entry: dict) -> None:
        if entry["flow"]:
            progress.console.print(f"{spec}: flow {entry['flow']}", style="dim", highlight=False)

    hooks = ToyHooks(on_skip=lambda spec, why: notice(f"skipped {spec}: {why}"),
                     on_start=start, on_step=step, on_done=done)  # fmt: skip
    with progress:
        report = run_toy(cfg, specs, out, hooks=hooks)

    width = max(len(k) for k in report["losses"]) + 2
    console.print(f"{'loss':<{width}}aligned_error  best_x  sharpness", highlight=False)
    rows = [*report["losses"].items()]
    rows += [(f"({k})", report["references"][k]) for k in ("mean", "median")]
    for key, entry in rows:
        console.print(
            f"{key:<{width}}{entry['aligned_error']:13.4f}  {entry['best_x']:6.2f}  "
            f"{entry['sharpness']:9.3f}",
            highlight=False,
        )
    console.print(f"wrote toy.png, references.png, progress.gif, toy.json to {out}/")

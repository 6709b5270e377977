"""`vidpred inspect DATA...`: what a dataset holds, before training on it."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from vidpred.cli.console import console, err_console, notice
from vidpred.data.cache import FrameCache
from vidpred.data.inventory import ClipRow, Inventory, find_sources, inventory_of
from vidpred.errors import InputError


def inspect(
    data: Annotated[
        list[Path], typer.Argument(help="Video files, folders of videos, folders of frames.")
    ],
    context: Annotated[int, typer.Option(min=1, help="Context frames per window.")] = 3,
    horizon: Annotated[int, typer.Option(min=1, help="Frames to predict per window.")] = 1,
    stride: Annotated[int, typer.Option(min=1, help="Take every STRIDE-th frame.")] = 1,
    decode: Annotated[
        bool,
        typer.Option(
            help="Count the frames that decode (what training gets; videos the frame cache "
            "holds are not decoded again). --no-decode: the containers' claims, quicker."
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """One row per clip: codec, size, fps, frames and usable windows; unreadable files with why.

    Exits 2 when none of the inputs is readable.
    """
    sources, unreadable = find_sources(data)
    progress = Progress(
        TextColumn("[bold]counting frames"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
    )
    claimed = sum(s.info.frames for s in sources if s.info.kind == "video")
    task = progress.add_task("count", total=claimed or None)
    with progress if decode and claimed else nullcontext():
        inv = inventory_of(
            sources,
            unreadable,
            frames=context + horizon,
            stride=stride,
            decode=decode,
            cache=FrameCache(),
            on_frame=lambda: progress.advance(task),
        )
    for bad in inv.unreadable:
        err_console.print(
            f"[yellow]unreadable:[/] {bad.path}: {bad.reason}", highlight=False, soft_wrap=True
        )
    if not inv.clips:  # the error alone: an empty table says nothing more
        raise InputError(f"none of {', '.join(map(str, data))} is readable")
    for row in inv.clips:
        if row.mismatch:
            notice(
                f"{row.info.path}: the container claims {row.info.frames} frames; "
                f"{row.decoded} decode (truncated or damaged?)"
            )
    if as_json:
        print(json.dumps([row.to_dict() for row in inv.clips], indent=2))
    else:
        _print_table(inv, context=context, horizon=horizon, stride=stride, decoded=decode)


def _frames_cell(row: ClipRow) -> str:
    if row.mismatch:
        return f"[yellow]{row.decoded}[/] (claims {row.info.frames})"
    if row.decoded is None and row.info.frames_estimated:
        return f"~{row.info.frames}"
    return str(row.frames)


def _print_table(inv: Inventory, *, context: int, horizon: int, stride: int, decoded: bool):
    table = Table(title=f"{len(inv.clips)} clips", title_justify="left")
    for name, justify in [
        ("path", "left"),
        ("codec", "left"),
        ("size", "right"),
        ("fps", "right"),
        ("frames", "right"),
        ("windows", "right"),
    ]:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in inv.clips:
        i = row.info
        table.add_row(
            str(i.path),
            i.codec,
            f"{i.width}x{i.height}",
            "-" if i.fps is None else f"{i.fps:.3g}",
            _frames_cell(row),
            str(row.windows),
        )
    table.add_section()
    table.add_row("total", "", "", "", str(inv.total_frames), str(inv.total_windows))
    console.print(table)
    how = (
        "frames as decoded"
        if decoded
        else "frames as the containers claim (not decoded; ~ = duration x fps)"
    )
    console.print(f"windows of {context}+{horizon} frames, stride {stride}; {how}")

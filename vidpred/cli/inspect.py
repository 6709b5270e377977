"""`vidpred inspect DATA...`: what a dataset holds, before training on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vidpred.cli.console import console, err_console
from vidpred.data.inventory import take_inventory
from vidpred.errors import InputError


def inspect(
    data: Annotated[
        list[Path], typer.Argument(help="Video files, folders of videos, folders of frames.")
    ],
    context: Annotated[int, typer.Option(min=1, help="Context frames per window.")] = 3,
    horizon: Annotated[int, typer.Option(min=1, help="Frames to predict per window.")] = 1,
    stride: Annotated[int, typer.Option(min=1, help="Take every STRIDE-th frame.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """One row per clip: codec, size, fps, frames and usable windows; unreadable files with why.

    Exits 2 when none of the inputs is readable.
    """
    inv = take_inventory(data, context=context, horizon=horizon, stride=stride)
    if as_json:
        print(json.dumps([row.to_dict() for row in inv.clips], indent=2))
    else:
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
                f"~{i.frames}" if i.frames_estimated else str(i.frames),
                str(row.windows),
            )
        table.add_section()
        table.add_row("total", "", "", "", str(inv.total_frames), str(inv.total_windows))
        console.print(table)
        console.print(
            f"windows of {context}+{horizon} frames, stride {stride}"
            + (
                "; ~ = estimated from duration x fps"
                if any(r.info.frames_estimated for r in inv.clips)
                else ""
            )
        )
    for bad in inv.unreadable:
        err_console.print(f"[yellow]unreadable:[/] {bad.path}: {bad.reason}", highlight=False)
    if not inv.clips:
        raise InputError(f"none of {', '.join(map(str, data))} is readable")

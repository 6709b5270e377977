"""`vidpred weights list|fetch|import`: the pretrained weights flow backends and losses use.

Nothing else in vidpred downloads: `fetch` is the one explicit download, and `import` installs a
file copied from elsewhere on machines without internet. Registered by the root app as
`app.add_typer(weights_cmd.app, name="weights")`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from vidpred import weights
from vidpred.cli.console import console, err_console

app = typer.Typer(
    help="Pretrained weights for flow and perceptual losses: list, fetch, import.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("list")
def list_weights(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Every named weights file, where it is looked for, and whether it is there."""
    rows = weights.weights_table()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"weights in {weights.checkpoints_dir()}", title_justify="left")
    for name, justify in [
        ("name", "left"),
        ("present", "left"),
        ("size", "right"),
        ("used by", "left"),
        ("torchvision weights", "left"),
        ("the paper used", "left"),
        ("file", "left"),
    ]:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            str(row["name"]),
            "[green]yes[/]" if row["present"] else "[red]no[/]",
            f"{row['size_mb']:.0f} MB",
            str(row["used_by"]),
            str(row["torchvision"]),
            str(row["paper"] or "-"),
            str(row["file"]),
        )
    console.print(table, highlight=False)
    if not all(row["present"] for row in rows):
        console.print("get one with `vidpred weights fetch NAME` (or `weights import NAME FILE`)")


@app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(weights.REGISTRY)}.")],
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait on connect and on each read.")
    ] = 5.0,
    force: Annotated[bool, typer.Option(help="Download again even if present.")] = False,
) -> None:
    """Download NAME into the torch hub cache and check its sha256."""
    entry = weights.get_entry(name)
    if entry.present and not force:
        console.print(f"{name}: already at {entry.path}", highlight=False)
        return
    with Progress(
        TextColumn(f"{name}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("download", total=None)
        path = weights.fetch(
            name,
            timeout=timeout,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            force=force,
        )
    console.print(f"{entry.name}: {path}", highlight=False)


@app.command("import")
def import_(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(weights.REGISTRY)}.")],
    file: Annotated[Path, typer.Argument(help="The downloaded file (torchvision's .pth).")],
) -> None:
    """Check FILE against NAME's published sha256 and copy it into the cache."""
    path = weights.import_weights(name, file)
    console.print(f"{name}: {path}", highlight=False)

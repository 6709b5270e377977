"""The `vidpred` command line. Each command lives in its own module and stays thin: parse options,
build a config, call the library. User errors (`VidpredError`) become one line and exit code 2."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

from vidpred import __version__
from vidpred.cli import eval as eval_cmd
from vidpred.cli import flow as flow_cmd
from vidpred.cli import inspect as inspect_cmd
from vidpred.cli import interpolate as interpolate_cmd
from vidpred.cli import predict as predict_cmd
from vidpred.cli import toy as toy_cmd
from vidpred.cli import train as train_cmd
from vidpred.cli import weights as weights_cmd
from vidpred.cli.console import err_console
from vidpred.errors import VidpredError


class _VidpredGroup(TyperGroup):
    """Turns library errors into `error: ...` on stderr and exit code 2, no traceback."""

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except VidpredError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_VidpredGroup,
    name="vidpred",
    help="Train and evaluate video prediction and frame interpolation models "
    "with correspondence-wise losses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vidpred {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Train and evaluate video prediction and frame interpolation models."""


app.command("train")(train_cmd.train)
app.command("predict")(predict_cmd.predict)
app.command("interpolate")(interpolate_cmd.interpolate)
app.command("eval")(eval_cmd.eval_)
app.command("inspect")(inspect_cmd.inspect)
app.command("flow")(flow_cmd.flow)
app.command("toy")(toy_cmd.toy)
app.add_typer(weights_cmd.app, name="weights")


def main() -> None:
    app()

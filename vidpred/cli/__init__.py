"""The `vidpred` command line. Each command lives in its own module and stays thin: parse options,
build a config, call the library. What a user can cause ends as one line on stderr, never a
traceback (issue 12):

- `VidpredError` (bad input, incompatible checkpoint) and `OSError` (disk full, read-only
  folder, a file where a folder should be): `error: PATH: cause`, exit code 2;
- Ctrl-C outside the training loop (which saves and says how to resume): `interrupted`, exit 130;
- library warnings (`warnings.warn`, e.g. a truncated video): one `note: ...` line each.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def _interrupted_while_importing(signum, frame) -> None:
    # Importing torch takes seconds; a Ctrl-C then would print a KeyboardInterrupt traceback
    # from deep inside it. Nothing has been written yet, so leaving at once is safe.
    sys.stderr.write("interrupted\n")
    os._exit(130)


_on_main_thread = threading.current_thread() is threading.main_thread()
_previous_sigint = (
    signal.signal(signal.SIGINT, _interrupted_while_importing) if _on_main_thread else None
)

import warnings  # noqa: E402
from typing import Annotated  # noqa: E402

import typer  # noqa: E402
from rich.markup import escape  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from vidpred import __version__  # noqa: E402
from vidpred.cli import eval as eval_cmd  # noqa: E402
from vidpred.cli import flow as flow_cmd  # noqa: E402
from vidpred.cli import inspect as inspect_cmd  # noqa: E402
from vidpred.cli import interpolate as interpolate_cmd  # noqa: E402
from vidpred.cli import predict as predict_cmd  # noqa: E402
from vidpred.cli import toy as toy_cmd  # noqa: E402
from vidpred.cli import train as train_cmd  # noqa: E402
from vidpred.cli import weights as weights_cmd  # noqa: E402
from vidpred.cli.console import err_console, notice  # noqa: E402
from vidpred.errors import VidpredError  # noqa: E402

if _on_main_thread:
    signal.signal(signal.SIGINT, _previous_sigint or signal.default_int_handler)


def os_error_line(e: OSError) -> str:
    """`PATH: cause` for an OSError (`No space left on device`, `Read-only file system`, ...)."""
    cause = e.strerror or str(e) or type(e).__name__
    if e.filename is None:
        return cause
    target = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else str(e.filename)
    return f"{target}: {cause}"


def _warning_as_note(message, category, filename, lineno, file=None, line=None) -> None:
    notice(str(message))


class _VidpredGroup(TyperGroup):
    """Runs a command with the rules of the module docstring: one line and an exit code for
    errors a user can cause, `note:` lines for warnings."""

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        with warnings.catch_warnings():  # restores showwarning afterwards (tests share a process)
            warnings.showwarning = _warning_as_note
            try:
                return super().invoke(ctx)
            except VidpredError as e:
                _error(str(e))
                raise typer.Exit(2) from None
            except OSError as e:
                _error(os_error_line(e))
                raise typer.Exit(2) from None
            except KeyboardInterrupt:
                err_console.print("interrupted", highlight=False)
                raise typer.Exit(130) from None


def _error(line: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)


app = typer.Typer(
    cls=_VidpredGroup,
    name="vidpred",
    help="Train and evaluate video prediction and frame interpolation models "
    "with correspondence-wise losses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # Markdown, not Rich markup: paragraphs reflow to the terminal, and a "[default: x]" in a help
    # text is shown, not swallowed as a Rich tag.
    rich_markup_mode="markdown",
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

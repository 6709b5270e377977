"""Rich consoles shared by the commands: results to stdout, notices and errors to stderr."""

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def notice(message: str) -> None:
    """A one-line notice on stderr (keeps stdout clean for `--json`)."""
    err_console.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)

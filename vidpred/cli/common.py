"""Options and checks shared by the commands that read a model and write frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vidpred.errors import InputError
from vidpred.io.frames import IMAGE_EXTENSIONS

DeviceOption = Annotated[str, typer.Option(help="auto | cpu | cuda | mps.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]


def check_output(path: Path, *, overwrite: bool) -> None:
    """Refuse to replace an existing output unless asked to (outputs are written atomically, so
    with --overwrite the old one stays intact until the new one is complete)."""
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (use --overwrite to replace it)")


def check_image_suffix(path: Path, *, option: str) -> None:
    """An image output's suffix, checked before any work is done."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        allowed = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise InputError(f"{option} {path}: writes an image; give a name ending in {allowed}")


def parse_size(text: str | None, *, option: str = "--size") -> tuple[int, int] | None:
    """`64` -> (64, 64); `64x128` -> (64, 128) as (H, W)."""
    if text is None:
        return None
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise InputError(f"{option} {text}: expected N or HxW, e.g. 64 or 64x128")
    return parts[0], parts[1]

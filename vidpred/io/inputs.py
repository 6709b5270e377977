"""What the user points `predict`, `interpolate` and `eval` at: image files, a folder of frames,
or a video, read as one sequence of uint8 `(H, W, 3)` frames."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidpred.errors import InputError
from vidpred.io.frames import is_image_file, load_image_rgb
from vidpred.io.sources import FrameSource, open_source


@dataclass
class FrameInput:
    """Either a source (video or frame folder, streamed) or a list of image files."""

    label: str
    frames: int
    width: int
    height: int
    fps: float | None
    source: FrameSource | None = None
    images: Sequence[Path] = ()

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        if self.source is not None:
            yield from self.source.iter_frames(start, stop)
            return
        for path in self.images[start:stop]:
            frame = load_image_rgb(path)
            if frame.shape[:2] != (self.height, self.width):
                raise InputError(
                    f"{path}: size {frame.shape[1]}x{frame.shape[0]} differs from "
                    f"{self.width}x{self.height} of {self.images[0]}"
                )
            yield frame


def open_input(paths: Sequence[Path]) -> FrameInput:
    """One video or folder of frames, or several image files (in the order given)."""
    if not paths:
        raise InputError("no input given")
    if len(paths) == 1 and not is_image_file(paths[0]):
        source = open_source(paths[0])
        i = source.info
        return FrameInput(str(i.path), i.frames, i.width, i.height, i.fps, source=source)
    for p in paths:
        if not p.is_file():
            raise InputError(f"{p}: no such file")
        if not is_image_file(p):
            raise InputError(f"{p}: not an image file; give image files, or one video or folder")
    first = load_image_rgb(paths[0])
    h, w, _ = first.shape
    return FrameInput(str(paths[0].parent), len(paths), w, h, None, images=list(paths))

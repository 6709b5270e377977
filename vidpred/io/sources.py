"""One interface over video files and folders of frames, and expansion of the user's paths.

Usage::

    source = open_source("clip.mp4")  # or a folder of frame_0001.png ...
    source.info  # SourceInfo(kind="video", codec="h264", ...)
    for frame in source.iter_frames(10, 20, size=(128, 96)):  # uint8 (96, 128, 3)
        ...
    sources, unreadable = discover_sources(["clips/", "extra.avi"])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vidpred.errors import InputError
from vidpred.io.frames import IMAGE_EXTENSIONS, FrameFolderReader, is_image_file, natural_sort_key
from vidpred.io.video import VIDEO_EXTENSIONS, VideoReader, is_video_file


@dataclass(frozen=True)
class SourceInfo:
    """What a clip holds.

    `codec` is FFmpeg's decoder name for videos ("h264", "vp9", "mpeg4", "gif", ...) and the
    image format for frame folders ("png", "jpeg", "png+jpeg" when mixed). `fps` is None for a
    frame folder: images carry no timing, and inventing one would make it look measured; a
    consumer that needs a rate (writing a video back) picks its own. `frames_estimated` is True
    when the container stores no frame count and `frames` is ``round(duration * fps)``.
    """

    path: Path
    kind: Literal["video", "frames"]
    codec: str
    width: int
    height: int
    fps: float | None
    frames: int
    frames_estimated: bool


class FrameSource:
    """A readable clip: `info` plus streaming access to its frames as uint8 (H, W, 3) RGB."""

    def __init__(self, info: SourceInfo, reader: VideoReader | FrameFolderReader) -> None:
        self.info = info
        self._reader = reader

    def iter_frames(
        self, start: int = 0, stop: int | None = None, *, size: tuple[int, int] | None = None
    ) -> Iterator[np.ndarray]:
        """Yield frames `start` .. `stop`-1 (to the end if None) as uint8 (H, W, 3).

        `size=(w, h)` resizes while decoding (swscale for video, PIL for images), far cheaper
        than decoding at full size and resizing after. Holds one frame at a time.
        """
        return self._reader.iter_frames(start, stop, size=size)

    def count_frames(self, on_frame: Callable[[], None] | None = None) -> int:
        """Frames that really decode: a full decode for a video (its header may be wrong); the
        number of images for a frame folder (each one's header was read on opening)."""
        if isinstance(self._reader, VideoReader):
            return self._reader.count_frames(on_frame)
        return self.info.frames

    def read_frame(self, index: int, *, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frame `index` as uint8 (H, W, 3); IndexError past the end."""
        return self._reader.read_frame(index, size=size)

    def __repr__(self) -> str:
        i = self.info
        fps = "" if i.fps is None else f", {i.fps:.4g} fps"
        est = "~" if i.frames_estimated else ""
        return (
            f"FrameSource({str(i.path)!r}, {i.kind}/{i.codec}, {i.width}x{i.height}{fps}, "
            f"{est}{i.frames} frames)"
        )


def open_source(path: Path | str) -> FrameSource:
    """Open one video file or one folder of frames; InputError naming the path otherwise."""
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise InputError(f"{path}: a symbolic link to nothing (broken, or a loop)")
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        try:
            folder = FrameFolderReader(path)
        except InputError:
            videos = [p for p in path.iterdir() if p.is_file() and is_video_file(p)]
            if videos and not any(is_image_file(p) for p in path.iterdir()):
                raise InputError(
                    f"{path}: a folder of {len(videos)} videos, not of frames; "
                    "open the videos one by one or use discover_sources"
                ) from None
            raise
        info = SourceInfo(
            path=path,
            kind="frames",
            codec=folder.codec,
            width=folder.width,
            height=folder.height,
            fps=None,
            frames=folder.frames,
            frames_estimated=False,
        )
        return FrameSource(info, folder)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        raise InputError(f"{path}: a single image is not a clip; pass the folder of frames")
    if suffix not in VIDEO_EXTENSIONS:
        raise InputError(
            f"{path}: unsupported file type '{suffix or path.name}' "
            f"(videos: {', '.join(sorted(VIDEO_EXTENSIONS))}; or a folder of images)"
        )
    video = VideoReader(path)
    info = SourceInfo(
        path=path,
        kind="video",
        codec=video.codec,
        width=video.width,
        height=video.height,
        fps=video.fps,
        frames=video.frames,
        frames_estimated=video.frames_estimated,
    )
    return FrameSource(info, video)


def _clips_under(folder: Path) -> list[Path]:
    """Video files and frame folders under `folder`, recursively, in natural order; hidden
    files and folders (including writers' ``.partial`` outputs) are skipped."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted((d for d in dirnames if not d.startswith(".")), key=natural_sort_key)
        here = Path(dirpath)
        files = [here / f for f in sorted(filenames, key=natural_sort_key)]
        if any(is_image_file(f) for f in files):
            found.append(here)
        found.extend(f for f in files if is_video_file(f))
    return found


def _reason(error: InputError, path: Path) -> str:
    message = str(error)
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def discover_sources(
    paths: Iterable[Path | str],
) -> tuple[list[FrameSource], list[tuple[Path, str]]]:
    """Expand the user's arguments into clips.

    Each argument may be a video file, a folder of frames (a folder whose files are images is
    one clip), or a folder searched recursively for videos and frame folders, in any mix.
    Returns the readable sources, in argument order then natural order, each path once, and
    ``(path, reason)`` for every path that could not be used.
    """
    sources: list[FrameSource] = []
    unreadable: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for arg in map(Path, paths):
        if not arg.exists():
            broken = arg.is_symlink()
            unreadable.append(
                (arg, "a symbolic link to nothing" if broken else "no such file or folder")
            )
            continue
        if arg.is_dir():
            candidates = _clips_under(arg)
            if not candidates:
                unreadable.append((arg, "no videos or folders of images inside"))
                continue
        else:
            candidates = [arg]
        for path in candidates:
            key = Path(os.path.realpath(path))  # Path.resolve raises on a symlink loop
            if key in seen:
                continue
            seen.add(key)
            try:
                sources.append(open_source(path))
            except InputError as e:
                unreadable.append((path, _reason(e, path)))
    return sources, unreadable


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the shorter side equal to `short_side` and the aspect ratio kept (rounded).

    >>> scaled_size(1280, 720, 128)
    (228, 128)
    """
    if min(width, height, short_side) < 1:
        raise ValueError(f"need positive sizes, got {width}x{height} -> short side {short_side}")
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))

"""Decode each clip once, at the working resolution, into an on-disk uint8 cache.

Training samples thousands of windows from a few videos; decoding H.264 for every window would
make the decoder the bottleneck and seeking inexact. So each source is decoded once, resized on
the way (swscale, never materialising full-resolution RGB), and written frame by frame to a raw
`(T, H, W, 3)` uint8 file that is memory-mapped afterwards. Peak memory is one frame, whatever
the video's length.

An entry is keyed by the source's *content* (not its name or mtime), the working size and the
cache format, so an edited file is re-decoded and a renamed one is not. An entry is complete only
once its metadata file exists; both files are written to temporaries and renamed, so a killed
process never leaves an entry that looks valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidpred.errors import InputError
from vidpred.io.atomic import atomic_path
from vidpred.io.sources import FrameSource

CACHE_FORMAT = 1
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """`$VIDPRED_CACHE`, else `$XDG_CACHE_HOME/vidpred/frames`, else `~/.cache/vidpred/frames`."""
    if env := os.environ.get("VIDPRED_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "vidpred" / "frames"


def working_size(src_hw: tuple[int, int], crop_hw: tuple[int, int]) -> tuple[int, int]:
    """The smallest (H, W) with the source's aspect ratio that covers a `crop_hw` crop.

    Resize-short-side-then-crop, as OpenSTL and most video prediction code do: the crop keeps the
    full extent of the tighter dimension and a random (train) or centre (eval) part of the other.
    """
    src_h, src_w = src_hw
    crop_h, crop_w = crop_hw
    scale = max(crop_h / src_h, crop_w / src_w)
    return max(crop_h, round(src_h * scale)), max(crop_w, round(src_w * scale))


def content_hash(path: Path) -> str:
    """blake2b over the bytes of a file, or of every file of a folder (names included)."""
    h = hashlib.blake2b(digest_size=16)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class CachedClip:
    """One decoded source: `frames` frames of `height` x `width` RGB in a raw uint8 file, from
    frame `start` of that file on (a part of a clip, for a split by time, is the same file)."""

    source: Path
    data_file: Path
    frames: int
    height: int
    width: int
    fps: float | None
    codec: str
    start: int = 0

    def open(self) -> np.ndarray:
        """A read-only memory map of this clip's frames, `(T, H, W, 3)` uint8."""
        return np.memmap(
            self.data_file,
            dtype=np.uint8,
            mode="r",
            offset=self.start * self.height * self.width * 3,
            shape=(self.frames, self.height, self.width, 3),
        )

    def part(self, first: int, stop: int) -> CachedClip:
        """Frames `first` .. `stop`-1 of this clip, as a clip of their own."""
        if not 0 <= first < stop <= self.frames:
            raise ValueError(f"part {first}..{stop} outside the clip's {self.frames} frames")
        return dataclasses.replace(self, start=self.start + first, frames=stop - first)


class FrameCache:
    """A folder of decoded clips. Safe to share between processes (DataLoader workers, DDP ranks):
    readers only ever see complete entries, and two writers of one entry write identical bytes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.u8", self.root / f"{key}.json"

    def key(self, source: FrameSource, size_hw: tuple[int, int]) -> str:
        h, w = size_hw
        return f"{content_hash(source.info.path)}-{h}x{w}-v{CACHE_FORMAT}"

    def lookup(self, source: FrameSource, size_hw: tuple[int, int]) -> CachedClip | None:
        """The entry for `source` at `size_hw`, or None when it has not been built."""
        return self._lookup(self.key(source, size_hw), source)

    def _lookup(self, key: str, source: FrameSource) -> CachedClip | None:
        data, meta = self._paths(key)
        if not (meta.exists() and data.exists()):
            return None
        try:
            m = json.loads(meta.read_text())
            ok = all(isinstance(m[k], int) and m[k] > 0 for k in ("frames", "height", "width"))
        except (OSError, ValueError, KeyError, TypeError):
            ok = False  # a corrupt or hand-edited entry (issue 12): rebuilt like a missing one
        if not ok or data.stat().st_size != m["frames"] * m["height"] * m["width"] * 3:
            return None  # torn by something outside our control; rebuild
        return CachedClip(
            source=source.info.path,
            data_file=data,
            frames=m["frames"],
            height=m["height"],
            width=m["width"],
            fps=source.info.fps,  # same content, same header
            codec=source.info.codec,
        )

    def decoded_frames(self, source: FrameSource) -> int | None:
        """How many frames `source` really decodes to, when a pass over it is on record (a cache
        entry at any size); None when it has never been decoded."""
        digest = content_hash(source.info.path)
        for meta in sorted(self.root.glob(f"{digest}-*.json")):
            try:
                frames = json.loads(meta.read_text())["frames"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(frames, int) and frames >= 0:
                return frames
        return None

    def get(
        self,
        source: FrameSource,
        size_hw: tuple[int, int],
        *,
        on_frame: Callable[[], None] | None = None,
    ) -> CachedClip:
        """The cached clip, decoding it first when needed. `on_frame` is called per decoded frame
        (progress bars). Raises InputError when the source yields no frame at all."""
        key = self.key(source, size_hw)  # hashes the file: once per call
        if (hit := self._lookup(key, source)) is not None:
            return hit
        try:
            return self._build(key, source, size_hw, on_frame)
        except OSError as e:
            if e.filename is None or not str(e.filename).startswith(str(self.root)):
                raise
            raise OSError(
                e.errno, f"{e.strerror} (the frame cache; set VIDPRED_CACHE elsewhere)", e.filename
            ) from e

    def _build(
        self,
        key: str,
        source: FrameSource,
        size_hw: tuple[int, int],
        on_frame: Callable[[], None] | None,
    ) -> CachedClip:
        data, meta = self._paths(key)
        h, w = size_hw
        count = 0
        with atomic_path(data) as tmp, open(tmp, "wb") as fh:
            for frame in source.iter_frames(size=(w, h)):
                assert frame.shape == (h, w, 3), frame.shape  # the reader honours `size`
                fh.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
                count += 1
                if on_frame is not None:
                    on_frame()
            if count == 0:
                raise InputError(f"{source.info.path}: no frame could be decoded")
        info = source.info
        record = {
            "source": str(info.path),
            "frames": count,
            "height": h,
            "width": w,
            "fps": info.fps,
            "codec": info.codec,
            "format": CACHE_FORMAT,
        }
        with atomic_path(meta) as tmp:
            tmp.write_text(json.dumps(record))
        return CachedClip(
            source=info.path,
            data_file=data,
            frames=count,
            height=h,
            width=w,
            fps=info.fps,
            codec=info.codec,
        )

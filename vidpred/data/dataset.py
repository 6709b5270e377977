"""Clip datasets: windows of `context + horizon` frames sampled from cached clips.

files -> (discover, decode once into the frame cache) -> CachedClip -> ClipDataset windows.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidpred.data.cache import CachedClip, FrameCache, working_size
from vidpred.errors import InputError
from vidpred.io.sources import discover_sources


def window_span(frames: int, stride: int) -> int:
    """How many source frames a window of `frames` frames, `stride` apart, covers."""
    return (frames - 1) * stride + 1


def count_windows(n_frames: int, *, frames: int, stride: int, step: int = 1) -> int:
    """Windows that fit in a clip of `n_frames` frames, starting every `step` frames."""
    span = window_span(frames, stride)
    return 0 if n_frames < span else (n_frames - span) // step + 1


@dataclass(frozen=True)
class Skipped:
    """A source left out of a dataset, and why (printed as one warning line each)."""

    path: Path
    reason: str


def load_clips(
    paths: Sequence[str | Path],
    *,
    size: tuple[int, int],
    frames: int,
    stride: int = 1,
    cache: FrameCache | None = None,
    on_frame: Callable[[], None] | None = None,
) -> tuple[list[CachedClip], list[Skipped]]:
    """Decode (or find in the cache) every usable source under `paths`.

    A source is skipped, with a reason, when it cannot be read or is shorter than one window of
    `frames` frames `stride` apart. Raises InputError only when nothing usable is left.
    """
    cache = cache or FrameCache()
    sources, bad = discover_sources([Path(p) for p in paths])
    skipped = [Skipped(Path(p), reason) for p, reason in bad]
    span = window_span(frames, stride)
    clips: list[CachedClip] = []
    for source in sources:
        info = source.info
        try:
            clip = cache.get(
                source, working_size((info.height, info.width), size), on_frame=on_frame
            )
        except InputError as e:
            skipped.append(Skipped(info.path, str(e).removeprefix(f"{info.path}: ")))
            continue
        if clip.frames < span:
            skipped.append(Skipped(info.path, f"has {clip.frames} frames; one window needs {span}"))
            continue
        clips.append(clip)
    if not clips:
        detail = "; ".join(f"{s.path}: {s.reason}" for s in skipped) or "no video or frames found"
        raise InputError(f"no usable clip in {', '.join(map(str, paths))} ({detail})")
    return sorted(clips, key=lambda c: str(c.source)), skipped


def split_by_file(
    clips: Sequence[CachedClip], *, val_fraction: float, seed: int
) -> tuple[list[CachedClip], list[CachedClip]]:
    """Split whole files (never windows of one file into both sides), the same for the same seed
    and file set whatever order the files were listed in. With a single file there is no
    validation split."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ordered = sorted(clips, key=lambda c: str(c.source))
    if len(ordered) < 2 or val_fraction == 0:
        return ordered, []
    random.Random(seed).shuffle(ordered)
    n_val = min(len(ordered) - 1, max(1, math.ceil(val_fraction * len(ordered))))
    val, train = ordered[:n_val], ordered[n_val:]
    return sorted(train, key=lambda c: str(c.source)), sorted(val, key=lambda c: str(c.source))


def split_by_time(
    clips: Sequence[CachedClip], *, val_fraction: float, span: int
) -> tuple[list[CachedClip], list[CachedClip]]:
    """The last `val_fraction` of every clip's frames for validation, the rest for training.

    The cut falls between frames, so no window (of `span` frames) straddles it. A clip too short
    to give both sides a window stays whole on the training side.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train, val = [], []
    for clip in sorted(clips, key=lambda c: str(c.source)):
        n_val = max(span, round(val_fraction * clip.frames))
        cut = clip.frames - n_val
        if cut < span:
            train.append(clip)
            continue
        train.append(clip.part(0, cut))
        val.append(clip.part(cut, clip.frames))
    return train, val


#: How training sets its validation windows apart (`DataConfig.val_split`).
VAL_SPLITS = ("auto", "files", "time")


def split_clips(
    clips: Sequence[CachedClip], *, how: str, val_fraction: float, seed: int, span: int
) -> tuple[list[CachedClip], list[CachedClip], str]:
    """`(train, val, how)`: split by file, by time, or (`auto`) by file when that leaves at least
    two validation files and by time otherwise, so validation never rests on one file (issue 10:
    five files made validation one static clip). `how` comes back resolved: "files", "time", or
    "none" when `val_fraction` is 0 or no clip can give a validation window."""
    if how not in VAL_SPLITS:
        raise ValueError(f"val_split must be one of {VAL_SPLITS}, got {how!r}")
    if val_fraction == 0:
        return sorted(clips, key=lambda c: str(c.source)), [], "none"
    if how != "time":
        train, val = split_by_file(clips, val_fraction=val_fraction, seed=seed)
        if how == "files" or len(val) >= 2:
            return train, val, "files" if val else "none"
    train, val = split_by_time(clips, val_fraction=val_fraction, span=span)
    return train, val, "time" if val else "none"


def _item_seed(seed: int, epoch: int, index: int) -> int:
    # Depends only on (seed, epoch, index): the same crops whichever worker or rank loads an item,
    # so a resumed run sees exactly the data an uninterrupted one would have.
    digest = hashlib.blake2b(f"{seed}/{epoch}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class ClipDataset(Dataset):
    """Windows of `frames` frames, `stride` apart, from cached clips, as `(T, C, H, W)` float32
    in [0, 1] with `size = (H, W)`.

    `train=True`: a random crop, a random horizontal flip and, half the time, the window played
    backwards (a motion seen both ways; seeded by seed, epoch and index: call `set_epoch` each
    epoch). `train=False`: the centre crop, in a fixed order.
    Windows start every `step` frames (1: every possible window).
    """

    def __init__(
        self,
        clips: Sequence[CachedClip],
        *,
        frames: int,
        size: tuple[int, int],
        stride: int = 1,
        step: int = 1,
        train: bool = False,
        seed: int = 0,
    ) -> None:
        if frames < 1 or stride < 1 or step < 1:
            raise ValueError(f"frames, stride, step must be >= 1, got {frames}, {stride}, {step}")
        self.clips = list(clips)
        self.frames, self.size, self.stride, self.step = frames, size, stride, step
        self.train, self.seed, self.epoch = train, seed, 0
        for clip in self.clips:
            if clip.height < size[0] or clip.width < size[1]:
                raise ValueError(f"{clip.source}: cached at {clip.height}x{clip.width} < {size}")
        counts = [count_windows(c.frames, frames=frames, stride=stride, step=step) for c in clips]
        self._ends = np.cumsum(counts).tolist()
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def locate(self, index: int) -> tuple[int, int]:
        """The position in `clips` and the first frame of window `index`."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        c = bisect.bisect_right(self._ends, index)
        first = index - (self._ends[c - 1] if c else 0)
        return c, first * self.step

    def _frames_of(self, c: int) -> np.ndarray:
        # Opened lazily, per process: memory maps are not shared through pickling to workers.
        if c not in self._maps:
            self._maps[c] = self.clips[c].open()
        return self._maps[c]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": {}}

    def __getitem__(self, index: int) -> torch.Tensor:
        c, start = self.locate(index)
        stop = start + window_span(self.frames, self.stride)
        window = self._frames_of(c)[start : stop : self.stride]  # (T, Hc, Wc, 3) uint8
        h, w = self.size
        hc, wc = window.shape[1:3]
        if self.train:
            rng = np.random.default_rng(_item_seed(self.seed, self.epoch, index))
            y, x = int(rng.integers(0, hc - h + 1)), int(rng.integers(0, wc - w + 1))
            flip, backwards = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        else:
            y, x, flip, backwards = (hc - h) // 2, (wc - w) // 2, False, False
        crop = window[:, y : y + h, x : x + w]
        if flip:
            crop = crop[:, :, ::-1]
        if backwards:
            crop = crop[::-1]
        # Converted in numpy: a tiny torch op pays OpenMP's thread hand-off, which costs more
        # than the work on a busy machine (measured in bench/decode.py).
        out = crop.transpose(0, 3, 1, 2).astype(np.float32)  # (T, 3, H, W)
        out *= 1 / 255
        return torch.from_numpy(out)

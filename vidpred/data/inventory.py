"""What `vidpred inspect` reports: one row per clip, like ffprobe for a dataset.

Frame counts are the ones that decode, as training sees them, not what the container claims: a
Cinepak AVI that claims 444 frames decodes 68 (issue 12). A clip the frame cache has decoded
before (at any size) costs a hash of the file; any other is decoded once, without colour
conversion. With `decode=False` the counts are the containers' claims and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from vidpred.data.cache import FrameCache
from vidpred.data.dataset import Skipped, count_windows
from vidpred.io.sources import FrameSource, SourceInfo, discover_sources


@dataclass(frozen=True)
class ClipRow:
    info: SourceInfo  # path, kind, codec, size, fps, claimed frames (and whether estimated)
    decoded: int | None  # frames that really decode; None when not decoded (decode=False)
    windows: int  # for the context/horizon/stride asked for, from `frames`

    @property
    def frames(self) -> int:
        """The decoded count when known, else the container's claim."""
        return self.info.frames if self.decoded is None else self.decoded

    @property
    def mismatch(self) -> bool:
        """The container claims a number of frames (not an estimate) that does not decode."""
        return (
            self.decoded is not None
            and not self.info.frames_estimated
            and self.decoded != self.info.frames
        )

    def to_dict(self) -> dict:
        info = asdict(self.info)
        return {
            **info,
            "path": str(self.info.path),
            "frames": self.frames,
            "frames_claimed": self.info.frames,
            "frames_decoded": self.decoded,
            "windows": self.windows,
        }


@dataclass(frozen=True)
class Inventory:
    clips: list[ClipRow]
    unreadable: list[Skipped]

    @property
    def total_frames(self) -> int:
        return sum(c.frames for c in self.clips)

    @property
    def total_windows(self) -> int:
        return sum(c.windows for c in self.clips)


def find_sources(paths: Sequence[str | Path]) -> tuple[list[FrameSource], list[Skipped]]:
    sources, bad = discover_sources([Path(p) for p in paths])
    return sources, [Skipped(Path(p), r) for p, r in bad]


def decoded_count(
    source: FrameSource, cache: FrameCache | None, on_frame: Callable[[], None] | None = None
) -> int:
    """Frames `source` decodes to: from the frame cache's record when there is one."""
    known = cache.decoded_frames(source) if cache is not None else None
    return known if known is not None else source.count_frames(on_frame)


def take_inventory(
    paths: Sequence[str | Path],
    *,
    context: int,
    horizon: int,
    stride: int,
    decode: bool = True,
    cache: FrameCache | None = None,
    on_frame: Callable[[], None] | None = None,
) -> Inventory:
    sources, unreadable = find_sources(paths)
    return inventory_of(
        sources,
        unreadable,
        frames=context + horizon,
        stride=stride,
        decode=decode,
        cache=cache,
        on_frame=on_frame,
    )


def inventory_of(
    sources: Sequence[FrameSource],
    unreadable: list[Skipped],
    *,
    frames: int,
    stride: int,
    decode: bool = True,
    cache: FrameCache | None = None,
    on_frame: Callable[[], None] | None = None,
) -> Inventory:
    rows = []
    for source in sources:
        decoded = decoded_count(source, cache, on_frame) if decode else None
        if decoded == 0:
            unreadable.append(Skipped(source.info.path, "no frame decodes"))
            continue
        n = source.info.frames if decoded is None else decoded
        rows.append(ClipRow(source.info, decoded, count_windows(n, frames=frames, stride=stride)))
    return Inventory(clips=rows, unreadable=unreadable)

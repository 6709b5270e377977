"""What `vidpred inspect` reports: one row per clip, like ffprobe for a dataset. Reads headers
and the first frame only (no full decode), so it is quick on large collections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from vidpred.data.dataset import Skipped, count_windows
from vidpred.io.sources import SourceInfo, discover_sources


@dataclass(frozen=True)
class ClipRow:
    info: SourceInfo  # path, kind, codec, size, fps, frames (and whether they are estimated)
    windows: int  # for the context/horizon/stride asked for

    def to_dict(self) -> dict:
        return {**asdict(self.info), "path": str(self.info.path), "windows": self.windows}


@dataclass(frozen=True)
class Inventory:
    clips: list[ClipRow]
    unreadable: list[Skipped]

    @property
    def total_frames(self) -> int:
        return sum(c.info.frames for c in self.clips)

    @property
    def total_windows(self) -> int:
        return sum(c.windows for c in self.clips)


def take_inventory(
    paths: Sequence[str | Path], *, context: int, horizon: int, stride: int
) -> Inventory:
    sources, bad = discover_sources([Path(p) for p in paths])
    rows = [
        ClipRow(
            info=source.info,
            windows=count_windows(source.info.frames, frames=context + horizon, stride=stride),
        )
        for source in sources
    ]
    return Inventory(clips=rows, unreadable=[Skipped(Path(p), r) for p, r in bad])

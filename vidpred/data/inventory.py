"""What `vidpred inspect` reports: one row per clip, like ffprobe for a dataset. Reads headers
only (no full decode), so it is quick on large collections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from vidpred.data.dataset import Skipped, count_windows
from vidpred.io.sources import discover_sources


@dataclass(frozen=True)
class ClipRow:
    path: str
    kind: str  # "video" or "frames"
    codec: str
    width: int
    height: int
    fps: float | None
    frames: int
    frames_estimated: bool  # the container did not say; frames = duration * fps
    windows: int  # for the context/horizon/stride asked for

    def to_dict(self) -> dict:
        return asdict(self)


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


def take_inventory(
    paths: Sequence[str | Path], *, context: int, horizon: int, stride: int
) -> Inventory:
    sources, bad = discover_sources([Path(p) for p in paths])
    rows = []
    for source in sources:
        info = source.info
        rows.append(
            ClipRow(
                path=str(info.path),
                kind=info.kind,
                codec=info.codec,
                width=info.width,
                height=info.height,
                fps=info.fps,
                frames=info.frames,
                frames_estimated=info.frames_estimated,
                windows=count_windows(info.frames, frames=context + horizon, stride=stride),
            )
        )
    return Inventory(clips=rows, unreadable=[Skipped(Path(p), r) for p, r in bad])

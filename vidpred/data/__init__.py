"""Datasets: sources on disk -> decoded-once frame cache -> windows of frames."""

from vidpred.data.cache import CachedClip, FrameCache, working_size
from vidpred.data.dataset import (
    VAL_SPLITS,
    ClipDataset,
    Skipped,
    count_windows,
    load_clips,
    split_by_file,
    split_by_time,
    split_clips,
    window_span,
)

__all__ = [
    "VAL_SPLITS",
    "CachedClip",
    "ClipDataset",
    "FrameCache",
    "Skipped",
    "count_windows",
    "load_clips",
    "split_by_file",
    "split_by_time",
    "split_clips",
    "window_span",
    "working_size",
]

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
from vidpred.data.synthetic import MixedWindows, SyntheticMotion, with_synthetic

__all__ = [
    "VAL_SPLITS",
    "CachedClip",
    "ClipDataset",
    "FrameCache",
    "MixedWindows",
    "Skipped",
    "SyntheticMotion",
    "count_windows",
    "load_clips",
    "split_by_file",
    "split_by_time",
    "split_clips",
    "window_span",
    "with_synthetic",
    "working_size",
]

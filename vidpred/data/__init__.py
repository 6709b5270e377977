"""Datasets: sources on disk -> decoded-once frame cache -> windows of frames."""

from vidpred.data.cache import CachedClip, FrameCache, working_size
from vidpred.data.dataset import ClipDataset, Skipped, count_windows, load_clips, split_by_file

__all__ = [
    "CachedClip",
    "ClipDataset",
    "FrameCache",
    "Skipped",
    "count_windows",
    "load_clips",
    "split_by_file",
    "working_size",
]

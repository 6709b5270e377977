"""Video and frame I/O: the only place frames are uint8 (H, W, 3) RGB arrays.

Reading: `open_source` / `discover_sources` give `FrameSource`s (video files through PyAV, or
folders of images) with a `SourceInfo` and a streaming, optionally resizing `iter_frames`.
Writing: `FrameWriter` (or `write_frames`) picks MP4, WebM, MKV (lossless), GIF or a PNG folder
from the destination path and renames into place only when complete.
Plumbing for every output: write-then-rename (`atomic`), comparison grids (`grids`), and
decode/encode threads beside the model (`streaming`).
"""

from vidpred.io.atomic import atomic_path, fsync_replace, temp_dir_beside, temp_file_beside
from vidpred.io.frames import (
    IMAGE_EXTENSIONS,
    FrameFolderReader,
    PngSequenceWriter,
    load_image_rgb,
    natural_sort_key,
    write_image,
)
from vidpred.io.grids import comparison_grid, error_map, grid, to_uint8
from vidpred.io.sources import (
    FrameSource,
    SourceInfo,
    discover_sources,
    open_source,
    scaled_size,
)
from vidpred.io.streaming import BackgroundSink, prefetch
from vidpred.io.video import (
    VIDEO_EXTENSIONS,
    WRITE_EXTENSIONS,
    FrameWriter,
    VideoReader,
    write_frames,
)

__all__ = [
    "BackgroundSink",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "FrameFolderReader",
    "FrameSource",
    "FrameWriter",
    "PngSequenceWriter",
    "SourceInfo",
    "VideoReader",
    "atomic_path",
    "comparison_grid",
    "discover_sources",
    "error_map",
    "fsync_replace",
    "grid",
    "load_image_rgb",
    "natural_sort_key",
    "open_source",
    "prefetch",
    "scaled_size",
    "temp_dir_beside",
    "temp_file_beside",
    "to_uint8",
    "write_frames",
    "write_image",
]

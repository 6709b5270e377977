"""Video files through PyAV (FFmpeg): probe, stream frames, seek exactly, write.

Reading never holds more than the frames FFmpeg buffers internally: `VideoReader` keeps only the
probed metadata, and each `iter_frames` call opens its own container and closes it when the
generator finishes or is dropped, so readers are cheap, picklable and safe to share between
DataLoader workers.

Frame index ``i`` means the i-th frame a sequential decode from the start produces. Seeking
reaches it by jumping to the keyframe before ``i`` and decoding forward, matching frames by
presentation timestamp (``index = round((pts - first_pts) * time_base * fps)``); that mapping
is exact for constant-frame-rate video, which is what the supported containers hold. GIF (whose
frame delays vary freely) and streams without timestamps are decoded forward from the start.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from vidpred.errors import InputError
from vidpred.io.atomic import errors_name, temp_file_beside
from vidpred.io.frames import PngSequenceWriter, check_frame

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".mpg", ".mpeg", ".wmv", ".flv",
     ".ogv", ".ts", ".mts", ".m2ts", ".3gp", ".asf", ".y4m"}
)  # fmt: skip

# FFmpeg errors (InvalidDataError, ...) and plain OS errors (permission, I/O) while reading.
_READ_ERRORS = (av.FFmpegError, OSError)


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def _looks_like_mp4(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


def _open_input(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except _READ_ERRORS as e:
        reason = getattr(e, "strerror", None) or str(e)
        if _looks_like_mp4(path):
            # FFmpeg only says "invalid data"; the usual cause is a missing moov atom.
            reason = f"MP4 index (moov atom) missing or broken, truncated file? ({reason})"
        raise InputError(f"{path}: not a video PyAV can decode ({reason})") from None


def _decode(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator:
    """Decode `stream` forward, skipping corrupt packets and stopping at an unreadable tail;
    frames already inside the decoder are flushed out either way."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except _READ_ERRORS:
            break
        try:
            yield from stream.decode(packet)
        except av.FFmpegError:
            continue  # one damaged packet: FFmpeg conceals, so do we
    try:
        yield from stream.decode(None)
    except av.FFmpegError:
        return


class VideoReader:
    """Metadata of one video stream plus frame access (see the module docstring).

    Attributes: path, codec (FFmpeg decoder name: "h264", "vp9", "mpeg4", ...), width, height,
    fps (float), frames, frames_estimated (True when the container does not store a frame
    count and `frames` is ``round(duration * fps)``).

    Opening decodes the first frame, so a file that opens but cannot produce a single frame is
    refused here rather than later in training.
    """

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(f"{path}: not a file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (0 bytes)")
        self.path = path
        with _open_input(path) as container:
            if not container.streams.video:
                raise InputError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            first = next(_decode(container, stream), None)
            if first is None:
                raise InputError(f"{path}: no decodable video frames (corrupt or truncated?)")
            self.codec = stream.codec_context.name
            self.width = stream.codec_context.width or first.width
            self.height = stream.codec_context.height or first.height
            self._is_gif = container.format.name == "gif"
            self._rate = self._frame_rate(container, stream)
            self.fps = float(self._rate)
            self.frames, self.frames_estimated = self._frame_count(container, stream)
            self._time_base = stream.time_base
            self._first_pts = first.pts

    def _frame_rate(self, container, stream) -> Fraction:
        duration = stream.duration
        if self._is_gif and stream.frames and duration:
            # The GIF demuxer's average_rate comes from the first delay only.
            return Fraction(stream.frames) / (duration * stream.time_base)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise InputError(f"{self.path}: the video stream has no frame rate")
        return Fraction(rate)

    def _frame_count(self, container, stream) -> tuple[int, bool]:
        if stream.frames > 0:
            return stream.frames, False
        if stream.duration:
            seconds = stream.duration * stream.time_base
        elif container.duration:
            seconds = Fraction(container.duration, av.time_base)
        else:  # no duration either: count packets, which reads but does not decode the file
            return sum(1 for p in container.demux(stream) if p.size), False
        return max(1, round(seconds * self._rate)), True

    def _index_of(self, pts: int) -> int:
        return round((pts - self._first_pts) * self._time_base * self._rate)

    def iter_frames(
        self, start: int = 0, stop: int | None = None, *, size: tuple[int, int] | None = None
    ) -> Iterator[np.ndarray]:
        """Yield uint8 (H, W, 3) RGB frames `start` .. `stop`-1 (to the end if `stop` is None).

        With `size=(w, h)` frames are scaled by FFmpeg's swscale in the same pass that converts
        YUV to RGB, so a full-resolution RGB frame never exists. Scaling is swscale's area
        averaging (SWS_AREA): for 720p -> 228x128 it costs ~0.45 ms a frame against ~3.3 ms
        for RGB decode + cv2 INTER_AREA, and is within ~1.6 grey levels of an exact float
        area average (bilinear is slower and further off). Without `size` frames come at the
        probed width x height. Frames the decoder cannot recover at the end of a truncated file
        are skipped with a RuntimeWarning; seeking is exact (module docstring).
        """
        if start < 0 or (stop is not None and stop < start):
            raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"size must be (width, height) with both >= 1, got {size}")
        width, height = size if size is not None else (self.width, self.height)
        return self._iter_rgb(start, stop, int(width), int(height))

    def count_frames(self, on_frame: Callable[[], None] | None = None) -> int:
        """Frames a full sequential decode produces (no colour conversion): the truth where the
        header is wrong (a truncated AVI claims 444 and decodes 68). Reads the whole file."""
        count = 0
        with _open_input(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in _decode(container, stream):
                count += 1
                if on_frame is not None:
                    on_frame()
        return count

    def read_frame(self, index: int, *, size: tuple[int, int] | None = None) -> np.ndarray:
        """One frame by index (seeks; prefer `iter_frames` for runs of frames)."""
        frame = next(self.iter_frames(index, index + 1, size=size), None)
        if frame is None:
            raise IndexError(f"{self.path}: frame {index} is past the last decodable frame")
        return frame

    def _iter_rgb(self, start: int, stop: int | None, width: int, height: int) -> Iterator:
        if stop is not None and stop == start:
            return
        # One reformatter per iteration: it caches the swscale context between frames.
        reformatter = VideoReformatter()
        index = start
        for frame in self._iter_av_frames(start):
            if stop is not None and index >= stop:
                break
            rgb = reformatter.reformat(
                frame, width=width, height=height, format="rgb24", interpolation="AREA"
            )
            yield np.ascontiguousarray(rgb.to_ndarray())
            index += 1
        expected = self.frames if stop is None else min(stop, self.frames)
        if index < expected and not self.frames_estimated:
            warnings.warn(
                f"{self.path}: decoding stopped at frame {index} of {self.frames} (truncated?)",
                RuntimeWarning,
                stacklevel=3,
            )

    def _iter_av_frames(self, start: int) -> Iterator[av.VideoFrame]:
        """Decoded frames from index `start` on, seeking when the stream allows it."""
        if start > 0 and not self._is_gif and self._first_pts is not None:
            with _open_input(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                frames = self._seek(container, stream, start)
                if frames is not None:
                    yield from frames
                    return
        # Sequential: decode from the start and drop (without converting) the first `start`.
        with _open_input(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(_decode(container, stream)):
                if index >= start:
                    yield frame

    def _seek(self, container, stream, start: int) -> Iterator[av.VideoFrame] | None:
        """Frames from index `start` on after a keyframe seek, or None when the caller must
        decode sequentially instead (frames without pts, or no trustworthy landing point)."""
        pts_per_frame = 1 / (self._rate * self._time_base)
        # Demuxers may land after the target: AVI indexes keyframes by decode time, and with
        # B-frames a keyframe is displayed a few frames after it is decoded. Each overshoot
        # retries from further back.
        for frames_back in (0, 2, 8, 32):
            # Aim half a frame early: before frame `start`, after frame `start - 1`, even when
            # the container rounded timestamps (29.97 fps in a 1/1000 time base).
            offset = int((start - frames_back - Fraction(1, 2)) * pts_per_frame)
            if offset <= 0:
                return None  # that close to the start, plain decoding is as cheap
            try:
                container.seek(self._first_pts + offset, stream=stream, backward=True)
            except av.FFmpegError:
                return None
            frames = _decode(container, stream)
            for frame in frames:
                if frame.pts is None:
                    return None
                index = self._index_of(frame.pts)
                if index == start:
                    return _chain(frame, frames)
                if index > start:
                    break  # overshot
            else:
                return iter(())  # the stream ended before `start`
            frames.close()
        return None

    def __repr__(self) -> str:
        est = "~" if self.frames_estimated else ""
        return (
            f"VideoReader({str(self.path)!r}, {self.codec}, {self.width}x{self.height}, "
            f"{self.fps:.4g} fps, {est}{self.frames} frames)"
        )


def _chain(first: av.VideoFrame, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    yield first
    yield from rest


# --- writing -----------------------------------------------------------------------------------

# extension -> (muxer, encoder, pixel format, encoder options)
_OUTPUTS = {
    ".mp4": ("mp4", "libx264", "yuv420p", {"crf": "18", "preset": "fast"}),
    ".webm": (
        "webm",
        "libvpx-vp9",
        "yuv420p",
        {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
    ),
    ".mkv": ("matroska", "ffv1", "bgr0", {}),  # lossless RGB
    ".gif": ("gif", "gif", "pal8", {}),
}
WRITE_EXTENSIONS = frozenset(_OUTPUTS)

# GIF stores frame delays in 1/100 s.
_GIF_TIME_BASE = Fraction(1, 100)


def _gif_frame(frame: np.ndarray) -> av.VideoFrame:
    """A palette frame: exact when the frame has <= 256 colours, else PIL's octree quantiser
    (median cut is ~300x slower for a few tenths of a grey level)."""
    packed = (frame[..., 0].astype(np.uint32) << 16) | (frame[..., 1].astype(np.uint32) << 8)
    packed |= frame[..., 2]
    colours, indices = np.unique(packed, return_inverse=True)
    if len(colours) <= 256:
        palette_rgb = np.stack([colours >> 16, colours >> 8, colours], axis=1).astype(np.uint8)
        image = indices.reshape(frame.shape[:2]).astype(np.uint8)
    else:
        paletted = Image.fromarray(frame).quantize(256, method=Image.Quantize.FASTOCTREE)
        palette_rgb = np.array(paletted.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)
        image = np.asarray(paletted)
    argb = np.zeros((256, 4), np.uint8)  # PyAV wants the palette as ARGB rows
    argb[:, 0] = 255
    argb[: len(palette_rgb), 1:] = palette_rgb
    return av.VideoFrame.from_ndarray((image, argb), format="pal8")


class _VideoFileWriter:
    """One video file written through PyAV into a temp file renamed on close."""

    def __init__(self, path: Path, fps: Fraction) -> None:
        self.path = path
        self.rate = fps
        self._muxer, self._codec, self._pix_fmt, self._options = _OUTPUTS[path.suffix.lower()]
        with errors_name(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp: Path | None = temp_file_beside(path)
            self._container = av.open(str(self._tmp), "w", format=self._muxer)
        self._stream = None
        self._last_pts = -1

    def _open_stream(self, width: int, height: int) -> None:
        stream = self._container.add_stream(self._codec, rate=self.rate, options=self._options)
        stream.width, stream.height, stream.pix_fmt = width, height, self._pix_fmt
        self._stream = stream
        self._time_base = _GIF_TIME_BASE if self._codec == "gif" else 1 / self.rate

    def write(self, frame: np.ndarray, index: int) -> None:
        H, W, _ = frame.shape
        if self._stream is None:
            self._open_stream(W, H)
        if self._codec == "gif":
            vf = _gif_frame(frame)
            # Cumulative rounding keeps the average rate exact (30 fps -> delays 3, 3, 4 cs);
            # above 100 fps frames would collide, so each gets at least 1 cs.
            pts = max(round(index / self.rate / _GIF_TIME_BASE), self._last_pts + 1)
        else:
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            pts = index
        vf.pts, vf.time_base = pts, self._time_base
        self._last_pts = pts
        with errors_name(self.path):
            for packet in self._stream.encode(vf):
                self._container.mux(packet)

    def close(self) -> None:
        try:
            with errors_name(self.path):
                for packet in self._stream.encode():  # flush frames the encoder still holds
                    self._container.mux(packet)
                self._container.close()
                os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._tmp = None

    def abort(self) -> None:
        with contextlib.suppress(av.FFmpegError):
            self._container.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


class FrameWriter:
    """Stream uint8 (H, W, 3) RGB frames to a file or a PNG folder chosen by `path`:

    ==========  ==============================================================================
    ``.mp4``    H.264 (libx264, crf 18), yuv420p. yuv420p needs even sizes, so an odd width or
                height is **padded to even by replicating the last column/row**: the file
                reads back one pixel wider/taller (`stored_size` says by how much).
    ``.webm``   VP9 (libvpx-vp9, crf 30), yuv420p; odd sizes are kept as they are.
    ``.mkv``    FFV1, lossless RGB: reads back bit-exact.
    ``.gif``    one 256-colour palette per frame (exact if a frame has <= 256 colours); delays
                are whole 1/100 s, rounded cumulatively so the average rate is `fps`.
    no suffix,  a PNG sequence ``{prefix}0001.png`` ... (lossless); the folder may exist only
    a folder    if empty or holding an earlier sequence of the same prefix.
    ==========  ==============================================================================

    Everything is written under a hidden temporary name in the destination folder and renamed
    on `close()` (the ``with`` block's end); on an exception inside the block the partial
    output is deleted, so the final name only ever holds a complete file.
    """

    def __init__(
        self, path: Path | str, *, fps: float | Fraction = 25.0, prefix: str = "frame_"
    ) -> None:
        path = Path(path)
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = path
        self.fps = float(fps)
        self.frames_written = 0
        self.stored_size: tuple[int, int] | None = None  # (width, height) in the file
        self._hw: tuple[int, int] | None = None
        suffix = path.suffix.lower()
        if path.is_dir() or not suffix:
            self._sink = PngSequenceWriter(path, prefix=prefix)
            self._pad = False
        elif suffix in _OUTPUTS:
            rate = Fraction(fps).limit_denominator(1001)  # 29.97... -> 30000/1001
            self._sink = _VideoFileWriter(path, rate)
            self._pad = suffix == ".mp4"
        else:
            allowed = ", ".join(sorted(_OUTPUTS))
            raise InputError(
                f"{path}: cannot write '{suffix}' files (use {allowed} or a folder for PNGs)"
            )

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) RGB frame; every frame must have the first one's size."""
        frame = check_frame(frame, self._hw)
        H, W, _ = frame.shape
        self._hw = (H, W)
        if self._pad and (H % 2 or W % 2):
            frame = np.pad(frame, ((0, H % 2), (0, W % 2), (0, 0)), mode="edge")
        self.stored_size = (frame.shape[1], frame.shape[0])
        if isinstance(self._sink, PngSequenceWriter):
            self._sink.write(frame)
        else:
            self._sink.write(frame, self.frames_written)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it to `path`. Writing no frame at all is an error."""
        if self.frames_written == 0:
            self._sink.abort()
            raise ValueError(f"{self.path}: no frames were written")
        self._sink.close()

    def abort(self) -> None:
        """Drop the partial output; `path` is left as it was."""
        self._sink.abort()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_frames(
    path: Path | str, frames: Iterable[np.ndarray], *, fps: float | Fraction = 25.0
) -> Path:
    """Write an iterable of uint8 (H, W, 3) frames with a `FrameWriter`; returns `path`."""
    with FrameWriter(path, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)

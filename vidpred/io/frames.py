"""Folders of still images as clips: listing, loading as 8-bit RGB, writing PNG sequences.

Conversion rules (applied to every image, so a clip always comes out as uint8 (H, W, 3)):

- grayscale (L, 1, I, I;16): the value is copied to R, G and B;
- alpha (RGBA, LA, PA, P with a transparent index): **alpha is dropped**, the colour channels are
  kept as stored. This is what FFmpeg's rgba -> rgb24 conversion does, so a PNG sequence and a
  video encoded from it decode to the same pixels; compositing over black would instead darken
  every half-transparent pixel whose colour is meaningful;
- palette (P): looked up in the palette;
- 16 bits per channel (I;16, 48/64-bit RGB(A) PNG and TIFF): ``round(v * 255 / 65535)``;
- other modes PIL can convert (CMYK, YCbCr, LAB, ...) go through ``Image.convert("RGB")``;
  floating-point images are refused, their range is unknowable.

A multi-page file (TIFF, animated WebP) contributes its first page only.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vidpred.errors import InputError
from vidpred.io.atomic import errors_name, temp_dir_beside, temp_file_beside

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

# Codec names reported for a frames folder, one per spelling of the extension.
_FORMAT_NAMES = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``f2.png`` before ``f10.png``.

    Ties between equal numbers spelled differently (``f01``/``f1``) fall back to the plain name,
    so the order is total and does not depend on the file system's listing order.
    """
    parts = _DIGITS.split(name)
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in parts if p)
    return key, name


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_frame_files(folder: Path | str) -> list[Path]:
    """Image files directly inside `folder`, natural-sorted; hidden files are skipped."""
    folder = Path(folder)
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and is_image_file(p)),
        key=lambda p: natural_sort_key(p.name),
    )


def _has_16bit_colour(im: Image.Image) -> bool:
    # PIL opens 48/64-bit PNG and TIFF as 8-bit RGB(A) by keeping the high byte (truncating);
    # the raw mode of the tile still says ";16", which is how we notice and decode them with
    # OpenCV instead, to honour the rounding rule.
    return im.mode in ("RGB", "RGBA") and any(";16" in str(tile[3]) for tile in im.tile)


def _scale_16_to_8(values: np.ndarray) -> np.ndarray:
    scaled = np.clip(values.astype(np.float32), 0, 65535) * (255.0 / 65535.0)
    return np.rint(scaled).astype(np.uint8)


def to_rgb8(im: Image.Image) -> np.ndarray:
    """A PIL image as uint8 (H, W, 3), by the rules in the module docstring."""
    if im.mode == "RGB":
        return np.asarray(im)
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        gray = _scale_16_to_8(np.asarray(im))
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.mode == "F":
        raise ValueError("floating-point images are not supported (unknown value range)")
    if im.mode == "La":  # PIL has no La -> RGB path; un-premultiplying first is lossless enough
        im = im.convert("LA")
    return np.asarray(im.convert("RGB"))


_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError)


@contextmanager
def _refusing_bombs(path: Path) -> Iterator[None]:
    """PIL's decompression-bomb check as an InputError: a header claiming 100000x100000 pixels
    is refused like any unreadable file rather than decoded (or crashing; issue 12)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(
                f"{path}: its header claims more than {Image.MAX_IMAGE_PIXELS} pixels "
                "(PIL's decompression-bomb limit); not decoded"
            ) from None


def load_image_rgb(path: Path | str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read one image as uint8 (H, W, 3); with `size=(w, h)` resize it (area average).

    Raises InputError naming the file if it cannot be decoded.
    """
    path = Path(path)
    try:
        with _refusing_bombs(path), Image.open(path) as im:
            if size is not None and im.format == "JPEG":
                # DCT-domain downscaling: a 1080p JPEG decodes at 1/2..1/8 size for free.
                im.draft("RGB", size)
            rgb = _load_16bit_colour(path) if _has_16bit_colour(im) else to_rgb8(im)
    except _DECODE_ERRORS as e:
        raise InputError(f"{path}: not an image PIL can decode ({e})") from None
    if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
        # Area averaging when shrinking, bilinear when enlarging: what swscale's SWS_AREA does
        # for videos, so a clip resizes alike whether it comes as a video or as frames.
        shrink = size[0] <= rgb.shape[1] and size[1] <= rgb.shape[0]
        resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
        rgb = np.asarray(Image.fromarray(rgb).resize(tuple(size), resample))
    return rgb


def _load_16bit_colour(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.ndim != 3:
        raise ValueError("OpenCV could not read the 16-bit colour image")
    rgb = bgr[:, :, 2::-1]  # BGR(A) -> RGB; alpha dropped
    return _scale_16_to_8(rgb) if rgb.dtype == np.uint16 else np.ascontiguousarray(rgb)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with _refusing_bombs(path), Image.open(path) as im:  # reads the header only
            return im.size
    except _DECODE_ERRORS as e:
        raise InputError(f"{path}: not an image PIL can decode ({e})") from None


class FrameFolderReader:
    """A folder of images read as one clip, in natural-sort order.

    Opening lists the folder and reads every image *header* (not pixels) to check that all
    frames share one size; the pixels are decoded one at a time in `iter_frames`.
    """

    def __init__(self, folder: Path | str) -> None:
        folder = Path(folder)
        if not folder.exists():
            raise InputError(f"{folder}: no such folder")
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder")
        files = list_frame_files(folder)
        if not files:
            exts = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
            raise InputError(f"{folder}: no image files ({exts}) in this folder")
        width, height = _image_size(files[0])
        for f in files[1:]:
            size = _image_size(f)
            if size != (width, height):
                raise InputError(
                    f"{f}: frame size {size[0]}x{size[1]} differs from {width}x{height} "
                    f"of {files[0].name}; all frames of a folder must have one size"
                )
        self.path = folder
        self.files = files
        self.width, self.height = width, height
        self.frames = len(files)
        suffixes = {f.suffix.lower() for f in files}
        self.codec = "+".join(sorted({_FORMAT_NAMES.get(s, s.lstrip(".")) for s in suffixes}))

    def iter_frames(
        self, start: int = 0, stop: int | None = None, *, size: tuple[int, int] | None = None
    ) -> Iterator[np.ndarray]:
        """Yield uint8 (H, W, 3) frames `start` .. `stop`-1 (at `size=(w, h)` if given)."""
        _check_range(start, stop, size)
        return (load_image_rgb(f, size) for f in self.files[start:stop])

    def read_frame(self, index: int, *, size: tuple[int, int] | None = None) -> np.ndarray:
        if not 0 <= index < self.frames:
            raise IndexError(f"{self.path}: frame {index} out of range (0..{self.frames - 1})")
        return load_image_rgb(self.files[index], size)


def _check_range(start: int, stop: int | None, size: tuple[int, int] | None) -> None:
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"size must be (width, height) with both >= 1, got {size}")


def check_frame(frame: np.ndarray, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Validate a uint8 (H, W, 3) frame for writing; return it C-contiguous."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
        got = getattr(frame, "shape", type(frame).__name__), getattr(frame, "dtype", None)
        raise ValueError(f"expected a uint8 (H, W, 3) frame, got shape {got[0]} dtype {got[1]}")
    if frame.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) frame, got shape {frame.shape}")
    if expected_hw is not None and frame.shape[:2] != expected_hw:
        raise ValueError(
            f"frame shape {frame.shape} differs from the first frame's {(*expected_hw, 3)}"
        )
    return np.ascontiguousarray(frame)


def write_image(path: Path | str, frame: np.ndarray) -> Path:
    """Save one uint8 (H, W, 3) frame; the format follows the suffix (.png, .jpg, ...).

    Written to a hidden temporary file beside `path` and renamed, so `path` is never half
    written; missing parent folders are created.
    """
    path = Path(path)
    frame = check_frame(frame)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        allowed = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise InputError(f"{path}: cannot write '{suffix or path.name}' images (use {allowed})")
    with errors_name(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_file_beside(path)
        try:
            image_format = Image.registered_extensions()[suffix]
            options = {"compress_level": 3} if image_format == "PNG" else {}
            Image.fromarray(frame).save(tmp, format=image_format, **options)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


class PngSequenceWriter:
    """Write frames as ``{prefix}{index:0{digits}d}.png`` into `folder`, numbered from `start`.

    Files go into a hidden ``.{name}.partial-*`` folder next to `folder`, which is renamed to
    `folder` on `close()`, so a crash never leaves a half-written sequence under the final name.
    If `folder` exists it must be empty or hold only an earlier sequence with the same prefix
    (which is then replaced); anything else is refused rather than deleted.
    """

    def __init__(
        self, folder: Path | str, *, prefix: str = "frame_", digits: int = 4, start: int = 1
    ) -> None:
        self.path = Path(folder)
        self.prefix, self.digits, self.start = prefix, digits, start
        self._pattern = re.compile(re.escape(prefix) + r"\d+\.png")
        if self.path.exists() and not self._replaceable():
            raise InputError(
                f"{self.path}: exists and holds files other than {prefix}*.png; "
                "refusing to replace it"
            )
        with errors_name(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = temp_dir_beside(self.path, tag="partial")
        self.frames_written = 0
        self._hw: tuple[int, int] | None = None

    def _replaceable(self) -> bool:
        if not self.path.is_dir():
            return False
        return all(p.is_file() and self._pattern.fullmatch(p.name) for p in self.path.iterdir())

    def write(self, frame: np.ndarray) -> None:
        frame = check_frame(frame, self._hw)
        self._hw = frame.shape[:2]
        name = f"{self.prefix}{self.start + self.frames_written:0{self.digits}d}.png"
        # compress_level 3: files ~10% larger than PIL's default 6, written ~3x faster.
        with errors_name(self.path):
            Image.fromarray(frame).save(self._tmp / name, compress_level=3)
        self.frames_written += 1

    def close(self) -> None:
        if self._tmp is None:
            return
        if self.path.exists():
            if not self._replaceable():  # something appeared meanwhile; keep both
                raise InputError(f"{self.path}: changed while writing; frames left in {self._tmp}")
            trash = temp_dir_beside(self.path, tag="old")
            os.replace(self.path, trash / "old")
            os.replace(self._tmp, self.path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(self._tmp, self.path)
        self._tmp = None

    def abort(self) -> None:
        """Discard everything written so far."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> PngSequenceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

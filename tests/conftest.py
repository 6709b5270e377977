"""Shared fixtures: tiny videos and frame folders written on the fly into `tmp_path`.

The helpers here use PyAV and PIL directly, never `vidpred.io`, so a test of the reader does not
silently depend on the writer it is meant to check.

    make_frames(T, H, W)                      -> uint8 (T, H, W, 3), smooth and moving
    make_video(path, frames, fps, codec)      -> path, e.g. codec="libx264" for .mp4
    make_frame_folder(folder, frames, ext)    -> folder of frame_0001.png ...
    encoder_available("cinepak")              -> bool
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

# Test tensors are tiny: a second thread buys nothing and, on a busy 2-core machine, OpenMP's
# spinning threads made small steps up to 10x slower. Subprocesses get OMP_NUM_THREADS=1.
torch.set_num_threads(1)

# Pixel format each test codec is fed; the GIF encoder takes a palette image (see _encode_gif).
_PIX_FMT = {
    "libx264": "yuv420p",
    "h264": "yuv420p",
    "mpeg4": "yuv420p",
    "msmpeg4": "yuv420p",
    "msmpeg4v2": "yuv420p",
    "cinepak": "rgb24",
    "libvpx-vp9": "yuv420p",
    "libvpx": "yuv420p",
    "ffv1": "bgr0",
    "mjpeg": "yuvj420p",
    "gif": "pal8",
}

# High quality settings so that "within codec tolerance" checks can be tight-ish.
_OPTIONS = {
    "libx264": {"crf": "12", "preset": "ultrafast"},
    # A bit rate far above what 48x32 needs pins the quantiser at its minimum.
    "mpeg4": {"b": "8M"},
    "msmpeg4": {"b": "8M"},
    "msmpeg4v2": {"b": "8M"},
    "libvpx-vp9": {"crf": "15", "b": "0", "deadline": "realtime", "cpu-used": "8"},
    "libvpx": {"crf": "10", "b": "2M", "deadline": "realtime", "cpu-used": "8"},
}

#: (extension, codec) pairs the reader must handle, per the issue. Tests skip missing encoders.
CONTAINER_CODECS = [
    (".mp4", "libx264"),
    (".avi", "mpeg4"),
    (".avi", "msmpeg4"),
    (".avi", "cinepak"),
    (".mkv", "libvpx-vp9"),
    (".webm", "libvpx-vp9"),
    (".gif", "gif"),
    (".mkv", "ffv1"),
]


def encoder_available(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # PyAV raises UnknownCodecError, older versions ValueError
        return False
    return True


def make_frames(T: int = 8, H: int = 32, W: int = 48, seed: int = 0) -> np.ndarray:
    """uint8 (T, H, W, 3): a smooth colour gradient drifting right, so each frame differs and
    lossy codecs stay close (noise would be mangled beyond any useful tolerance)."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    frames = np.empty((T, H, W, 3), np.uint8)
    for t in range(T):
        for c in range(3):
            wave = np.sin((x + 3 * t) / 9.0 + phase[c]) * np.cos(y / 11.0 + c)
            frames[t, :, :, c] = np.round(127.5 + 110 * wave).astype(np.uint8)
    return frames


def _gif_frame(frame: np.ndarray) -> av.VideoFrame:
    paletted = Image.fromarray(frame).quantize(256, method=Image.Quantize.MEDIANCUT)
    rgb = np.array(paletted.getpalette()[:768], np.uint8).reshape(-1, 3)
    argb = np.zeros((256, 4), np.uint8)
    argb[:, 0] = 255
    argb[: len(rgb), 1:] = rgb
    return av.VideoFrame.from_ndarray((np.asarray(paletted), argb), format="pal8")


def make_video(
    path: Path | str,
    frames: np.ndarray | Sequence[np.ndarray],
    fps: float | Fraction = 25,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode uint8 (H, W, 3) frames into `path` with PyAV; the container comes from the suffix."""
    path = Path(path)
    if not encoder_available(codec):
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    rate = Fraction(fps).limit_denominator(1001)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        # GIF delays are in 1/100 s: give the muxer exact centisecond timestamps.
        time_base = Fraction(1, 100) if codec == "gif" else 1 / rate
        stream = container.add_stream(
            codec, rate=rate, options={**_OPTIONS.get(codec, {}), **(options or {})}
        )
        H, W = frames[0].shape[:2]
        stream.width, stream.height = W, H
        stream.pix_fmt = _PIX_FMT.get(codec, "yuv420p")
        for i, frame in enumerate(frames):
            if codec == "gif":
                vf = _gif_frame(frame)
                vf.pts = round(i / rate / time_base)
            else:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                vf.pts = i
            vf.time_base = time_base
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_frame_folder(
    folder: Path | str,
    frames: np.ndarray | Sequence[np.ndarray],
    ext: str = ".png",
    prefix: str = "frame_",
    digits: int = 4,
) -> Path:
    """Write frames as `{prefix}{i:0{digits}d}{ext}`, numbered from 1, with PIL."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{prefix}{i:0{digits}d}{ext}")
    return folder


def make_clip_folder(root: Path, n: int, frames: int) -> Path:
    """`root` holding `n` small mp4 clips of `frames` frames each (32x48, 10 fps), seeded apart."""
    for i in range(n):
        make_video(root / f"c{i}.mp4", make_frames(frames, 32, 48, seed=i), fps=10)
    return root


@pytest.fixture
def tiny_frames() -> np.ndarray:
    """uint8 (8, 32, 48, 3)."""
    return make_frames(8, 32, 48)


@pytest.fixture
def tiny_mp4(tmp_path: Path, tiny_frames: np.ndarray) -> Path:
    """8 frames, 48x32, 25 fps, H.264 in MP4."""
    return make_video(tmp_path / "tiny.mp4", tiny_frames, fps=25, codec="libx264")


@pytest.fixture
def tiny_mkv_lossless(tmp_path: Path, tiny_frames: np.ndarray) -> Path:
    """8 frames, 48x32, 25 fps, FFV1 in MKV: decodes to exactly `tiny_frames`."""
    return make_video(tmp_path / "tiny.mkv", tiny_frames, fps=25, codec="ffv1")


@pytest.fixture
def tiny_frame_folder(tmp_path: Path, tiny_frames: np.ndarray) -> Path:
    """8 PNGs frame_0001.png ... frame_0008.png, 48x32: reads back as exactly `tiny_frames`."""
    return make_frame_folder(tmp_path / "tiny_frames", tiny_frames)


def train_tiny_model(
    data: Path,
    out: Path,
    *,
    task: str = "predict",
    head: str = "flow",
    cache: Path | None = None,
    **train,
) -> Path:
    """Train a `unet-s` for two steps on 16x16 crops of `data` (2 context frames); returns the
    run's model.pt. Tests of what consumes a model need one, not a good one."""
    from vidpred.config import RunConfig  # noqa: PLC0415 (keeps conftest importable alone)
    from vidpred.train.trainer import train as run_training  # noqa: PLC0415

    cfg = RunConfig().override(
        "data",
        paths=(str(data),),
        size=(16, 16),
        context=2,
        cache_dir=str(cache or out.parent / "cache"),
    )
    cfg = cfg.override("loss", spec="l1").override("model", head=head)
    cfg = cfg.override(
        "train",
        **{
            "task": task,
            "steps": 2,
            "batch_size": 2,
            "device": "cpu",
            "out": str(out),
            "val_every": 0,
            "sample_every": 0,
            **train,
        },
    )
    run_training(cfg)
    return out / "model.pt"


def textured(H, W, dx=0.0, dy=0.0, *, seed=1, terms=24):
    """(1, 3, H, W) in [0, 1]: a sum of random plane waves moved by (dx, dy), exactly for any
    sub-pixel shift, so the true flow from `textured(H, W)` to it is (dx, dy) everywhere."""
    import math  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    freq = rng.uniform(0.1, 0.6, (3, terms, 2)) * rng.choice([-1, 1], (3, terms, 2))
    phase = rng.uniform(0, 2 * math.pi, (3, terms, 1, 1))
    waves = np.sin(
        freq[..., 0, None, None] * (x - dx) + freq[..., 1, None, None] * (y - dy) + phase
    )
    image = 0.5 + waves.sum(1) / (2.5 * math.sqrt(terms))  # (3, H, W)
    return torch.from_numpy(image.clip(0, 1)).float()[None]


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache: no weights on this 'machine'."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"

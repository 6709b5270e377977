"""vidpred.io: decoding every container/codec the issue names, exact seeking, resized decode,
frame folders (natural order, image-mode rules), the writers, and every bad-input case."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    CONTAINER_CODECS,
    make_frame_folder,
    make_frames,
    make_video,
)
from PIL import Image

from vidpred.errors import InputError
from vidpred.io import (
    FrameWriter,
    SourceInfo,
    discover_sources,
    load_image_rgb,
    natural_sort_key,
    open_source,
    scaled_size,
    write_frames,
    write_image,
)

# Decoder names FFmpeg reports for what each encoder wrote (VP9 may go to libvpx or native).
DECODER = {
    "libx264": {"h264"},
    "mpeg4": {"mpeg4"},
    "msmpeg4": {"msmpeg4", "msmpeg4v3"},
    "cinepak": {"cinepak"},
    "libvpx-vp9": {"vp9", "libvpx-vp9"},
    "gif": {"gif"},
    "ffv1": {"ffv1"},
}
LOSSLESS = {"ffv1"}
# Mean absolute error allowed per codec on the smooth test pattern (yuv420p chroma loss,
# Cinepak's vector quantiser, a 256-colour palette).
TOLERANCE = {"cinepak": 10.0, "gif": 8.0}

# Short GOPs (and B-frames where the codec has them) so that seeks cross keyframes and
# decode order differs from display order.
SEEK_OPTIONS = {
    "libx264": {"g": "5", "bf": "2", "preset": "fast"},
    "mpeg4": {"g": "5", "bf": "2"},
    "msmpeg4": {"g": "5"},
    "libvpx-vp9": {"g": "5"},
    "ffv1": {"g": "5"},
}

T, H, W = 16, 32, 48


@pytest.fixture(scope="module")
def frames16() -> np.ndarray:
    return make_frames(T, H, W)


@pytest.fixture(scope="module")
def coded(tmp_path_factory, frames16):
    """Per (ext, codec): one 16-frame video at 29.97 fps (GIF: 25 fps), made once per module."""
    folder = tmp_path_factory.mktemp("coded")
    cache: dict[tuple[str, str], Path] = {}

    def get(ext: str, codec: str) -> Path:
        if (ext, codec) not in cache:
            fps = 25 if codec == "gif" else 30000 / 1001
            path = folder / f"{codec}{ext}"
            cache[ext, codec] = make_video(path, frames16, fps, codec, SEEK_OPTIONS.get(codec))
        return cache[ext, codec]

    return get


def _ids(pairs):
    return [f"{codec}{ext}" for ext, codec in pairs]


# --- reading videos ----------------------------------------------------------------------------


@pytest.mark.parametrize(("ext", "codec"), CONTAINER_CODECS, ids=_ids(CONTAINER_CODECS))
def test_video_round_trip(coded, frames16, ext, codec):
    source = open_source(coded(ext, codec))
    info = source.info
    assert isinstance(info, SourceInfo)
    assert (info.kind, info.width, info.height) == ("video", W, H)
    assert info.codec in DECODER[codec]
    assert info.fps == pytest.approx(25 if codec == "gif" else 30000 / 1001, rel=1e-3)
    # Matroska stores no frame count: estimated from duration x fps, and flagged.
    assert info.frames_estimated == (ext == ".mkv" or ext == ".webm")
    assert info.frames == T

    decoded = np.stack(list(source.iter_frames()))
    assert decoded.shape == (T, H, W, 3) and decoded.dtype == np.uint8
    error = np.abs(decoded.astype(np.int16) - frames16).mean()
    if codec in LOSSLESS:
        assert error == 0
    else:
        assert error < TOLERANCE.get(codec, 5.0)
        # ... and frames are not shuffled: each decoded frame is closest to its own original.
        dists = np.abs(decoded[:, None].astype(np.int16) - frames16[None]).mean(axis=(2, 3, 4))
        assert (dists.argmin(axis=1) == np.arange(T)).all()


@pytest.mark.parametrize(("ext", "codec"), CONTAINER_CODECS, ids=_ids(CONTAINER_CODECS))
def test_seek_is_exact(coded, ext, codec):
    source = open_source(coded(ext, codec))
    sequential = list(source.iter_frames())
    for start, stop in [(1, 4), (4, 6), (5, 9), (7, 8), (11, T), (T - 1, None)]:
        got = list(source.iter_frames(start, stop))
        want = sequential[start:stop]
        assert len(got) == len(want), (start, stop)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert np.array_equal(g, w), f"frame {start + i} differs after seeking"
    assert np.array_equal(source.read_frame(13), sequential[13])
    assert list(source.iter_frames(T + 3)) == []
    with pytest.raises(IndexError):
        source.read_frame(T + 3)


def test_resized_decode_matches_resize_after(coded, frames16):
    source = open_source(coded(".mkv", "ffv1"))
    small = list(source.iter_frames(2, 5, size=(24, 16)))
    assert [f.shape for f in small] == [(16, 24, 3)] * 3
    for got, full in zip(small, frames16[2:5], strict=True):
        ref = full.reshape(16, 2, 24, 2, 3).mean(axis=(1, 3))  # exact 2x2 area average
        assert np.abs(got - ref).mean() < 1.5
    assert source.read_frame(3, size=(7, 5)).shape == (5, 7, 3)


def test_iter_frames_checks_arguments(tiny_mp4):
    source = open_source(tiny_mp4)
    with pytest.raises(ValueError, match="start"):
        source.iter_frames(-1)
    with pytest.raises(ValueError, match="start"):
        source.iter_frames(5, 2)
    with pytest.raises(ValueError, match="size"):
        source.iter_frames(size=(0, 4))


def test_iter_frames_streams(tiny_mp4):
    """A generator, not a list: pulling one frame does not decode the clip."""
    frames = open_source(tiny_mp4).iter_frames()
    assert next(frames).shape == (32, 48, 3)
    frames.close()


# --- frame folders -----------------------------------------------------------------------------


def test_frame_folder_reads_exactly(tiny_frame_folder, tiny_frames):
    source = open_source(tiny_frame_folder)
    assert source.info == SourceInfo(
        path=tiny_frame_folder,
        kind="frames",
        codec="png",
        width=48,
        height=32,
        fps=None,
        frames=8,
        frames_estimated=False,
    )
    assert np.array_equal(np.stack(list(source.iter_frames())), tiny_frames)
    assert np.array_equal(np.stack(list(source.iter_frames(3, 5))), tiny_frames[3:5])
    assert source.read_frame(2, size=(24, 16)).shape == (16, 24, 3)


def test_natural_sort(tmp_path):
    names = ["f10.png", "f2.png", "f1.png", "F3.png", "f01.png"]
    assert sorted(names, key=natural_sort_key) == [
        "f01.png",  # equal numbers: plain name order decides
        "f1.png",
        "f2.png",
        "F3.png",
        "f10.png",
    ]
    folder = tmp_path / "clip"
    folder.mkdir()
    for value, name in [(10, "f10.png"), (2, "f2.png"), (1, "f1.png")]:
        Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(folder / name)
    (folder / ".hidden.png").write_bytes(b"junk")  # skipped, like .DS_Store and partial files
    values = [f[0, 0, 0] for f in open_source(folder).iter_frames()]
    assert values == [1, 2, 10]


def _save(tmp_path: Path, image: Image.Image, name: str) -> Path:
    path = tmp_path / name
    image.save(path)
    return path


def test_image_mode_conversions(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = _save(tmp_path, Image.fromarray(gray, "L"), "l.png")
    assert np.array_equal(load_image_rgb(path), np.repeat(gray[:, :, None], 3, axis=2))

    # Alpha is dropped, never composited: colour under alpha=0 survives.
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., :3] = [200, 100, 50]
    rgba[..., 3] = [[0, 64, 128, 255]] * 3
    path = _save(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png")
    assert (load_image_rgb(path) == [200, 100, 50]).all()

    la = Image.merge("LA", [Image.fromarray(gray, "L"), Image.new("L", (4, 3), 0)])
    path = _save(tmp_path, la, "la.png")
    assert np.array_equal(load_image_rgb(path), np.repeat(gray[:, :, None], 3, axis=2))

    palette_image = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), "P")
    palette_image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    path = _save(tmp_path, palette_image, "p.png")
    want = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 255, 0]]], np.uint8)
    assert np.array_equal(load_image_rgb(path), want)

    deep = np.array([[0, 128, 129, 257], [32767, 32768, 65407, 65535]], np.uint16)
    want16 = np.rint(deep * (255 / 65535)).astype(np.uint8)  # [0 0 1 1], [127 128 254 255]
    path = _save(tmp_path, Image.fromarray(deep), "i16.png")
    assert Image.open(path).mode == "I;16"
    assert np.array_equal(load_image_rgb(path), np.repeat(want16[:, :, None], 3, axis=2))

    # 48-bit RGB: PIL alone would truncate to the high byte (32767 -> 127, rounding gives 127,
    # but 65407 -> 254 vs 255 rounded); the rounding rule must hold per channel.
    rgb16 = np.stack([deep, deep[:, ::-1], np.full_like(deep, 65407)], axis=2)
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), rgb16[:, :, ::-1])  # OpenCV writes BGR
    got = load_image_rgb(path)
    assert np.array_equal(got, np.rint(rgb16 * (255 / 65535)).astype(np.uint8))


def test_frame_folder_formats(tmp_path, tiny_frames):
    jpgs = open_source(make_frame_folder(tmp_path / "j", tiny_frames[:3], ext=".jpg"))
    assert (jpgs.info.codec, jpgs.info.frames) == ("jpeg", 3)
    got = np.stack(list(jpgs.iter_frames()))
    assert np.abs(got.astype(np.int16) - tiny_frames[:3]).mean() < 6
    for ext, name in [(".bmp", "bmp"), (".tif", "tiff"), (".webp", "webp")]:
        source = open_source(make_frame_folder(tmp_path / name, tiny_frames[:2], ext=ext))
        assert source.info.codec == name
        assert next(source.iter_frames()).shape == (32, 48, 3)


def test_frame_folder_size_mismatch(tmp_path, tiny_frames):
    folder = make_frame_folder(tmp_path / "clip", tiny_frames[:3])
    Image.fromarray(tiny_frames[0, :20, :30]).save(folder / "frame_0004.png")
    with pytest.raises(InputError, match=r"frame_0004\.png.*30x20.*48x32"):
        open_source(folder)


# --- bad input ---------------------------------------------------------------------------------


def test_bad_inputs(tmp_path, tiny_frames):
    def fails(path, pattern):
        with pytest.raises(InputError, match=pattern) as info:
            open_source(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message
        return message

    fails(tmp_path / "nope.mp4", "no such file")
    (tmp_path / "empty").mkdir()
    fails(tmp_path / "empty", "no image files")
    (tmp_path / "text.mp4").write_text("not a video at all\n")
    fails(tmp_path / "text.mp4", "not a video PyAV can decode")
    (tmp_path / "zero.avi").write_bytes(b"")
    fails(tmp_path / "zero.avi", "empty file")
    (tmp_path / "notes.txt").write_text("hello")
    fails(tmp_path / "notes.txt", "unsupported file type '.txt'")
    single = make_frame_folder(tmp_path / "single", tiny_frames[:1])
    fails(single / "frame_0001.png", "single image")
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG but not really")
    (tmp_path / "videos").mkdir()
    make_video(tmp_path / "videos" / "a.mp4", tiny_frames, 25, "libx264")
    fails(tmp_path / "videos", "a folder of 1 videos")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "f1.png").write_bytes(b"\x89PNG but not really")
    fails(broken, "not an image")


def test_truncated_mp4_without_moov(tmp_path, tiny_frames):
    data = make_video(tmp_path / "a.mp4", tiny_frames, 25, "libx264").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov is written last: it is gone
    with pytest.raises(InputError, match="moov atom"):
        open_source(cut)


def test_truncated_avi_decodes_what_it_can(tmp_path):
    frames = make_frames(30, 32, 48)
    data = make_video(tmp_path / "a.avi", frames, 25, "mpeg4").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    source = open_source(cut)
    assert source.info.frames == 30  # the header still says so
    with pytest.warns(RuntimeWarning, match="decoding stopped at frame"):
        got = list(source.iter_frames())
    assert 0 < len(got) < 30
    dists = [np.abs(g.astype(np.int16) - f).mean() for g, f in zip(got, frames, strict=False)]
    assert max(dists) < 5  # the frames that did decode are the right ones


def test_truncated_to_nothing_is_an_error(tmp_path, tiny_frames):
    data = make_video(tmp_path / "a.mkv", tiny_frames, 25, "ffv1").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[:400])  # header only
    with pytest.raises(InputError, match="cut.mkv"):
        open_source(cut)


# --- discovery ---------------------------------------------------------------------------------


def test_discover_sources(tmp_path, tiny_frames):
    root = tmp_path / "data"
    make_video(root / "b" / "v10.mp4", tiny_frames, 25, "libx264")
    make_video(root / "b" / "v2.mp4", tiny_frames, 25, "libx264")
    make_frame_folder(root / "a_frames", tiny_frames[:4])
    (root / "b" / "fake.mp4").write_text("text")
    (root / "b" / "readme.txt").write_text("ignored: not a video or image")
    make_frame_folder(root / ".cache", tiny_frames[:2])  # hidden: skipped
    lone = make_video(tmp_path / "lone.mkv", tiny_frames, 25, "ffv1")
    (tmp_path / "nothing").mkdir()

    sources, unreadable = discover_sources(
        [root, lone, tmp_path / "missing.avi", tmp_path / "nothing", root / "b" / "v2.mp4"]
    )
    assert [(s.info.path.relative_to(tmp_path), s.info.kind) for s in sources] == [
        (Path("data/a_frames"), "frames"),
        (Path("data/b/v2.mp4"), "video"),
        (Path("data/b/v10.mp4"), "video"),
        (Path("lone.mkv"), "video"),
    ]  # v2.mp4 given twice, listed once
    reasons = {p.name: r for p, r in unreadable}
    assert set(reasons) == {"fake.mp4", "missing.avi", "nothing"}
    assert "not a video PyAV can decode" in reasons["fake.mp4"]
    assert "fake.mp4" not in reasons["fake.mp4"]  # the path is in the tuple, not the reason
    assert reasons["missing.avi"] == "no such file or folder"


# --- writing -----------------------------------------------------------------------------------


def test_write_lossless_formats(tmp_path, tiny_frames):
    for name in ["clip.mkv", "pngs"]:
        with FrameWriter(tmp_path / name, fps=12) as writer:
            for frame in tiny_frames:
                writer.write(frame)
        source = open_source(tmp_path / name)
        assert np.array_equal(np.stack(list(source.iter_frames())), tiny_frames)
    assert open_source(tmp_path / "clip.mkv").info.fps == 12
    assert sorted(os.listdir(tmp_path / "pngs"))[:2] == ["frame_0001.png", "frame_0002.png"]
    write_frames(tmp_path / "pngs", tiny_frames[:2], fps=1)  # an earlier sequence is replaced
    assert sorted(os.listdir(tmp_path / "pngs")) == ["frame_0001.png", "frame_0002.png"]
    assert sorted(os.listdir(tmp_path)) == ["clip.mkv", "pngs"]  # no temp files left behind


def test_write_prefix(tmp_path, tiny_frames):
    with FrameWriter(tmp_path / "out", prefix="pred_") as writer:
        writer.write(tiny_frames[0])
    assert os.listdir(tmp_path / "out") == ["pred_0001.png"]


def test_write_odd_size_mp4_pads_by_edge_replication(tmp_path):
    frames = make_frames(6, 33, 47)
    with FrameWriter(tmp_path / "odd.mp4", fps=30000 / 1001) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.stored_size == (48, 34)
    source = open_source(tmp_path / "odd.mp4")
    assert (source.info.width, source.info.height, source.info.frames) == (48, 34, 6)
    assert source.info.fps == pytest.approx(30000 / 1001, rel=1e-6)
    got = np.stack(list(source.iter_frames())).astype(np.int16)
    assert np.abs(got[:, :33, :47] - frames).mean() < 5
    # The padding repeats the last row/column, so it matches them (up to codec noise).
    assert np.abs(got[:, 33, :47] - frames[:, 32]).mean() < 6
    assert np.abs(got[:, :33, 47] - frames[:, :, 46]).mean() < 6


def test_write_webm_and_gif(tmp_path):
    frames = make_frames(12, 33, 47)
    for name, fps in [("v.webm", 24), ("a.gif", 12.5), ("b.gif", 30)]:
        write_frames(tmp_path / name, frames, fps=fps)
        source = open_source(tmp_path / name)
        assert (source.info.width, source.info.height, source.info.frames) == (47, 33, 12)
        assert source.info.fps == pytest.approx(fps, rel=0.02)  # GIF: 1/100 s delays
        got = np.stack(list(source.iter_frames())).astype(np.int16)
        assert np.abs(got - frames).mean() < 8


def test_gif_with_few_colours_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, size=(200, 3), dtype=np.uint8)
    frames = palette[rng.integers(0, 200, size=(3, 16, 16))]
    write_frames(tmp_path / "a.gif", frames, fps=25)
    source = open_source(tmp_path / "a.gif")
    assert source.info.fps == 25
    assert np.array_equal(np.stack(list(source.iter_frames())), frames)


def test_writer_is_atomic(tmp_path, tiny_frames):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous result")
    with pytest.raises(RuntimeError), FrameWriter(target, fps=25) as writer:
        writer.write(tiny_frames[0])
        assert target.read_bytes() == b"previous result"  # still the old file while writing
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"previous result"
    assert os.listdir(tmp_path) == ["out.mp4"]  # and the partial file is gone

    with pytest.raises(RuntimeError), FrameWriter(tmp_path / "pngs") as writer:
        writer.write(tiny_frames[0])
        raise RuntimeError("crash mid-write")
    assert os.listdir(tmp_path) == ["out.mp4"]

    write_frames(target, tiny_frames, fps=25)
    assert open_source(target).info.frames == 8


def test_writer_rejects_bad_input(tmp_path, tiny_frames):
    with pytest.raises(InputError, match=r"out\.avi.*cannot write"):
        FrameWriter(tmp_path / "out.avi")
    with FrameWriter(tmp_path / "ok.mkv") as writer:
        with pytest.raises(ValueError, match="uint8"):
            writer.write(tiny_frames[0].astype(np.float32))
        with pytest.raises(ValueError, match=r"\(32, 48, 4\)"):
            writer.write(np.zeros((32, 48, 4), np.uint8))
        writer.write(tiny_frames[0])
        with pytest.raises(ValueError, match="differs from the first"):
            writer.write(tiny_frames[0, :16])
    assert open_source(tmp_path / "ok.mkv").info.frames == 1
    with pytest.raises(ValueError, match="no frames"), FrameWriter(tmp_path / "none.mp4"):
        pass
    assert not (tmp_path / "none.mp4").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="refusing to replace"):
        FrameWriter(tmp_path / "mine")


def test_scaled_size():
    assert scaled_size(1280, 720, 128) == (228, 128)
    assert scaled_size(720, 1280, 128) == (128, 228)
    assert scaled_size(48, 32, 16) == (24, 16)
    with pytest.raises(ValueError):
        scaled_size(0, 10, 5)


def test_no_warnings_on_clean_files(coded):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ext, codec in [(".mp4", "libx264"), (".avi", "mpeg4")]:
            assert len(list(open_source(coded(ext, codec)).iter_frames())) == T


@pytest.mark.parametrize(
    ("ext", "codec"), [(".mp4", "libx264"), (".avi", "mpeg4"), (".mkv", "ffv1")]
)
def test_seek_skips_decoding(coded, monkeypatch, ext, codec):
    """Reading frame 14 of a 16-frame, 5-frame-GOP video decodes from the keyframe before it,
    not from the start (the AVI case needs the retry: its index is in decode order)."""
    from vidpred.io import video

    decoded = 0
    real_decode = video._decode

    def counting_decode(container, stream):
        nonlocal decoded
        for frame in real_decode(container, stream):
            decoded += 1
            yield frame

    source = open_source(coded(ext, codec))
    monkeypatch.setattr(video, "_decode", counting_decode)
    source.read_frame(14)
    assert decoded <= 8


def test_write_image(tmp_path, tiny_frames):
    path = write_image(tmp_path / "deep" / "x.png", tiny_frames[0])
    assert np.array_equal(load_image_rgb(path), tiny_frames[0])
    jpg = write_image(tmp_path / "x.jpg", tiny_frames[0])
    assert Image.open(jpg).format == "JPEG"
    with pytest.raises(InputError, match="cannot write '.gifx'"):
        write_image(tmp_path / "x.gifx", tiny_frames[0])
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "y.png", tiny_frames[0].astype(np.float64))
    assert sorted(os.listdir(tmp_path)) == ["deep", "x.jpg"]


def test_outputs_get_ordinary_permissions(tmp_path, tiny_frames):
    from vidpred.io.frames import write_image
    from vidpred.io.video import write_frames

    mask = os.umask(0)
    os.umask(mask)
    png = write_image(tmp_path / "a.png", tiny_frames[0])
    mp4 = write_frames(tmp_path / "a.mp4", tiny_frames, fps=10)
    for path in (png, mp4):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


def test_as_rgb_copies_grey_to_three_channels_and_refuses_others():
    import torch

    from vidpred.io.grids import as_rgb

    grey = torch.rand(2, 5, 1, 4, 6)
    rgb = as_rgb(grey)
    assert rgb.shape == (2, 5, 3, 4, 6) and torch.equal(rgb[:, :, 2], grey[:, :, 0])
    colour = torch.rand(3, 4, 6)
    assert as_rgb(colour) is colour
    with pytest.raises(ValueError, match="1 or 3 channels"):
        as_rgb(torch.rand(2, 4, 6))

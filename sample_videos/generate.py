"""Make the clips in sample_videos/: synthetic scenes with positional uncertainty, plus a short
scaled-down excerpt of Big Buck Bunny.

Run from the repository root:  python sample_videos/generate.py [--bbb PATH]

The synthetic clips are what correspondence-wise losses are for: objects whose future position
the past does not fix (speeds that change without warning, a camera that jumps), so a pixel-wise
loss learns to blur and a corr-wise loss does not. Everything is seeded; rerunning gives the same
pixels (the H.264 bitstream may differ between libx264 builds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = (96, 128)  # (H, W): small enough for a CPU, large enough for DIS flow and a 64x64 crop
FPS = 12
FRAMES = 72


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth coloured texture (low-pass noise) so optical flow has something to lock onto."""
    coarse = rng.uniform(0.15, 0.85, size=(h // 8 + 2, w // 8 + 2, 3))
    ys = np.linspace(0, coarse.shape[0] - 1.001, h)
    xs = np.linspace(0, coarse.shape[1] - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    c = coarse
    img = (
        c[y0][:, x0] * (1 - fy) * (1 - fx)
        + c[y0 + 1][:, x0] * fy * (1 - fx)
        + c[y0][:, x0 + 1] * (1 - fy) * fx
        + c[y0 + 1][:, x0 + 1] * fy * fx
    )
    img += rng.normal(0, 0.03, size=img.shape)  # fine grain
    return np.clip(img, 0, 1)


def _draw_disc(img: np.ndarray, cy: float, cx: float, r: float, color: np.ndarray) -> None:
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    # Anti-aliased edge: coverage ramps over one pixel.
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    a = np.clip(r + 0.5 - d, 0, 1)[..., None]
    img[:] = img * (1 - a) + color * a


def _draw_box(img: np.ndarray, cy: float, cx: float, hh: float, hw: float, color) -> None:
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    ay = np.clip(hh + 0.5 - np.abs(yy - cy), 0, 1)
    ax = np.clip(hw + 0.5 - np.abs(xx - cx), 0, 1)
    a = (ay * ax)[..., None]
    img[:] = img * (1 - a) + np.asarray(color) * a


def _shifted(bg: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.roll(bg, (dy, dx), axis=(0, 1))


def bouncing_discs(seed: int) -> list[np.ndarray]:
    """Discs whose speeds change at random frames (the future position is uncertain)."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    bg = _background(rng, h, w)
    n = 3
    pos = rng.uniform([12, 12], [h - 12, w - 12], size=(n, 2))
    vel = rng.uniform(-3, 3, size=(n, 2))
    radius = rng.uniform(5, 9, size=n)
    colors = rng.uniform(0, 1, size=(n, 3))
    frames = []
    for _ in range(FRAMES):
        img = bg.copy()
        for i in range(n):
            _draw_disc(img, pos[i, 0], pos[i, 1], radius[i], colors[i])
        frames.append(img)
        if rng.random() < 0.15:  # a sudden change of speed
            vel = rng.uniform(-4, 4, size=(n, 2))
        pos += vel
        for i in range(n):  # bounce off the walls
            for k, lim in ((0, h), (1, w)):
                if not radius[i] <= pos[i, k] <= lim - radius[i]:
                    vel[i, k] = -vel[i, k]
                    pos[i, k] = np.clip(pos[i, k], radius[i], lim - radius[i])
    return frames


def cars_on_road(seed: int) -> list[np.ndarray]:
    """Boxy "cars" driving left to right at different, drifting speeds, wrapping around."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    bg = _background(rng, h, w)
    bg[h // 2 - 14 : h // 2 + 22] = 0.35 + 0.05 * rng.normal(size=(36, w, 3))  # the road
    lanes = [h // 2 - 4, h // 2 + 12]
    xs = rng.uniform(0, w, size=2)
    speeds = rng.uniform(1.0, 4.0, size=2)
    colors = [(0.8, 0.1, 0.1), (0.1, 0.3, 0.85)]
    frames = []
    for _ in range(FRAMES):
        img = bg.copy()
        for lane, x, c in zip(lanes, xs, colors, strict=True):
            _draw_box(img, lane, x, 4, 9, c)  # body
            _draw_box(img, lane - 5, x, 2, 5, (0.75, 0.85, 0.95))  # windows
            for wx in (x - 6, x + 6):
                _draw_disc(img, lane + 4, wx, 2.5, np.array([0.05, 0.05, 0.05]))
        frames.append(np.clip(img, 0, 1))
        speeds = np.clip(speeds + rng.normal(0, 0.6, size=2), 0.5, 5.0)
        xs = (xs + speeds) % (w + 20)
        xs = np.where(xs > w + 10, -10, xs)
    return frames


def jumping_camera(seed: int) -> list[np.ndarray]:
    """A slow pan over a textured scene with a disc, and a camera that jumps every few frames."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    big = _background(rng, h * 2, w * 2)
    for _ in range(6):
        _draw_box(big, rng.uniform(0, 2 * h), rng.uniform(0, 2 * w), 6, 6, rng.uniform(0, 1, 3))
    oy, ox = h // 2, w // 2
    frames = []
    for t in range(FRAMES):
        if rng.random() < 0.12:  # the jump: the next view is not predictable from the past
            oy = int(np.clip(oy + rng.integers(-12, 13), 0, h))
            ox = int(np.clip(ox + rng.integers(-16, 17), 0, w))
        else:
            ox = int(np.clip(ox + 1, 0, w))
        view = big[oy : oy + h, ox : ox + w].copy()
        _draw_disc(view, h / 2 + 20 * np.sin(t / 5), w / 2, 6, np.array([0.95, 0.8, 0.1]))
        frames.append(view)
    return frames


def write_mp4(path: Path, frames: list[np.ndarray], fps: int, crf: int = 20) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "slow"}
        for f in frames:
            u8 = (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(u8, format="rgb24")))
        out.mux(stream.encode())


def bbb_excerpt(
    src: Path, dst: Path, *, start: int = 20, count: int = 96, width: int = 256
) -> None:
    """Frames [start, start+count) of the real clip, scaled to `width` (even height kept)."""
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        fps = vin.average_rate
        height = round(vin.height * width / vin.width / 2) * 2
        frames = []
        for i, frame in enumerate(inp.decode(vin)):
            if i >= start + count:
                break
            if i >= start:
                rgb = frame.reformat(width=width, height=height, format="rgb24")
                frames.append(rgb.to_ndarray().astype(np.float32) / 255)
    write_mp4(dst, frames, int(round(fps)), crf=23)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bbb", type=Path, default=HERE.parent.parent / "shared/data/bigbuckbunny.mp4")
    args = ap.parse_args()
    write_mp4(HERE / "discs.mp4", bouncing_discs(1), FPS)
    write_mp4(HERE / "cars.mp4", cars_on_road(2), FPS)
    write_mp4(HERE / "camera_jumps.mp4", jumping_camera(3), FPS)
    write_mp4(HERE / "discs_b.mp4", bouncing_discs(4), FPS)
    if args.bbb.exists():
        bbb_excerpt(args.bbb, HERE / "bigbuckbunny_excerpt.mp4")
    else:
        print(f"skipped the Big Buck Bunny excerpt: {args.bbb} not found")


if __name__ == "__main__":
    main()

"""Make the clips in sample_videos/: synthetic scenes with positional uncertainty, plus a short
scaled-down excerpt of Big Buck Bunny.

Run from the repository root:  python sample_videos/generate.py [--bbb PATH]

The synthetic clips are what correspondence-wise losses are for: objects whose future position
the past does not fix (speeds that change without warning, a camera that jumps), so a pixel-wise
loss learns to blur and a corr-wise loss does not. Like real footage, no two consecutive frames
are alike anywhere (issue 10: a static crop made copy-last score the PSNR cap): the camera always
drifts a little and every frame carries its own sensor noise. Everything is seeded; rerunning
gives the same pixels (the H.264 bitstream may differ between libx264 builds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script from a checkout: vidpred is beside us

from vidpred.io.atomic import atomic_path  # noqa: E402

SIZE = (96, 128)  # (H, W): small enough for a CPU, large enough for DIS flow and a 64x64 crop
FPS = 12
FRAMES = 72
# Sensor noise, in grey levels of 8-bit video: luminance noise, slightly correlated between
# neighbours as demosaicing leaves it. x264 deletes fine noise: of independent per-pixel, per-
# channel noise of 1.5 levels, 8% was left after decoding at crf 20. This noise, encoded with
# `tune=grain`, keeps about half (`generate.py` prints how much), at ~80 kB a clip.
NOISE_LEVELS = 2.0
NOISE_CORRELATION_PX = 0.7
CRF = 20


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
    return np.clip(img, 0, 1).astype(np.float32)


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


def _view(canvas: np.ndarray, y: float, x: float, h: int, w: int) -> np.ndarray:
    """The `h` x `w` window of `canvas` whose top-left corner is at (y, x), sub-pixel exact."""
    m = np.array([[1, 0, x], [0, 1, y]], np.float64)
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP  # dst(p) = canvas(p + (x, y))
    return np.clip(cv2.warpAffine(canvas, m, (w, h), flags=flags), 0, 1)


def drifting_camera(rng: np.random.Generator, frames: int, speed: float) -> np.ndarray:
    """Camera offsets `(frames, 2)` as (dy, dx) from the start: a slow drift, 0.5-1x `speed`
    pixels per frame, whose heading wanders. It never stops, so no frame repeats the last."""
    heading = rng.uniform(0, 2 * np.pi)
    pos, path = np.zeros(2), []
    for _ in range(frames):
        path.append(pos.copy())
        heading += rng.normal(0, 0.2)
        pace = speed * rng.uniform(0.5, 1.0)
        pos = pos + pace * np.array([np.sin(heading), np.cos(heading)])
    return np.array(path)


def sensor_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One frame's noise `(h, w, 3)`: the same luminance noise in R, G and B."""
    n = cv2.GaussianBlur(rng.normal(size=(h, w)).astype(np.float32), (0, 0), NOISE_CORRELATION_PX)
    n *= NOISE_LEVELS / 255 / n.std()
    return np.repeat(n[..., None], 3, axis=2)


def bouncing_discs(seed: int) -> list[np.ndarray]:
    """Discs whose speeds change at random frames (the future position is uncertain), in front of
    a background the camera drifts over."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    camera = drifting_camera(rng, FRAMES, speed=0.6)
    margin = int(np.abs(camera).max()) + 4
    bg = _background(rng, h + 2 * margin, w + 2 * margin)
    n = 3
    pos = rng.uniform([12, 12], [h - 12, w - 12], size=(n, 2))
    vel = rng.uniform(-3, 3, size=(n, 2))
    radius = rng.uniform(5, 9, size=n)
    colors = rng.uniform(0, 1, size=(n, 3))
    frames = []
    for dy, dx in camera:
        img = _view(bg, margin + dy, margin + dx, h, w)
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
    """Boxy "cars" driving left to right at different, drifting speeds, wrapping around, filmed by
    a slowly drifting hand-held camera."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    camera = drifting_camera(rng, FRAMES, speed=0.5)
    margin = int(np.abs(camera).max()) + 4
    world = _background(rng, h + 2 * margin, w + 2 * margin)
    road = slice(margin + h // 2 - 14, margin + h // 2 + 22)
    world[road] = 0.35 + 0.05 * rng.normal(size=(36, w + 2 * margin, 3))
    # Three cars, two sharing the upper lane half a road apart, so the crop always has one.
    lanes = np.array([h // 2 - 4, h // 2 - 4, h // 2 + 12], float)
    xs = np.array([0.0, (w + 20) / 2, 0.0]) + rng.uniform(0, w / 3, size=3)
    speeds = rng.uniform(1.0, 4.0, size=3)
    colors = [(0.8, 0.1, 0.1), (0.1, 0.6, 0.2), (0.1, 0.3, 0.85)]
    frames = []
    for dy, dx in camera:
        img = _view(world, margin + dy, margin + dx, h, w)
        for lane, x, c in zip(lanes - dy, xs - dx, colors, strict=True):
            _draw_box(img, lane, x, 4, 9, c)  # body
            _draw_box(img, lane - 5, x, 2, 5, (0.75, 0.85, 0.95))  # windows
            for wx in (x - 6, x + 6):
                _draw_disc(img, lane + 4, wx, 2.5, np.array([0.05, 0.05, 0.05]))
        frames.append(np.clip(img, 0, 1))
        speeds = np.clip(speeds + rng.normal(0, 0.6, size=3), 0.5, 5.0)
        xs = (xs + speeds + 10) % (w + 20) - 10  # leave on the right, come back on the left
    return frames


def jumping_camera(seed: int) -> list[np.ndarray]:
    """A slow pan over a textured scene with a disc, and a camera that jumps every few frames."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    big = _background(rng, h * 2, w * 2)
    for _ in range(6):
        _draw_box(big, rng.uniform(0, 2 * h), rng.uniform(0, 2 * w), 6, 6, rng.uniform(0, 1, 3))
    pos = np.array([h / 2, w / 2])
    vel = np.array([rng.uniform(-0.3, 0.3), 1.0])
    frames = []
    for t in range(FRAMES):
        if rng.random() < 0.12:  # the jump: the next view is not predictable from the past
            pos += rng.uniform([-12, -16], [12, 16])
        else:
            pos += vel
            vel += rng.normal(0, 0.1, size=2)  # the pan itself is hand-held, not a dolly
        for k, lim in ((0, h), (1, w)):  # turn back at the scene's edge rather than stop there
            if not 0 <= pos[k] <= lim:
                vel[k] = -vel[k]
                pos[k] = np.clip(pos[k], 0, lim)
        view = _view(big, pos[0], pos[1], h, w)
        _draw_disc(view, h / 2 + 20 * np.sin(t / 5), w / 2, 6, np.array([0.95, 0.8, 0.1]))
        frames.append(view)
    return frames


def write_mp4(path: Path, frames: list[np.ndarray], fps: int, **options: str) -> None:
    """H.264 (yuv420p, libx264 `preset=slow` plus `options`), written atomically."""
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "slow", **options}
        for f in frames:
            u8 = (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(u8, format="rgb24")))
        out.mux(stream.encode())


def decode(path: Path) -> np.ndarray:
    """`(T, H, W, 3)` float32 in [0, 1]."""
    with av.open(str(path)) as inp:
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    return np.stack(frames).astype(np.float32) / 255


def noisy_clip(path: Path, clean: list[np.ndarray], seed: int) -> str:
    """Add sensor noise to `clean`, write it, and say how much of the noise decoding gives back:
    the regression slope of (decoded - clean) on the noise (1: all of it, 0: none)."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    noise = np.stack([sensor_noise(rng, h, w) for _ in clean])
    write_mp4(path, list(np.stack(clean) + noise), FPS, crf=str(CRF), tune="grain")
    kept = float(((decode(path) - np.stack(clean)) * noise).mean() / (noise * noise).mean())
    return f"{kept:.0%} of the {NOISE_LEVELS:g}-level noise survives decoding"


def bbb_excerpt(src: Path, dst: Path, *, start: int = 20, count: int = 96, width: int = 256) -> str:
    """`count` distinct frames from frame `start` of the real clip, scaled to `width` (even
    height kept), at 24 fps.

    The source is 25 fps made from the 24 fps film by repeating one frame a second; a repeat is
    a frame whose mean absolute difference to the last kept one is under 0.15 grey levels
    (measured at 256 wide: the five repeats differ by 0.03-0.08, real frames by 0.25 or more).
    Dropping them restores the film's motion and cadence instead of a frozen step that
    copy-last would predict perfectly.
    """
    frames: list[np.ndarray] = []
    dropped = last = 0
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        height = round(vin.height * width / vin.width / 2) * 2
        for i, frame in enumerate(inp.decode(vin)):
            if len(frames) == count:
                break
            if i < start:
                continue
            rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
            rgb = rgb.astype(np.float32) / 255
            if frames and np.abs(rgb - frames[-1]).mean() * 255 < 0.15:
                dropped += 1
                continue
            frames.append(rgb)
            last = i
    write_mp4(dst, frames, 24, crf="23")
    return f"frames {start}-{last} of the source, {len(frames)} kept, {dropped} repeats dropped"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bbb", type=Path, default=HERE.parent.parent / "shared/data/bigbuckbunny.mp4")
    args = ap.parse_args()
    clips = {
        "discs.mp4": (bouncing_discs, 1),
        "cars.mp4": (cars_on_road, 2),
        "camera_jumps.mp4": (jumping_camera, 3),
        "discs_b.mp4": (bouncing_discs, 4),
    }
    for name, (make, seed) in clips.items():
        print(f"{name}: {noisy_clip(HERE / name, make(seed), seed=1000 + seed)}")
    if args.bbb.exists():
        dst = HERE / "bigbuckbunny_excerpt.mp4"
        print(f"{dst.name}: {bbb_excerpt(args.bbb, dst)}")
    else:
        print(f"skipped the Big Buck Bunny excerpt: {args.bbb} not found")


if __name__ == "__main__":
    main()

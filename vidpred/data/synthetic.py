"""Real-textured synthetic motion: scikit-image's sample photographs moved by a random camera, with
cut-outs of other photographs moving in front, generated on the fly (issue 11).

Training on a handful of clips teaches a predictor their motion, not motion. This gives unlimited
windows whose texture is real (photographs, not noise) and whose motion is flow-like but not fully
predictable, as FlyingChairs did for optical flow (Dosovitskiy et al., ICCV 2015):

- the background is a photo seen by a camera that pans (a few px a frame at the working size, up
  to `max_speed`), zooms at a steady rate and half the time rolls; velocities are mostly constant,
  with a constant acceleration and a little jitter on top, so the past does not fix the future;
- `objects` soft-edged ellipses or polygons cut from *other* photos move across it with their own
  velocities and spins (occlusions and disocclusions at their edges);
- in a fifth of the windows the appearance changes from a random frame on: a fade towards a flat
  colour, an exposure drift or a growing blur (`change_appearance`), so that the flow head's
  appearance trend has something to learn;
- every frame gets its own sensor noise.

Each layer of a frame is rendered straight to the working size by one inverse-mapped affine warp
(cv2.warpAffine with WARP_INVERSE_MAP): the same pixels as warping a larger canvas and cropping
it, without computing the ones thrown away. The camera never shrinks a photo (zoom >= 1, cut-outs
likewise), so bilinear sampling cannot alias.
"""

from __future__ import annotations

import functools
import importlib.resources

import cv2
import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from vidpred.data.dataset import _item_seed

# Files bundled in scikit-image's wheel, read directly so that nothing is ever downloaded (the
# `skimage.data` functions fetch some photos with pooch); one missing from a version is skipped.
# Each with the part worth keeping, (top, bottom, left, right) fractions: retina is a disc on black.
PHOTOS: dict[str, tuple[float, float, float, float]] = {
    "astronaut.png": (0, 1, 0, 1),
    "brick.png": (0, 1, 0, 1),
    "camera.png": (0, 1, 0, 1),
    "cell.png": (0, 1, 0, 1),
    "chelsea.png": (0, 1, 0, 1),
    "coffee.png": (0, 1, 0, 1),
    "coins.png": (0, 1, 0, 1),
    "grass.png": (0, 1, 0, 1),
    "gravel.png": (0, 1, 0, 1),
    "hubble_deep_field.jpg": (0, 1, 0, 1),
    "ihc.png": (0, 1, 0, 1),
    "moon.png": (0, 1, 0, 1),
    "motorcycle_left.png": (0, 1, 0, 1),
    "retina.jpg": (0.25, 0.75, 0.25, 0.75),
    "rocket.jpg": (0, 1, 0, 1),
}
_WARP = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # maps give output pixel -> source pixel


@functools.cache
def photo_library(side: int) -> tuple[np.ndarray, ...]:
    """The bundled photos as uint8 RGB `(h, w, 3)`, short side resized to `side` (never enlarged).

    Loaded on first use and kept per process: a dataset pickled to DataLoader workers carries no
    pixels, and each worker loads its own copy once (3 MB at side 128)."""
    root = importlib.resources.files("skimage.data")
    photos = []
    for name, (top, bottom, left, right) in PHOTOS.items():
        bgr = cv2.imread(str(root / name), cv2.IMREAD_COLOR)  # grey photos: three equal channels
        if bgr is None:
            continue
        h, w = bgr.shape[:2]
        bgr = bgr[int(top * h) : int(bottom * h), int(left * w) : int(right * w)]
        scale = side / min(bgr.shape[:2])
        if scale < 1:
            size = (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        photos.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    if len(photos) < 2:
        raise RuntimeError(f"found {len(photos)} of scikit-image's sample photos; need 2 or more")
    return tuple(photos)


@functools.cache
def _noise_bank() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(1 << 20, dtype=np.float32)  # 4 MB


def _standard_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal noise of `shape`: a random slice of a fixed bank of draws. Drawing afresh
    took a third of the time of rendering a whole 64x64 window; any slice is as good noise."""
    bank, n = _noise_bank(), int(np.prod(shape))
    if n > bank.size:
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(0, bank.size - n + 1))
    return bank[start : start + n].reshape(shape)


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def motion_path(rng: np.random.Generator, frames: int, max_speed: float) -> np.ndarray:
    """Positions `(frames, 2)` (x, y) in pixels relative to the middle frame's: a velocity of up
    to `max_speed` px a frame (slow ones likelier), a constant acceleration and a little jitter."""
    speed = max_speed * rng.random() ** 1.5
    heading = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(heading), np.sin(heading)])
    accel = rng.normal(0, 0.05 * max_speed, size=2)
    jitter = np.cumsum(rng.normal(0, 0.03 * max_speed, size=(frames, 2)), axis=0)
    middle = (frames - 1) // 2
    t = (np.arange(frames) - middle)[:, None]  # (T, 1)
    return velocity * t + 0.5 * accel * t * t + jitter - jitter[middle]


def camera_maps(
    rng: np.random.Generator,
    frames: int,
    size: tuple[int, int],
    photo_hw: tuple[int, int],
    max_speed: float,
) -> np.ndarray:
    """Inverse affine maps `(frames, 2, 3)`, output pixel -> photo pixel, of a camera that pans
    along `motion_path`, zooms at a steady rate and half the time rolls, every view inside the
    photo (a sweep too wide for it is zoomed in on until it fits)."""
    H, W = size
    middle = (frames - 1) // 2
    t = np.arange(frames) - middle
    pan = motion_path(rng, frames, max_speed)  # (T, 2) in output pixels
    zoom = rng.uniform(1.0, 1.3) * np.exp(rng.normal(0, 0.015) * t)  # output px per photo px
    zoom /= min(1.0, zoom.min())
    roll = rng.normal(0, 0.01) * t if rng.random() < 0.5 else np.zeros(frames)
    linear = np.stack([_rotation(r) / z for r, z in zip(roll, zoom, strict=True)])  # (T, 2, 2)
    centre = np.array([(W - 1) / 2, (H - 1) / 2])
    # Where each view's corners land in the photo, relative to the middle view's centre.
    offsets = pan / zoom[:, None]  # (T, 2)
    corners = np.array([[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]]) - centre  # (4, 2)
    seen = offsets[:, None] + corners @ linear.transpose(0, 2, 1)  # (T, 4, 2)
    lo, hi = seen.min(axis=(0, 1)), seen.max(axis=(0, 1))
    room = np.array([photo_hw[1] - 1, photo_hw[0] - 1], float)
    if (grow := ((hi - lo) / room).max()) > 1:
        linear, offsets, lo, hi = linear / grow, offsets / grow, lo / grow, hi / grow
    start = rng.uniform(-lo, room - hi)  # the middle view's centre in the photo
    shift = start + offsets - linear @ centre  # (T, 2)
    return np.concatenate([linear, shift[:, :, None]], axis=2)  # (T, 2, 3)


def cutout(rng: np.random.Generator, photo: np.ndarray, radius: float) -> np.ndarray:
    """A soft-edged ellipse or polygon of about `radius` px cut from a random place in `photo`,
    as premultiplied RGBA uint8 `(S, S, 4)`, alpha zero on the border."""
    radius = min(radius, (min(photo.shape[:2]) - 9) / 2)
    S = 2 * int(np.ceil(radius)) + 7  # room for the blurred edge
    y, x = rng.integers(0, photo.shape[0] - S + 1), rng.integers(0, photo.shape[1] - S + 1)
    mask = np.zeros((S, S), np.uint8)
    c = (S - 1) / 2
    if rng.random() < 0.5:
        axes = radius * rng.uniform(0.5, 1.0, size=2)
        box = ((c, c), (2 * axes[0], 2 * axes[1]), rng.uniform(0, 180))
        cv2.ellipse(mask, box, 255, -1, cv2.LINE_AA)
    else:  # a star-shaped polygon: vertices at sorted angles, random distances from the centre
        n = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = radius * rng.uniform(0.55, 1.0, n)
        pts = np.stack([c + r * np.cos(angles), c + r * np.sin(angles)], axis=1)  # (n, 2)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.5, 1.2))
    # Premultiplied: bilinear sampling then blends the edge with nothing, not with the colours
    # outside the shape it was cut from.
    rgb = photo[y : y + S, x : x + S].astype(np.float32) * (mask[:, :, None] / 255)
    return np.dstack([np.round(rgb).astype(np.uint8), mask])


def object_maps(
    rng: np.random.Generator,
    frames: int,
    size: tuple[int, int],
    patch: int,
    scale: float,
    max_speed: float,
) -> np.ndarray:
    """Inverse affine maps `(frames, 2, 3)`, output pixel -> cut-out pixel, of a cut-out `patch`
    px wide, enlarged `scale` times, spinning and moving along `motion_path` with its middle-frame
    centre anywhere in the view."""
    H, W = size
    t = np.arange(frames) - (frames - 1) // 2
    centre = rng.uniform([0, 0], [W - 1, H - 1]) + motion_path(rng, frames, max_speed)  # (T, 2)
    spin = rng.uniform(0, 2 * np.pi) + rng.normal(0, 0.02) * t
    linear = np.stack([_rotation(-a) / scale for a in spin])  # (T, 2, 2)
    shift = (patch - 1) / 2 - (linear @ centre[:, :, None])[:, :, 0]  # (T, 2)
    return np.concatenate([linear, shift[:, :, None]], axis=2)  # (T, 2, 3)


def change_appearance(rng: np.random.Generator, out: np.ndarray) -> None:
    """From a random frame on, in place on `(T, H, W, 3)` grey levels, one of: a fade towards a
    flat colour (3-12% of the way a frame), an exposure drift (a gain of 0.94-1.06 a frame) or a
    growing blur (sigma 0.15-0.5 px more a frame)."""
    T = out.shape[0]
    start = int(rng.integers(0, T))
    kind = int(rng.integers(3))
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    rate = rng.uniform(0.03, 0.12)
    gain = rng.uniform(0.94, 1.06)
    blur = rng.uniform(0.15, 0.5)
    for t in range(start, T):
        n = t - start + 1
        if kind == 0:
            alpha = min(1.0, rate * n)
            out[t] = (1 - alpha) * out[t] + alpha * colour
        elif kind == 1:
            np.clip(out[t] * gain**n, 0, 255, out=out[t])
        else:
            out[t] = cv2.GaussianBlur(out[t], (0, 0), sigmaX=blur * n)


def render_window(
    rng: np.random.Generator,
    photos: tuple[np.ndarray, ...],
    *,
    frames: int,
    size: tuple[int, int],
    max_speed: float,
    objects: tuple[int, int],
    noise_levels: tuple[float, float],
    appearance: float = 0.2,
) -> np.ndarray:
    """One window, float32 `(frames, H, W, 3)` in [0, 1]; see the module docstring. In a share
    `appearance` of windows, the appearance changes from a random frame on (`change_appearance`)."""
    H, W = size
    b = int(rng.integers(len(photos)))
    background = photos[b]
    cams = camera_maps(rng, frames, size, background.shape[:2], max_speed)
    out = np.stack([cv2.warpAffine(background, m, (W, H), flags=_WARP) for m in cams])
    out = out.astype(np.float32)  # (T, H, W, 3) in grey levels until the end: fewer passes
    others = [p for i, p in enumerate(photos) if i != b]
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        scale = rng.uniform(1.0, 1.4)
        radius = rng.uniform(0.12, 0.3) * min(H, W)
        patch = cutout(rng, others[int(rng.integers(len(others)))], radius / scale)
        maps = object_maps(rng, frames, size, patch.shape[0], scale, max_speed)
        layer = np.stack([cv2.warpAffine(patch, m, (W, H), flags=_WARP) for m in maps])
        layer = layer.astype(np.float32)  # (T, H, W, 4)
        out *= 1 - layer[..., 3:] * (1 / 255)
        out += layer[..., :3]
    if rng.uniform() < appearance:
        change_appearance(rng, out)
    out += rng.uniform(*noise_levels) * _standard_noise(rng, out.shape)
    out *= 1 / 255
    return np.clip(out, 0, 1, out=out)


class SyntheticMotion(Dataset):
    """`length` windows of `frames` frames, `(T, 3, H, W)` float32 in [0, 1] with `size = (H, W)`,
    of photographs in synthetic motion (the module docstring says what moves how).

    The same contract as `ClipDataset(train=True)`: item `index` depends only on (seed, epoch,
    index), so any worker or rank renders the same window; call `set_epoch` for new ones.
    `max_speed` (px a frame at `size`; default `max(H, W) / 8`, 8 at 64x64) bounds the pans and
    the objects' speeds; `objects` is the (min, max) count of cut-outs; `noise_levels` the range,
    in 8-bit grey levels, of the sensor noise's standard deviation.
    """

    def __init__(
        self,
        *,
        frames: int,
        size: tuple[int, int],
        length: int = 10_000,
        seed: int = 0,
        max_speed: float | None = None,
        objects: tuple[int, int] = (1, 3),
        noise_levels: tuple[float, float] = (0.5, 2.0),
    ) -> None:
        H, W = size
        if frames < 1 or length < 0 or H < 8 or W < 8:
            raise ValueError(
                f"need frames >= 1, length >= 0, size >= (8, 8); got {frames}, {length}, {size}"
            )
        if not 0 <= objects[0] <= objects[1]:
            raise ValueError(f"objects must be (min, max) with 0 <= min <= max, got {objects}")
        if not 0 <= noise_levels[0] <= noise_levels[1]:
            raise ValueError(f"noise_levels must be (lo, hi), 0 <= lo <= hi, got {noise_levels}")
        if max_speed is not None and max_speed < 0:
            raise ValueError(f"max_speed must be >= 0, got {max_speed}")
        self.frames, self.size, self.length, self.seed, self.epoch = frames, (H, W), length, seed, 0
        self.max_speed = max(H, W) / 8 if max_speed is None else float(max_speed)
        self.objects, self.noise_levels = tuple(objects), tuple(noise_levels)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng(_item_seed(self.seed, self.epoch, index))
        window = render_window(
            rng,
            photo_library(2 * max(self.size)),  # a view at zoom 1 sees half a photo's short side
            frames=self.frames,
            size=self.size,
            max_speed=self.max_speed,
            objects=self.objects,
            noise_levels=self.noise_levels,
        )  # (T, H, W, 3)
        return torch.from_numpy(np.ascontiguousarray(window.transpose(0, 3, 1, 2)))  # (T, 3, H, W)


class MixedWindows(ConcatDataset):
    """Real training windows followed by synthetic ones, as one dataset for the sampler to shuffle
    together; `set_epoch` reaches both (each draws its crops or scenes from seed, epoch, index)."""

    def __init__(self, real: Dataset, synthetic: SyntheticMotion) -> None:
        super().__init__([real, synthetic])
        self.real, self.synthetic = real, synthetic

    def set_epoch(self, epoch: int) -> None:
        self.real.set_epoch(epoch)
        self.synthetic.set_epoch(epoch)


def with_synthetic(real: Dataset, share: float, *, frames: int, size: tuple[int, int], seed: int):
    """`real` with synthetic windows added so that they are `share` of the whole (0: `real`)."""
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share}")
    if share == 0:
        return real
    length = max(1, round(len(real) * share / (1 - share)))
    return MixedWindows(real, SyntheticMotion(frames=frames, size=size, length=length, seed=seed))

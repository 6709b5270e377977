"""The toy scene: a fixed background and a car pasted at a horizontal position (the targets).

Everything is drawn procedurally, so the command needs no asset: a sky, hills and a road with lane
marks below the car; the car (body, cabin, two windows, wheels with hubs, lights) is drawn with
PIL at `SUPERSAMPLE` x the output resolution and box-filtered down, which anti-aliases its edges
and gives it a proper alpha mask. The road is a light grey so the red body differs from it in
*luma* too: DIS flow sees grayscale only, and a red car on a mid-grey road is nearly invisible to
it (luma 83 vs 107 out of 255).

Positions are the car's left edge in pixels, on a 1/`SUBPIXEL` pixel grid; a sprite is drawn for
each sub-pixel phase, so a car at x = 10.25 is exactly what rendering it there would give.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

SUPERSAMPLE = 8  # hi-res pixels per output pixel when drawing
SUBPIXEL = 4  # positions lie on a 1/SUBPIXEL pixel grid; SUPERSAMPLE must be a multiple
CAR_WIDTH = 26 / 128  # of the image width: the 26 px car at 64x128
CAR_ASPECT = 0.5  # height / width
CAR_BOTTOM = 0.9  # where the wheels touch the road, as a fraction of the height
ROAD_TOP = 0.68  # the road starts here, as a fraction of the height
MIN_HEIGHT, MIN_WIDTH = 16, 32  # below this the car is a few pixels and flow has nothing to hold


def _car_rgba(width: int, height: int) -> np.ndarray:
    """The car drawn at SUPERSAMPLE x: uint8 RGBA `(height*S, width*S, 4)`."""
    W, H = width * SUPERSAMPLE, height * SUPERSAMPLE
    im = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)

    def pt(u: float, v: float) -> tuple[float, float]:
        return u * W, v * H

    red, glass = (205, 30, 35, 255), (165, 205, 235, 255)
    draw.polygon([pt(0.20, 0.48), pt(0.30, 0.06), pt(0.66, 0.06), pt(0.82, 0.48)], fill=red)
    draw.polygon([pt(0.26, 0.46), pt(0.335, 0.14), pt(0.47, 0.14), pt(0.47, 0.46)], fill=glass)
    draw.polygon([pt(0.52, 0.46), pt(0.52, 0.14), pt(0.64, 0.14), pt(0.755, 0.46)], fill=glass)
    draw.rounded_rectangle([pt(0.0, 0.42), pt(1.0, 0.82)], radius=0.12 * H, fill=red)
    draw.rectangle([pt(0.955, 0.50), pt(1.0, 0.60)], fill=(255, 220, 90, 255))  # headlight
    draw.rectangle([pt(0.0, 0.50), pt(0.035, 0.60)], fill=(120, 0, 0, 255))  # tail light
    for u in (0.21, 0.79):
        cx, cy = pt(u, 0.80)
        for radius, colour in ((0.20 * H, (25, 25, 28, 255)), (0.09 * H, (170, 170, 175, 255))):
            draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    return np.asarray(im)


def car_sprites(width: int, height: int) -> torch.Tensor:
    """Premultiplied RGBA sprites `(SUBPIXEL, 4, height, width + 1)`, one per sub-pixel phase.

    Sprite k is the car shifted right by k / SUBPIXEL pixels, box-filtered from the hi-res
    drawing; the extra column holds what a fractional shift pushes past the right edge.
    """
    rgba = _car_rgba(width, height).astype(np.float32) / 255
    alpha = rgba[..., 3:]
    premultiplied = np.concatenate([rgba[..., :3] * alpha, alpha], axis=-1)
    step = SUPERSAMPLE // SUBPIXEL
    sprites = []
    for k in range(SUBPIXEL):
        # Pad to width + 1 output pixels, the drawing starting k/SUBPIXEL of a pixel in.
        pad = ((0, 0), (k * step, SUPERSAMPLE - k * step), (0, 0))
        hi = np.pad(premultiplied, pad)  # (height*S, (width+1)*S, 4)
        lo = hi.reshape(height, SUPERSAMPLE, width + 1, SUPERSAMPLE, 4).mean(axis=(1, 3))
        sprites.append(torch.from_numpy(lo).permute(2, 0, 1))  # (4, height, width+1)
    return torch.stack(sprites)


def background(height: int, width: int) -> torch.Tensor:
    """The fixed background `(3, H, W)` in [0, 1]: sky, hills, a plain road, lane marks.

    The road is plain where the car drives, so the gradient energy there is the car's
    (see `vidpred.toy.measures.sharpness`); the lane marks run below the car.
    """
    y = (torch.arange(height, dtype=torch.float32) + 0.5).view(height, 1) / height
    x = (torch.arange(width, dtype=torch.float32) + 0.5).view(1, width) / width
    top, horizon = torch.tensor([0.45, 0.68, 0.92]), torch.tensor([0.80, 0.88, 0.95])
    image = top.view(3, 1, 1) * (1 - y) + horizon.view(3, 1, 1) * y  # (3, H, 1)
    image = image.expand(3, height, width).clone()  # (3, H, W)

    def cover(edge: torch.Tensor) -> torch.Tensor:
        # Fraction of each pixel below `edge` (in units of the height): a one-pixel ramp.
        return ((y - edge) * height + 0.5).clamp(0, 1)  # (H, W) or (H, 1)

    hills = 0.55 - 0.08 * torch.sin(x * 7 + 1) - 0.05 * torch.sin(x * 17)  # (1, W)
    m = cover(hills)
    image = image * (1 - m) + torch.tensor([0.35, 0.55, 0.32]).view(3, 1, 1) * m
    road = torch.tensor([0.66, 0.66, 0.68]).view(3, 1, 1) - 0.08 * (y - ROAD_TOP)  # (3, H, 1)
    m = cover(torch.tensor(ROAD_TOP))
    image = image * (1 - m) + road * m
    # Lane marks: dashes an eighth of the width apart, at ~93% of the height.
    row, thick = round(0.93 * height), max(1, round(height / 48))
    period = max(2, width // 8)
    for x0 in range(0, width, period):
        image[:, row : row + thick, x0 + period // 8 : x0 + period // 2] = 0.97
    return image.clamp(0, 1)


class ToyScene:
    """Targets for the toy: `background` with the car's left edge at x (pixels, float).

    `free_width`: how far the car's box can move, `W - box_width`; a spread s puts the car
    uniformly on the 1/SUBPIXEL grid within `centre +- s * free_width / 2`, so s = 1 lets it go
    anywhere and s = 0 keeps it at the centre. `positions` are the training positions, `sweep`
    every position in the image (for `aligned_error`).
    """

    def __init__(self, *, height: int, width: int, spread: float) -> None:
        if height < MIN_HEIGHT or width < MIN_WIDTH:
            raise ValueError(
                f"toy scene must be at least {MIN_HEIGHT}x{MIN_WIDTH}, got {height}x{width}"
            )
        if not 0 <= spread <= 1:
            raise ValueError(f"spread must be in [0, 1], got {spread}")
        self.height, self.width, self.spread = height, width, spread
        self.car_width = max(4, round(width * CAR_WIDTH))
        self.car_height = max(2, round(self.car_width * CAR_ASPECT))
        self.box_width = self.car_width + 1  # sprites carry one extra column (sub-pixel shifts)
        self.top = min(height, round(CAR_BOTTOM * height)) - self.car_height
        self.free_width = width - self.box_width
        self.background = background(height, width)  # (3, H, W)
        self.sprites = car_sprites(self.car_width, self.car_height)  # (S, 4, h, w+1)
        steps = self.free_width * SUBPIXEL
        self.sweep = torch.arange(steps + 1, dtype=torch.float64) / SUBPIXEL  # (N_sweep,)
        centre = steps / 2
        lo = math.ceil(centre - spread * steps / 2 - 1e-9)
        hi = math.floor(centre + spread * steps / 2 + 1e-9)
        self.positions = self.sweep[lo : hi + 1]  # (N,)
        self.centre = float(self.sweep[round(centre)])

    def to(self, device) -> ToyScene:
        self.background = self.background.to(device)
        self.sprites = self.sprites.to(device)
        return self

    def _split(self, x: float) -> tuple[int, int]:
        steps = round(x * SUBPIXEL)
        if not 0 <= steps <= self.free_width * SUBPIXEL:
            raise ValueError(f"car position {x} is outside [0, {self.free_width}]")
        return steps // SUBPIXEL, steps % SUBPIXEL

    def render(self, xs) -> torch.Tensor:
        """Targets `(N, 3, H, W)` with the car's left edge at each of `xs` (pixels)."""
        xs = [float(x) for x in xs]
        out = self.background.expand(len(xs), -1, -1, -1).clone()  # (N, 3, H, W)
        rows = self.rows
        for n, x in enumerate(xs):
            x0, phase = self._split(x)
            sprite = self.sprites[phase]  # (4, h, w+1)
            box = out[n, :, rows, x0 : x0 + self.box_width]
            out[n, :, rows, x0 : x0 + self.box_width] = box * (1 - sprite[3:]) + sprite[:3]
        return out

    def band(self, xs, columns: slice) -> torch.Tensor:
        """The car's rows of the targets at `xs`, restricted to `columns`: `(N, 3, h, C)`."""
        return self.render(xs)[:, :, self.rows, columns]

    @property
    def rows(self) -> slice:
        return slice(self.top, self.top + self.car_height)

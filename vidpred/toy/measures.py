"""How close a toy prediction is to *some* target: aligned error, sharpness, and the analytic
pixel-wise references (the mean and median of the targets).

- `aligned_error`: the smallest L1 between the prediction and the target with the car at x,
  over the car's box at x, for every x on the scene's sweep (the whole free width, 1/SUBPIXEL
  pixel steps). A sharp car anywhere scores ~0; the background alone scores the car's contrast
  with the road; a blur scores in between. It says *whether* a car is there, not where.
- `sharpness`: mean squared finite-difference gradient (x and y, all channels) of the
  prediction over the band the car can occupy (its rows +-1, the columns of every training
  position's box +-1), divided by the same averaged over the training targets. ~1: as sharp as
  a target; the mean image scores well below 1; the background alone scores the road's own
  (near zero) gradient energy; noise or a doubled car can exceed 1.
"""

from __future__ import annotations

import torch

from vidpred.toy.scene import SUBPIXEL, ToyScene

# Pixels times positions held at once when reducing over all training targets (~32 MB float32).
_CHUNK_ELEMENTS = 8 * 2**20  # also under torch.quantile's 2**24-element limit


def _check_image(scene: ToyScene, image: torch.Tensor) -> torch.Tensor:
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.shape != (3, scene.height, scene.width):
        raise ValueError(
            f"expected an image (3, {scene.height}, {scene.width}) or (1, 3, H, W), "
            f"got {tuple(image.shape)}"
        )
    return image.detach().float().to(scene.background.device)


def aligned_errors(scene: ToyScene, image: torch.Tensor) -> torch.Tensor:
    """L1 over the car's box between `image` and the target at each of `scene.sweep`: `(N,)`."""
    image = _check_image(scene, image)
    rows, bw = scene.rows, scene.box_width
    band = image[:, rows]  # (3, h, W)
    bg = scene.background[:, rows]  # (3, h, W)
    windows = band.unfold(-1, bw, 1)  # (3, h, X, bw): X = free_width + 1 integer positions
    bg_windows = bg.unfold(-1, bw, 1)  # (3, h, X, bw)
    errors = []
    for phase in range(SUBPIXEL):
        sprite = scene.sprites[phase].unsqueeze(2)  # (4, h, 1, bw)
        target = bg_windows * (1 - sprite[3:]) + sprite[:3]  # (3, h, X, bw)
        errors.append((windows - target).abs().mean(dim=(0, 1, 3)))  # (X,)
    by_phase = torch.stack(errors, dim=1)  # (X, SUBPIXEL): position x0 + phase / SUBPIXEL
    # The last integer position has phase 0 only: later phases would leave the image.
    return by_phase.reshape(-1)[: len(scene.sweep)]


def aligned_error(scene: ToyScene, image: torch.Tensor) -> tuple[float, float]:
    """`(error, best_x)`: the smallest of `aligned_errors` and the car position that gives it."""
    errors = aligned_errors(scene, image)
    best = int(errors.argmin())
    return float(errors[best]), float(scene.sweep[best])


def _gradient_energy(image: torch.Tensor) -> torch.Tensor:
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.square().mean() + dy.square().mean()


def sharpness_region(scene: ToyScene) -> tuple[slice, slice]:
    """(rows, columns) the car can occupy during training, one pixel of margin around it."""
    lo = int(scene.positions[0])
    hi = int(scene.positions[-1]) + scene.box_width
    rows = slice(max(0, scene.top - 1), min(scene.height, scene.top + scene.car_height + 1))
    return rows, slice(max(0, lo - 1), min(scene.width, hi + 1))


def target_gradient_energy(scene: ToyScene) -> float:
    """The mean gradient energy of the training targets over `sharpness_region`. Averaged
    because anti-aliasing makes a car at a half-pixel position ~10% less sharp than one on the
    pixel grid; 1 is then "as sharp as a typical target"."""
    rows, cols = sharpness_region(scene)
    positions = scene.positions.tolist()
    total = 0.0
    for i in range(0, len(positions), 64):
        targets = scene.render(positions[i : i + 64])[:, :, rows, cols]  # (n, 3, h, c)
        total += sum(float(_gradient_energy(t)) for t in targets)
    return total / len(positions)


def sharpness(scene: ToyScene, image: torch.Tensor, *, reference: float | None = None) -> float:
    """Gradient energy of `image` over `sharpness_region` relative to the targets' mean
    (`target_gradient_energy`, computed here unless given as `reference`)."""
    image = _check_image(scene, image)
    rows, cols = sharpness_region(scene)
    if reference is None:
        reference = target_gradient_energy(scene)
    return float(_gradient_energy(image[:, rows, cols])) / reference


def pixelwise_references(scene: ToyScene) -> dict[str, torch.Tensor]:
    """The per-pixel mean and median of the training targets, `(3, H, W)` each: the exact
    minimisers of the expected MSE and L1 over the training distribution.

    Outside the car's rows every target is the background, so only that band is reduced, in
    column chunks so that memory stays bounded at any size and spread.
    """
    positions = scene.positions.tolist()
    h, W = scene.car_height, scene.width
    chunk = max(1, _CHUNK_ELEMENTS // max(1, len(positions) * 3 * h))
    mean = scene.background.clone()
    median = scene.background.clone()
    for c0 in range(0, W, chunk):
        columns = slice(c0, min(W, c0 + chunk))
        stack = torch.cat(
            [scene.band(positions[i : i + 64], columns) for i in range(0, len(positions), 64)]
        )  # (N, 3, h, C)
        mean[:, scene.rows, columns] = stack.mean(0)
        # quantile(0.5) averages the two middle values when N is even; any value between them
        # minimises the L1, and the average is the symmetric choice.
        median[:, scene.rows, columns] = torch.quantile(stack, 0.5, dim=0)
    return {"mean": mean, "median": median}

"""The whole toy experiment: train one predictor per loss, measure, write the figure and toy.json.

Files written into the output folder (each atomically):
- toy.png: Sample | one panel per loss (the paper's row: MSE | L1 | L1 + Perceptual | Corr-wise
  L1 for the default losses; the paper's "L1 + Perceptual" averaged the two terms on images in
  [-1, 1], which is `l1+0.5*vgg` in vidpred's [0, 1] units, see `vidpred.losses.spec`);
- references.png: Sample | the targets' pixel-wise mean | their pixel-wise median, the exact
  minimisers of the expected MSE and L1, which the MSE and L1 panels should match;
- progress.gif: the prediction of the first corr-wise loss (else the last loss) over training;
- toy.json: `{"losses": {spec: {"aligned_error", "best_x", "sharpness", ...}}, "references":
  {"mean": ..., "median": ..., "sample": ...}, "skipped": {spec: reason}, "settings": {...}}`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from vidpred import __version__
from vidpred.errors import SpecError, VidpredError, WeightsMissingError
from vidpred.io.atomic import atomic_path
from vidpred.io.frames import write_image
from vidpred.io.video import write_frames
from vidpred.losses import LossSpec, build_loss, parse_loss_spec
from vidpred.toy.figure import display_scale, figure_row, labelled_panel, loss_label
from vidpred.toy.measures import (
    aligned_error,
    pixelwise_references,
    sharpness,
    target_gradient_energy,
)
from vidpred.toy.scene import SUBPIXEL, ToyScene
from vidpred.toy.train import ToyConfig, toy_flow, train_predictor
from vidpred.train.runtime import resolve_device

DEFAULT_LOSSES = "mse,l1,l1+0.5*vgg,corr-l1"
OUTPUT_FILES = ("toy.png", "references.png", "progress.gif", "toy.json")
GIF_FPS = 10
GIF_HOLD = 10  # extra copies of the last frame, so the result stays on screen a second


def parse_loss_list(text: str) -> list[LossSpec]:
    """`"mse,l1,corr-l1"` -> specs in that order; a spec given twice is an error."""
    specs: list[LossSpec] = []
    for part in text.split(","):
        if not part.strip():
            raise SpecError(f"--losses {text!r}: empty entry; give comma-separated loss specs")
        spec = parse_loss_spec(part)
        if spec in specs:
            raise SpecError(f"--losses {text!r}: {spec} is given twice")
        specs.append(spec)
    return specs


def _round(x: float) -> float:
    return round(float(x), 6)


def measure(scene: ToyScene, image: torch.Tensor, *, reference: float | None = None) -> dict:
    """`{"aligned_error", "best_x", "sharpness"}` of one `(3, H, W)` image; `reference`: the
    targets' gradient energy, if already computed."""
    error, best_x = aligned_error(scene, image)
    return {
        "aligned_error": _round(error),
        "best_x": best_x,
        "sharpness": _round(sharpness(scene, image, reference=reference)),
    }


@dataclass
class ToyHooks:
    """Callbacks for a front end (the CLI's notices and progress bars); all optional."""

    on_skip: Callable[[str, str], None] | None = None  # (spec, reason)
    on_start: Callable[[str, int], None] | None = None  # (spec, steps)
    on_step: Callable[[int, float], None] | None = None  # (steps done, loss)
    on_done: Callable[[str, dict], None] | None = None  # (spec, its toy.json entry)


def run_toy(
    cfg: ToyConfig,
    specs: list[LossSpec],
    out_dir: Path | str,
    *,
    pretrained: bool = True,
    hooks: ToyHooks | None = None,
) -> dict:
    """Train one predictor per spec on the toy scene, write the files listed in the module
    docstring into `out_dir`, and return the toy.json content.

    A spec whose pretrained weights are missing is skipped (reported through `hooks.on_skip`
    and in toy.json's "skipped"); if every spec is skipped, `VidpredError`. `pretrained=False`
    builds perceptual terms with random networks (tests: the plumbing without the weights).
    """
    if not specs:
        raise VidpredError("no losses to train; give at least one loss spec")
    hooks = hooks or ToyHooks()
    device = resolve_device(cfg.device)
    H, W = cfg.size
    scene = ToyScene(height=H, width=W, spread=cfg.spread).to(device)
    out_dir = Path(out_dir)

    # The sample panel: the first target training draws (the sampler's first index).
    first = torch.randint(
        len(scene.positions), (1,), generator=torch.Generator().manual_seed(cfg.seed)
    )
    sample = scene.render(scene.positions[first])[0].cpu()  # (3, H, W)
    references = {k: v.cpu() for k, v in pixelwise_references(scene).items()}
    energy = target_gradient_energy(scene)

    # Build every loss first: missing weights are known before any training time is spent.
    losses, skipped = {}, {}
    for spec in specs:
        try:
            flow = {"flow": toy_flow(cfg.flow)} if spec.corrwise else {}
            loss_fn = build_loss(spec, pretrained=pretrained, device=device, **flow)
            losses[str(spec)] = (spec, loss_fn)
        except WeightsMissingError as e:
            skipped[str(spec)] = str(e)
            if hooks.on_skip:
                hooks.on_skip(str(spec), str(e))
    if not losses:
        raise VidpredError(
            "every loss was skipped for missing weights: " + "; ".join(skipped.values())
        )
    progress_key = next((k for k, (s, _) in losses.items() if s.corrwise), list(losses)[-1])

    results, images, snapshots = {}, {}, []
    for key, (spec, loss_fn) in losses.items():
        if hooks.on_start:
            hooks.on_start(key, cfg.steps)
        every = max(1, cfg.steps // cfg.progress_frames) if key == progress_key else 0
        start = time.perf_counter()
        trained = train_predictor(
            scene, loss_fn, cfg, device=device, snapshot_every=every, on_step=hooks.on_step
        )
        seconds = time.perf_counter() - start
        images[key] = trained.image
        if key == progress_key:
            snapshots = trained.snapshots
        results[key] = {
            "label": loss_label(spec),
            **measure(scene, trained.image, reference=energy),
            "final_loss": _round(trained.loss),
            "seconds": round(seconds, 2),
            "flow": loss_fn.flow_backend,
        }
        if hooks.on_done:
            hooks.on_done(key, results[key])

    report = {
        "losses": results,
        "references": {
            name: measure(scene, image, reference=energy)
            for name, image in (
                ("mean", references["mean"]),
                ("median", references["median"]),
                ("sample", sample),
            )
        },
        "skipped": skipped,
        "settings": _settings(cfg, scene, device, progress_key),
    }
    _write_outputs(out_dir, report, sample, images, references, snapshots, progress_key)
    return report


def _settings(cfg: ToyConfig, scene: ToyScene, device: torch.device, progress_key: str) -> dict:
    return {
        **cfg.to_dict(),
        "device": str(device),
        "car": {"width": scene.car_width, "height": scene.car_height, "top": scene.top},
        "free_width": scene.free_width,
        "positions": {
            "min": float(scene.positions[0]),
            "max": float(scene.positions[-1]),
            "count": len(scene.positions),
            "step": 1 / SUBPIXEL,
        },
        "progress_gif": progress_key,
        "vidpred": __version__,
    }


def _write_outputs(out_dir, report, sample, images, references, snapshots, progress_key) -> None:
    labels = {k: v["label"] for k, v in report["losses"].items()}
    write_image(
        out_dir / "toy.png",
        figure_row([sample, *images.values()], ["Sample", *labels.values()]),
    )
    write_image(
        out_dir / "references.png",
        figure_row(
            [sample, references["mean"], references["median"]],
            ["Sample", "Pixel-wise mean", "Pixel-wise median"],
        ),
    )
    scale = display_scale(sample.shape[-1])
    total = snapshots[-1][0]
    frames = [
        labelled_panel(image, f"{labels[progress_key]}  step {step}/{total}", scale=scale)
        for step, image in snapshots
    ]
    write_frames(out_dir / "progress.gif", frames + [frames[-1]] * GIF_HOLD, fps=GIF_FPS)
    with atomic_path(out_dir / "toy.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")

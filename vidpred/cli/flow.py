"""`vidpred flow A B`: what a correspondence-wise loss sees for one pair of frames.

The flow is estimated from A (the reference) to B, B is warped onto A with the flow the loss
uses (scaled by 1 - eps), and the pixel-wise error |B - A| is shown beside the corr-wise error
|warp(B) - A|. The numbers use the training definitions (vidpred.losses) on [0, 1] images:
`pixel_l1` is `l1`, `corr_l1` is `corr-l1` (both directions summed, as in training).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import torch
import typer
from PIL import Image
from torchvision.utils import flow_to_image

from vidpred.cli.common import OverwriteOption, check_output
from vidpred.cli.console import console, notice
from vidpred.errors import InputError
from vidpred.flow.backends import FLOW_BACKENDS, build_flow
from vidpred.flow.warping import warp
from vidpred.io import IMAGE_EXTENSIONS, load_image_rgb, open_source
from vidpred.io.atomic import atomic_path
from vidpred.io.grids import error_map, grid, to_uint8
from vidpred.losses import build_loss


def _parse_frames(text: str) -> tuple[int, int]:
    try:
        i, j = (int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--frames takes two frame indices I,J; got {text!r}") from None
    if i < 0 or j < 0:
        raise InputError(f"--frames indices must be >= 0; got {text!r}")
    return i, j


def _read_pair(a: Path, b: Path | None, frames: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 (H, W, 3) frames: two image files, or two frames of one video / frame folder."""
    if b is not None:
        if frames is not None:
            raise InputError("give either two images A B, or one video A with --frames I,J")
        return load_image_rgb(a), load_image_rgb(b)
    if frames is None:
        if a.suffix.lower() in IMAGE_EXTENSIONS:
            raise InputError(f"{a}: an image needs a second image B to compare with")
        raise InputError(f"{a}: pick two frames of it with --frames I,J")
    i, j = _parse_frames(frames)
    source = open_source(a)
    try:
        return source.read_frame(i), source.read_frame(j)
    except IndexError:
        raise InputError(
            f"{a}: has {source.info.frames} frames, cannot read frames {i} and {j}"
        ) from None


def _labelled(panel: np.ndarray, label: str) -> np.ndarray:
    """The panel under a white strip with `label` in it (clipped if the panel is narrow)."""
    scale = max(0.4, panel.shape[1] / 800)  # readable on 64 px crops and on 1080p frames alike
    height = int(22 * scale) + 6
    strip = np.full((height, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(
        strip,
        label,
        (3, height - 4 - int(2 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (0, 0, 0),
        max(1, round(scale)),
        cv2.LINE_AA,
    )
    return np.concatenate((strip, panel))


def flow(
    a: Annotated[
        Path, typer.Argument(help="First image (the reference), or a video / frames folder.")
    ],
    b: Annotated[Path | None, typer.Argument(help="Second image (omit with --frames).")] = None,
    frames: Annotated[
        str | None, typer.Option(help="Two frame indices I,J of video A, e.g. 10,12.")
    ] = None,
    flow_backend: Annotated[
        str, typer.Option("--flow", help=f"Flow backend: {' | '.join(FLOW_BACKENDS)}.")
    ] = "auto",
    eps: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="The loss's flow scaling: warp by (1 - eps).")
    ] = 0.1,
    out: Annotated[Path | None, typer.Option(help="Write the panels to this PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Flow between two frames, B warped onto A, and pixel-wise vs corr-wise error maps."""
    if out is not None:
        if out.suffix.lower() != ".png":
            raise InputError(f"{out}: --out writes a PNG; give a .png path")
        check_output(out, overwrite=overwrite)
    frame_a, frame_b = _read_pair(a, b, frames)
    if frame_a.shape != frame_b.shape:
        raise InputError(
            f"the frames differ in size: {frame_a.shape[1]}x{frame_a.shape[0]} and "
            f"{frame_b.shape[1]}x{frame_b.shape[0]}"
        )
    estimator = build_flow(flow_backend)
    notice(f"flow backend: {estimator.name}" + (" (auto)" if flow_backend == "auto" else ""))
    pair = torch.from_numpy(np.stack((frame_a, frame_b))).permute(0, 3, 1, 2)  # (2, 3, H, W)
    ref, other = (pair.float() / 255).split(1)  # (1, 3, H, W) each

    with torch.no_grad():
        flow_ab = estimator.estimate_flow(ref, other)  # (1, 2, H, W)
        warped = warp(other, flow_ab * (1 - eps))
        pixel_l1, _ = build_loss("l1")(other, ref)
        corr_l1, _ = build_loss("corr-l1", flow=estimator, eps=eps)(other, ref)
    result = {
        "pixel_l1": pixel_l1.item(),
        "corr_l1": corr_l1.item(),
        "mean_flow": flow_ab.norm(dim=1).mean().item(),
        "flow": estimator.name,
    }

    if out is not None:
        panels = [
            ("A (reference)", to_uint8(ref[0])),
            ("B", to_uint8(other[0])),
            (f"flow A->B ({estimator.name})", flow_to_image(flow_ab)[0].permute(1, 2, 0).numpy()),
            (f"B warped onto A (x{1 - eps:g})", to_uint8(warped[0])),
            ("pixel error |B-A| x4", to_uint8(error_map(other[0], ref[0]))),
            ("corr error |warp(B)-A| x4", to_uint8(error_map(warped[0], ref[0]))),
        ]
        labelled = [_labelled(panel, label) for label, panel in panels]
        with atomic_path(out) as tmp:
            Image.fromarray(grid([labelled[:3], labelled[3:]])).save(tmp, format="PNG")

    if as_json:
        print(json.dumps(result))
    else:
        console.print(
            f"pixel l1 {result['pixel_l1']:.4f}   corr l1 {result['corr_l1']:.4f}   "
            f"mean flow {result['mean_flow']:.2f} px ({estimator.name})"
            + (f"   -> {out}" if out is not None else ""),
            highlight=False,
        )

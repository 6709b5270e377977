"""`vidpred predict MODEL CONTEXT...`: predict the frames that come next."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Annotated

import torch
import typer

from vidpred.cli.common import (
    DeviceOption,
    OverwriteOption,
    check_image_suffix,
    check_output,
    parse_size,
)
from vidpred.cli.console import console, notice
from vidpred.errors import InputError
from vidpred.inference import load_model, predict_future, resize, to_tensor
from vidpred.io.frames import write_image
from vidpred.io.grids import comparison_grid, to_uint8
from vidpred.io.inputs import open_input
from vidpred.io.streaming import prefetch
from vidpred.io.video import FrameWriter
from vidpred.train.runtime import resolve_device

GRID_ROWS = 8


def predict(
    model: Annotated[Path, typer.Argument(help="A model.pt written by `vidpred train`.")],
    context: Annotated[
        list[Path],
        typer.Argument(
            help="Context: image files (the last K are used), a folder of frames, or a video."
        ),
    ],
    frames: Annotated[int, typer.Option(min=1, help="Frames to predict (autoregressive).")] = 1,
    at: Annotated[
        int | None,
        typer.Option(help="Video/folder: predict after frame AT (0-based). Default: the end."),
    ] = None,
    every: Annotated[
        int | None,
        typer.Option(min=1, help="Video/folder: predict after every EVERY-th frame, batched."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="A folder (pred_0001.png ...) or an .mp4/.gif/.webm file.")
    ] = Path("predictions"),
    grid: Annotated[
        Path | None,
        typer.Option(help="Also write context | prediction (| truth) as one PNG."),
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="Run at HxW instead of the model's training size.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per forward pass.")] = 16,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Predict the next frames after a context window; writes PNGs or a video."""
    check_output(out, overwrite=overwrite)
    if grid is not None:  # checked before any work: a bad --grid used to fail after --out
        check_output(grid, overwrite=overwrite)
        check_image_suffix(grid, option="--grid")
    lm = load_model(model, device=resolve_device(device), task="predict")
    inp = open_input(context)
    K = lm.config.context
    if inp.frames < K:
        raise InputError(f"{inp.label}: {inp.frames} frames; this model needs {K} context frames")
    run_size = parse_size(size) or lm.size
    if (inp.height, inp.width) != run_size:
        notice(
            f"fitting {inp.width}x{inp.height} input to {run_size[1]}x{run_size[0]} "
            "(resize, centre crop, as in training)"
        )
    ends = _window_ends(inp.frames, K, at=at, every=every, label=inp.label)

    fps = inp.fps or 10.0
    shown: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # first windows, for the grid
    truths: dict[int, list] = {}
    batch: list[tuple[int, list]] = []
    n_windows = 0

    def flush(writer: FrameWriter) -> None:
        nonlocal n_windows
        ctx = resize(torch.stack([to_tensor(c) for _, c in batch]), run_size)  # (B, K, 3, H, W)
        pred = predict_future(lm, ctx, frames).cpu()  # (B, frames, 3, H, W)
        for (end, _), c, p in zip(batch, ctx, pred, strict=True):
            for frame in to_uint8(p):
                writer.write(frame)
            if len(shown) < GRID_ROWS:
                shown.append((end, c, p))
        n_windows += len(batch)
        batch.clear()

    want = set(ends)
    recent: deque = deque(maxlen=K)
    start = ends[0] - K + 1
    stop = min(inp.frames, ends[-1] + frames + 1) if grid else ends[-1] + 1
    with FrameWriter(out, fps=fps, prefix="pred_") as writer:
        for i, frame in enumerate(prefetch(inp.iter_frames(start, stop)), start=start):
            for end, lst in truths.items():  # the true future of the windows shown in the grid
                if end < i <= end + frames:
                    lst.append(frame)
            recent.append(frame)
            if i in want:
                batch.append((i, list(recent)))
                if grid is not None and len(truths) < GRID_ROWS:
                    truths[i] = []
                if len(batch) == batch_size:
                    flush(writer)
        if batch:
            flush(writer)
    if grid is not None:
        complete = all(len(truths[e]) == frames for e, _, _ in shown)
        truth = (
            resize(torch.stack([to_tensor(truths[e]) for e, _, _ in shown]), run_size)
            if complete and inp.source is not None
            else None
        )
        ctx = torch.stack([c for _, c, _ in shown])
        pred = torch.stack([p for _, _, p in shown])
        write_image(grid, comparison_grid(ctx, truth, [pred], max_rows=GRID_ROWS))
    console.print(
        f"predicted {frames} frame(s) after {n_windows} window(s) -> {out}"
        + (f", grid -> {grid}" if grid else ""),
        highlight=False,
    )


def _window_ends(n: int, K: int, *, at: int | None, every: int | None, label: str) -> list[int]:
    """The last context frame of each window to predict from."""
    if at is not None and every is not None:
        raise InputError("--at and --every exclude each other")
    if every is not None:
        return list(range(K - 1, n, every))
    end = n - 1 if at is None else at
    if not K - 1 <= end < n:
        raise InputError(f"{label}: --at {at} needs {K} frames up to it within 0..{n - 1}")
    return [end]

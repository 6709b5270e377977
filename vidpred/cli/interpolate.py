"""`vidpred interpolate MODEL INPUT...`: in-between frames for two images or a whole video."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidpred.cli.common import DeviceOption, OverwriteOption, check_output
from vidpred.cli.console import console, err_console
from vidpred.errors import InputError
from vidpred.inference import (
    dyadic_depth,
    interpolate_midpoints,
    interpolate_stream,
    load_model,
    to_tensor,
)
from vidpred.io.frames import write_image
from vidpred.io.grids import to_uint8
from vidpred.io.inputs import open_input
from vidpred.io.streaming import BackgroundSink, prefetch
from vidpred.io.video import FrameWriter
from vidpred.train.runtime import resolve_device

FACTORS = (2, 4, 8, 16)


def interpolate(
    model: Annotated[Path, typer.Argument(help="A model.pt trained with --task interpolate.")],
    inputs: Annotated[
        list[Path], typer.Argument(help="Two images, or one video or folder of frames.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Two images: a PNG (one time) or a folder. Video: a video file "
            "(.mp4/.gif/.webm/.mkv) or a folder of PNGs."
        ),
    ] = None,
    times: Annotated[
        str | None,
        typer.Option(
            help="Two images: times in (0, 1), e.g. 0.25,0.5,0.75. The model predicts "
            "midpoints, so other times are reached by recursive midpoints and must be "
            "k/2^n. [default: 0.5]"
        ),
    ] = None,
    factor: Annotated[
        int, typer.Option(help="Video: frames out per frame in (2, 4, 8 or 16).")
    ] = 2,
    slowmo: Annotated[
        bool,
        typer.Option("--slowmo", help="Video: keep the fps (slow motion) instead of fps x factor."),
    ] = False,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Frame interpolation. Two images -> the middle frame (or --times). A video -> FACTOR times
    the frames at FACTOR times the fps (same duration), or at the same fps with --slowmo."""
    lm = load_model(model, device=resolve_device(device), task="interpolate")
    if len(inputs) == 2:
        _two_images(lm, inputs, out, times, overwrite)
        return
    if len(inputs) != 1:
        raise InputError(f"give two images or one video/folder, got {len(inputs)} inputs")
    if factor not in FACTORS:
        raise InputError(f"--factor {factor}: use one of {', '.join(map(str, FACTORS))}")
    inp = open_input(inputs)
    if inp.frames < 2:
        raise InputError(f"{inp.label}: {inp.frames} frame(s); interpolation needs at least 2")
    src = Path(inp.label)
    out = out or src.with_name(
        f"{src.stem}_x{factor}{src.suffix if inp.source and src.is_file() else ''}"
    )
    check_output(out, overwrite=overwrite)
    fps_in = inp.fps or 25.0
    fps_out = fps_in if slowmo else fps_in * factor
    total = (inp.frames - 1) * factor + 1
    progress = Progress(
        TextColumn("[bold]interpolate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )
    with FrameWriter(out, fps=fps_out) as writer, progress:
        task = progress.add_task("frames", total=total)
        sink = BackgroundSink(writer.write)  # encoding overlaps the model's next batch
        try:
            for frame in interpolate_stream(lm, prefetch(inp.iter_frames()), factor=factor):
                sink.put(frame)
                progress.advance(task)
        finally:
            sink.close()
    console.print(
        f"{inp.frames} -> {writer.frames_written} frames at {fps_out:.4g} fps -> {out}",
        highlight=False,
    )


def _two_images(lm, inputs: list[Path], out: Path | None, times: str | None, overwrite: bool):
    try:
        ts = [float(t) for t in (times or "0.5").split(",")]
    except ValueError:
        raise InputError(f"--times {times}: expected numbers like 0.25,0.5,0.75") from None
    depth = dyadic_depth(ts)
    inp = open_input(inputs)
    a, b = to_tensor(list(inp.iter_frames()))  # each (3, H, W)
    mids = interpolate_midpoints(lm, a[None], b[None], depth)[0]  # (2**depth - 1, 3, H, W)
    frames = to_uint8(mids)
    chosen = [frames[round(t * 2**depth) - 1] for t in ts]
    out = out or (Path("middle.png") if len(ts) == 1 else Path("interpolated"))
    check_output(out, overwrite=overwrite)
    if len(ts) == 1 and out.suffix.lower() == ".png":
        write_image(out, chosen[0])
    else:
        with FrameWriter(out, fps=25.0, prefix="t_") as writer:
            for frame in chosen:
                writer.write(frame)
    console.print(f"{len(ts)} frame(s) at t = {', '.join(map(str, ts))} -> {out}", highlight=False)

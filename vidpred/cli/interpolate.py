"""`vidpred interpolate MODEL INPUT...`: in-between frames for two images or a whole video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidpred.cli.common import DeviceOption, OverwriteOption, check_output
from vidpred.cli.console import console, err_console, notice
from vidpred.errors import InputError
from vidpred.inference import (
    dyadic_depth,
    interpolate_times,
    load_model,
    retime_stream,
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
            help="Two images: times in (0, 1), e.g. 0.25,0.5,0.75. A flow-head model takes any "
            "t; a pixel-head one predicts midpoints, so its times must be k/2^n. [default: 0.5]"
        ),
    ] = None,
    factor: Annotated[
        int | None,
        typer.Option(help="Video: frames out per frame in (2, 4, 8 or 16). [default: 2]"),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(
            help="Video: convert to this frame rate over the same duration (e.g. 24 or 25 fps "
            "-> 60). Needs a flow-head interpolator unless the ratio is a power of two."
        ),
    ] = None,
    slowmo: Annotated[
        bool,
        typer.Option("--slowmo", help="Video: keep the fps (slow motion) instead of fps x factor."),
    ] = False,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Frame interpolation. Two images -> the middle frame (or --times). A video -> FACTOR times
    the frames at FACTOR times the fps (same duration), or at the same fps with --slowmo; or
    resampled to any --fps (a flow-head model: in-between frames at any time t)."""
    lm = load_model(model, device=resolve_device(device), task="interpolate")
    if len(inputs) == 2:
        _two_images(lm, inputs, out, times, overwrite)
        return
    if len(inputs) != 1:
        raise InputError(f"give two images or one video/folder, got {len(inputs)} inputs")
    if fps is not None and (factor is not None or slowmo):
        raise InputError("--fps sets the output rate itself; give it without --factor/--slowmo")
    if factor is not None and factor not in FACTORS:
        raise InputError(f"--factor {factor}: use one of {', '.join(map(str, FACTORS))}")
    if fps is not None and not 0 < fps <= 1000:
        raise InputError(f"--fps {fps:g}: give a frame rate between 0 and 1000")
    inp = open_input(inputs)
    if inp.frames < 2:
        raise InputError(f"{inp.label}: {inp.frames} frame(s); interpolation needs at least 2")
    if inp.fps is None:
        notice(f"{inp.label}: frames carry no frame rate; taking 25 fps")
    fps_in = Fraction(inp.fps or 25.0).limit_denominator(1001)
    if fps is not None:
        fps_out = Fraction(fps).limit_denominator(1001)
        step, tag = fps_in / fps_out, f"{fps:g}fps"
    else:
        factor = factor or 2
        fps_out = fps_in if slowmo else fps_in * factor
        step, tag = Fraction(1, factor), f"x{factor}"
    if lm.config.head != "flow" and step.denominator & (step.denominator - 1):
        raise InputError(
            f"{model}: a pixel-head interpolator predicts midpoints only, so it cannot make "
            f"{float(fps_out):g} fps from {float(fps_in):g}; use --factor, or a model trained "
            "with --task interpolate --head flow"
        )
    src = Path(inp.label)
    out = out or src.with_name(
        f"{src.stem}_{tag}{src.suffix if inp.source and src.is_file() else ''}"
    )
    check_output(out, overwrite=overwrite)
    total = (inp.frames - 1) // step + 1
    progress = Progress(
        TextColumn("[bold]interpolate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )
    with FrameWriter(out, fps=fps_out) as writer, progress:
        task = progress.add_task("frames", total=int(total))
        sink = BackgroundSink(writer.write)  # encoding overlaps the model's next batch
        try:
            for frame in retime_stream(lm, prefetch(inp.iter_frames()), step=step):
                sink.put(frame)
                progress.advance(task)
        finally:
            sink.close()
    console.print(
        f"{inp.frames} -> {writer.frames_written} frames at {float(fps_out):.4g} fps -> {out}",
        highlight=False,
    )


def _two_images(lm, inputs: list[Path], out: Path | None, times: str | None, overwrite: bool):
    try:
        ts = [float(t) for t in (times or "0.5").split(",")]
    except ValueError:
        raise InputError(f"--times {times}: expected numbers like 0.25,0.5,0.75") from None
    if not all(0 < t < 1 for t in ts):
        raise InputError(f"--times {times}: every time must lie strictly between 0 and 1")
    if lm.config.head != "flow":
        dyadic_depth(ts)  # a pixel head reaches k/2^n only: say so before any work
    inp = open_input(inputs)
    a, b = to_tensor(list(inp.iter_frames()))  # each (3, H, W)
    n = len(ts)
    mids = interpolate_times(lm, a.expand(n, -1, -1, -1), b.expand(n, -1, -1, -1), ts)
    chosen = list(to_uint8(mids))  # (n, H, W, 3) in the order asked for
    out = out or (Path("middle.png") if len(ts) == 1 else Path("interpolated"))
    check_output(out, overwrite=overwrite)
    if len(ts) == 1 and out.suffix.lower() == ".png":
        write_image(out, chosen[0])
    else:
        with FrameWriter(out, fps=25.0, prefix="t_") as writer:
            for frame in chosen:
                writer.write(frame)
    console.print(f"{len(ts)} frame(s) at t = {', '.join(map(str, ts))} -> {out}", highlight=False)

"""`vidpred interpolate --factor 2` on a 256x256 clip vs the model's bare forward on the same
frames, in one run. Goal (issue 5): >= 0.8x, decode and encode overlapped with compute.

    python bench/infer.py [--frames 96] [--model unet-s] [--threads 2]

Both sides count output frames per second. The model has random weights (speed does not depend
on them). Saves JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from typer.testing import CliRunner

from vidpred.checkpoint import atomic_save, make_payload
from vidpred.cli import app
from vidpred.config import RunConfig
from vidpred.inference import PIXELS_PER_BATCH, interpolate_midpoints, load_model, to_tensor
from vidpred.io.sources import open_source
from vidpred.io.video import write_frames
from vidpred.models import build_model, model_config_for

ROOT = Path(__file__).resolve().parent.parent


def make_clip(path: Path, frames: int) -> None:
    """256x256 frames cut from the shipped Big Buck Bunny excerpt (looped as needed)."""
    src = open_source(ROOT / "sample_videos/bigbuckbunny_excerpt.mp4")
    pool = list(src.iter_frames(size=(455, 256)))
    write_frames(path, (pool[i % len(pool)][:, 100:356] for i in range(frames)), fps=25)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--model", default="unet-s")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=ROOT / "bench/results/infer.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        make_clip(clip, args.frames)
        cfg = model_config_for(args.model, task="interpolate")
        payload = make_payload(
            "model",
            model_config=cfg.to_dict(),
            model=build_model(cfg).state_dict(),
            run_config=RunConfig().to_dict(),
            step=0,
        )
        atomic_save(payload, tmp / "model.pt")

        t0 = time.perf_counter()
        result = CliRunner().invoke(
            app,
            [
                "interpolate",
                str(tmp / "model.pt"),
                str(clip),
                "--factor",
                "2",
                "--out",
                str(tmp / "out.mp4"),
                "--device",
                "cpu",
            ],
        )
        t_cli = time.perf_counter() - t0
        assert result.exit_code == 0, result.output
        n_out = open_source(tmp / "out.mp4").info.frames

        lm = load_model(tmp / "model.pt", device=torch.device("cpu"))
        x = to_tensor(list(open_source(clip).iter_frames()))  # (N, 3, 256, 256), decoded before
        pairs = max(1, PIXELS_PER_BATCH // (256 * 256 * 2))  # as interpolate_stream batches
        t0 = time.perf_counter()
        for s in range(0, x.shape[0] - 1, pairs):
            e = min(s + pairs, x.shape[0] - 1)
            interpolate_midpoints(lm, x[s:e], x[s + 1 : e + 1], 1)
        t_bare = time.perf_counter() - t0
    out = {
        "settings": {
            "frames_in": args.frames,
            "size": [256, 256],
            "model": args.model,
            "threads": args.threads,
        },
        "frames_out": n_out,
        "cli_frames_per_s": n_out / t_cli,
        "bare_forward_frames_per_s": n_out / t_bare,
        "cli_vs_bare": t_bare / t_cli,
    }
    print(
        f"vidpred interpolate --factor 2 vs bare forward: {out['cli_vs_bare']:.2f}x "
        f"({n_out} frames out)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

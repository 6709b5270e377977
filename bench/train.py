"""Training throughput: `vidpred train` (data loading, logging, checkpoints and all) vs a bare
PyTorch loop with the same model, batch and random tensors; corr-l1 vs l1 (DIS flow); the flow
head vs the pixel head; and the default training data (half synthetic windows) vs clips alone.

    python bench/train.py [--steps 60] [--batch-size 16] [--size 64] [--threads 2]

Steady state only: steps/s is measured between the 10th and the last step in every case.
Goals: vidpred >= 0.9x the bare loop, corr-l1 >= 0.9x l1 (issue 4); a flow-head step costs at
most 1.3x a pixel-head one (issue 11). Saves JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch

from vidpred.config import RunConfig
from vidpred.models import build_model, model_config_for
from vidpred.train.trainer import train

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 10


def bare_loop(steps: int, batch: int, size: int, context: int) -> float:
    model = build_model(model_config_for("unet-s", context=context))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, context, 3, size, size)
    y = torch.rand(batch, 3, size, size)
    for i in range(steps):
        if i == WARMUP:
            t0 = time.perf_counter()
        loss = (model(x) - y).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (steps - WARMUP) / (time.perf_counter() - t0)


def vidpred_train(
    steps: int,
    batch: int,
    size: int,
    context: int,
    loss: str,
    out: Path,
    *,
    head: str = "pixels",
    synthetic: float = 0.0,
) -> float:
    cfg = RunConfig().override(
        "data",
        paths=(str(ROOT / "sample_videos"),),
        size=(size, size),
        context=context,
        synthetic=synthetic,
    )
    cfg = cfg.override("loss", spec=loss, flow="dis").override("model", head=head)
    cfg = cfg.override(
        "train",
        steps=steps,
        batch_size=batch,
        out=str(out),
        device="cpu",
        val_every=0,
        sample_every=0,
        checkpoint_every=50,
    )
    marks: dict[int, float] = {}
    train(cfg, on_step=lambda step, logs: marks.setdefault(step, time.perf_counter()))
    return (steps - WARMUP) / (marks[steps] - marks[WARMUP])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--context", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=ROOT / "bench/results/train.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    common = (args.steps, args.batch_size, args.size, args.context)
    with tempfile.TemporaryDirectory() as tmp:
        vidpred_train(20, *common[1:], "l1", Path(tmp) / "warm")  # fill the frame cache
        bare = bare_loop(*common)
        l1 = vidpred_train(*common, "l1", Path(tmp) / "l1")
        corr = vidpred_train(*common, "corr-l1", Path(tmp) / "corr")
        flow = vidpred_train(*common, "corr-l1", Path(tmp) / "flow", head="flow")
        mixed = vidpred_train(*common, "corr-l1", Path(tmp) / "mix", head="flow", synthetic=0.5)
    result = {
        "settings": vars(args) | {"json": str(args.json)},
        "bare_steps_per_s": bare,
        "vidpred_l1_steps_per_s": l1,
        "vidpred_corr_l1_steps_per_s": corr,
        "vidpred_vs_bare": l1 / bare,
        "corr_l1_vs_l1": corr / l1,
        "vidpred_flow_head_steps_per_s": flow,
        "vidpred_flow_head_synthetic_steps_per_s": mixed,
        "flow_head_step_cost_vs_pixel_head": corr / flow,
        "synthetic_half_step_cost_vs_clips_alone": flow / mixed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(f"vidpred train (l1) vs bare loop: {result['vidpred_vs_bare']:.2f}x")
    print(f"corr-l1 (dis) vs l1:             {result['corr_l1_vs_l1']:.2f}x")
    cost = result["flow_head_step_cost_vs_pixel_head"]
    print(f"flow head step cost vs pixel head (corr-l1): {cost:.2f}x")
    cost = result["synthetic_half_step_cost_vs_clips_alone"]
    print(f"half synthetic windows vs clips alone: {cost:.2f}x the step cost")
    print(f"peak RSS {result['peak_rss_mib']:.0f} MiB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

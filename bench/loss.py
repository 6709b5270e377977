"""What a correspondence-wise loss costs (issue 3).

Times, on one batch of 16 frames at 128x128 and 256x256:
- forward + backward of the loss alone: `corr-l1` with `dis` and with `raft-small` (random
  weights: RAFT's cost does not depend on them) against `l1`;
- a full training step of the default U-Net (`unet-s`, 3 context frames, Adam) with `corr-l1`
  (`dis`) against the same step with `l1`; the issue asks for under 1.1x.

The frames are a synthetic texture drifting a few pixels per frame, so DIS has real motion to
find. Prints a table and writes bench/results/loss.json.

    python bench/loss.py [--sizes 128,256] [--batch 16] [--repeats 3] [--threads 0]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vidpred.flow.backends import DISFlow, RAFTFlow
from vidpred.io.atomic import atomic_path
from vidpred.losses import build_loss
from vidpred.models import build_model, model_config_for

RESULTS = Path(__file__).parent / "results" / "loss.json"


def drifting_texture(frames: int, batch: int, size: int, *, seed: int = 0) -> torch.Tensor:
    """(B, T, 3, H, W) in [0, 1]: plane-wave textures, each clip drifting by its own velocity."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    clips = np.empty((batch, frames, 3, size, size), np.float32)
    for b in range(batch):
        freq = rng.uniform(0.05, 0.4, (3, 12, 2)) * rng.choice([-1, 1], (3, 12, 2))
        phase = rng.uniform(0, 2 * math.pi, (3, 12))
        vx, vy = rng.uniform(-3, 3, 2)
        for t in range(frames):
            arg = (
                freq[..., 0, None, None] * (x - vx * t)
                + freq[..., 1, None, None] * (y - vy * t)
                + phase[..., None, None]
            )  # (3, 12, H, W)
            clips[b, t] = 0.5 + np.sin(arg).sum(1) / (2.5 * math.sqrt(12))
    return torch.from_numpy(clips.clip(0, 1))


def interleaved(fns: dict[str, Callable[[], None]], *, repeats: int, device) -> dict[str, float]:
    """Median milliseconds of each function, run round-robin after one warm-up each, so a load
    change on a shared machine hits every contender alike and the ratios stay meaningful."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def loss_step(loss_fn, pred: torch.Tensor, target: torch.Tensor):
    def run():
        p = pred.detach().requires_grad_(True)
        loss, _ = loss_fn(p, target)
        loss.backward()

    return run


def train_step(model, optimizer, loss_fn, context: torch.Tensor, target: torch.Tensor):
    def run():
        pred = model(context)  # (B, C, H, W)
        loss, _ = loss_fn(pred, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-raft", action="store_true", help="skip raft-small")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch and DIS threads (0: their defaults)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    dis = DISFlow(num_threads=args.threads or None)
    results = {
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "dis_preset": dis.preset,
        "dis_threads": dis.num_threads,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "batch": args.batch,
        "model": "unet-s (the default preset), context 3, Adam",
        "sizes": {},
    }
    for size in (int(s) for s in args.sizes.split(",")):
        clips = drifting_texture(4, args.batch, size).to(device)  # (B, 4, 3, H, W)
        context, target = clips[:, :3], clips[:, 3]
        pred = clips[:, 2] * 0.9 + 0.05  # the last context frame, a little off: a plausible guess
        l1 = build_loss("l1").to(device)
        corr_dis = build_loss("corr-l1", flow=dis).to(device)
        losses = {"l1": l1, "corr_l1_dis": corr_dis}
        if not args.no_raft:
            raft = RAFTFlow(variant="small", pretrained=False).to(device)
            losses["corr_l1_raft_small"] = build_loss("corr-l1", flow=raft).to(device)
        row = {
            f"{name}_ms": ms
            for name, ms in interleaved(
                {name: loss_step(fn, pred, target) for name, fn in losses.items()},
                repeats=args.repeats,
                device=device,
            ).items()
        }
        flow_only = torch.no_grad()(functools.partial(dis.estimate_flow, pred, target))
        row["dis_ms_per_pair"] = (
            interleaved({"dis": flow_only}, repeats=args.repeats, device=device)["dis"] / args.batch
        )
        torch.manual_seed(0)
        model = build_model(model_config_for("unet-s", context=3)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        steps = interleaved(
            {
                name: train_step(model, optimizer, losses[name], context, target)
                for name in ("l1", "corr_l1_dis")
            },
            repeats=args.repeats,
            device=device,
        )
        row.update({f"train_step_{name}_ms": ms for name, ms in steps.items()})
        row["corr_l1_dis_over_l1"] = row["corr_l1_dis_ms"] / row["l1_ms"]
        if "corr_l1_raft_small_ms" in row:
            row["corr_l1_raft_small_over_l1"] = row["corr_l1_raft_small_ms"] / row["l1_ms"]
        row["train_step_corr_l1_dis_over_l1"] = (
            row["train_step_corr_l1_dis_ms"] / row["train_step_l1_ms"]
        )
        results["sizes"][f"{size}x{size}"] = {k: round(v, 3) for k, v in row.items()}
        print(f"{size}x{size} (batch {args.batch}, {results['device']}):")
        for key, value in row.items():
            print(f"  {key:34s} {value:10.3f}")
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

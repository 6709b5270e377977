"""Where and how tensors run: device choice, mixed precision, torch.distributed setup, and
Ctrl-C during the training loop."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vidpred.errors import VidpredError

PRECISIONS = ("fp32", "bf16", "fp16")


def resolve_device(name: str, *, local_rank: int = 0) -> torch.device:
    """`auto` picks cuda, then mps, then cpu. Asking for a device that is absent is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise VidpredError("--device cuda: no CUDA device is available here (try --device cpu)")
        return torch.device("cuda", local_rank)
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise VidpredError("--device mps: MPS is not available here (try --device cpu)")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise VidpredError(f"--device {name}: unknown device; use auto, cpu, cuda or mps")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for `precision` (fp32: none)."""
    if precision not in PRECISIONS:
        raise VidpredError(f"--precision {precision}: unknown; use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise VidpredError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass(frozen=True)
class Dist:
    """This process's place in a torch.distributed job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device_name: str) -> Dist:
    """Join the process group torchrun describes in the environment (NCCL on GPUs, Gloo on CPU);
    a plain single process when WORLD_SIZE is unset or 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    return Dist(rank=rank, world=world, local_rank=local_rank)


def shutdown_distributed(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


class StopOnSigint:
    """Turns the first Ctrl-C into a request the loop honours after the current step (so the
    optimiser state is never torn); a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

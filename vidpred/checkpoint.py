"""Checkpoints are data, never code: tensors and plain containers, loaded with
`torch.load(..., weights_only=True)`, written atomically so that a process killed at any moment
leaves the previous file intact.

Two kinds share one layout and a `kind` field:
- `"checkpoint"` (run/checkpoints/last.pt, best.pt): everything to resume training bit for bit.
- `"model"` (run/model.pt): what `predict`, `interpolate` and `eval` take: weights, the model
  config and the data settings needed to preprocess input, nothing else.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vidpred import __version__
from vidpred.errors import CheckpointError
from vidpred.io.atomic import atomic_path

FORMAT = 1  # bump when the layout changes incompatibly


def atomic_save(obj: dict[str, Any], path: Path) -> None:
    """torch.save through a temporary file, so a killed process leaves the old file intact.
    A failed write is an OSError naming `path`: torch reports a full disk as a RuntimeError
    ("unexpected pos 576 vs 534"), which says neither."""
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:
            if shutil.disk_usage(Path(path).parent).free < _tensor_bytes(obj):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from e
            first = (str(e).strip().splitlines() or ["RuntimeError"])[0][:160]
            raise OSError(errno.EIO, f"could not write the checkpoint ({first})", str(path)) from e


def _tensor_bytes(obj: Any) -> int:
    if torch.is_tensor(obj):
        return obj.element_size() * obj.nelement()
    if isinstance(obj, Mapping):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def non_finite_tensors(state: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors in a state dict that hold a NaN or an infinity."""
    return [
        name
        for name, t in state.items()
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def make_payload(kind: str, **content: Any) -> dict[str, Any]:
    return {"vidpred": {"kind": kind, "format": FORMAT, "version": __version__}, **content}


def load_payload(path: Path, *, kind: str, map_location: str | torch.device = "cpu") -> dict:
    """Load and check a vidpred file of `kind`; every failure is one CheckpointError line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: not a loadable vidpred file (truncated, or not a checkpoint: {first[:120]})"
        ) from None
    header = payload.get("vidpred") if isinstance(payload, dict) else None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a vidpred {kind} (no vidpred header)")
    if header.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: written by vidpred {header.get('version')} in format {header.get('format')}; "
            f"this vidpred {__version__} reads format {FORMAT}"
        )
    if header.get("kind") != kind:
        hint = " (use run/model.pt)" if kind == "model" else ""
        raise CheckpointError(f"{path}: is a vidpred {header.get('kind')}, not a {kind}{hint}")
    return payload


def load_weights(model: torch.nn.Module, state: Mapping[str, Any]) -> None:
    """`model.load_state_dict(state)`; weights that do not fit raise a ValueError naming the first
    mismatch, not torch's report of every one."""
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        details = [line.strip() for line in str(e).splitlines()[1:] if line.strip()]
        # "size mismatch for stem.weight: copying a param with shape ...": the part before ":"
        detail = (details[0] if details else str(e)).split(":")[0][:80]
        raise ValueError(
            f"its weights do not fit the network its config describes ({detail}); was it written "
            "by another version of vidpred?"
        ) from None


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """A short hash of a state dict (every parameter and buffer): equal digests, equal weights."""
    h = hashlib.blake2b(digest_size=8)
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()

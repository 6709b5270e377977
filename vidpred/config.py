"""Run configuration: one frozen dataclass per concern, saved as TOML in every run folder and as a
plain dict in every checkpoint.

Precedence (lowest to highest): the defaults here, `--config FILE.toml`, the saved config of a
run being resumed, flags given on the command line.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from vidpred.errors import InputError
from vidpred.io.atomic import atomic_path


@dataclass(frozen=True)
class DataConfig:
    paths: tuple[str, ...] = ()
    context: int = 3  # the paper's video experiment: 3 context frames -> 1 predicted frame
    horizon: int = 1  # frames predicted (autoregressively) and scored per window
    stride: int = 1  # take every stride-th frame of the source
    size: tuple[int, int] = (64, 64)  # (H, W) crop, multiples of 8, at least 16
    val_fraction: float = 0.2  # of the files, or of each file's frames (val_split)
    # auto: by file when that leaves >= 2 validation files, else the end of every file (a time
    # split); config.toml records which was used.
    val_split: str = "auto"  # auto | files | time
    # Share of training windows drawn from vidpred.data.synthetic (photographs in random motion):
    # without them a model learns its clips' motion, not motion (bench/quality.py measures it).
    synthetic: float = 0.5
    cache_dir: str = ""  # "" = the default cache ($VIDPRED_CACHE or ~/.cache/vidpred/frames)


@dataclass(frozen=True)
class ModelChoice:
    name: str = "unet-s"  # a preset of vidpred.models
    residual: bool = True  # predict a correction to the last context frame
    head: str = "flow"  # flow | pixels: see vidpred.models.heads (flow: bench/quality.py)


@dataclass(frozen=True)
class LossConfig:
    # the loss-spec language of vidpred.losses; pixel-wise l1 + corr-wise l1 won bench/quality.py
    spec: str = "l1+corr-l1"
    flow: str = "auto"  # flow backend for corr- losses; "auto" is resolved and recorded


@dataclass(frozen=True)
class TrainConfig:
    task: str = "predict"  # or "interpolate": two frames -> the middle one
    steps: int = 1000  # total optimiser steps (the target of a resumed run, not an increment)
    epochs: int = 0  # > 0: train this many passes over the data instead of `steps`
    batch_size: int = 16
    lr: float = 1e-3  # Adam's peak lr (the paper: 1e-4, constant; 1e-3 won in bench/quality.py)
    lr_schedule: str = "cosine"  # cosine (linear warmup, then cosine decay to 0) | constant
    warmup: float = 0.05  # fraction of the steps spent warming up (cosine schedule)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "fp32"  # fp32 | bf16 | fp16
    workers: int = 0  # DataLoader worker processes
    val_every: int = 200  # steps between validations (0: only at the end)
    sample_every: int = 200  # steps between sample grids (0: only at the end)
    checkpoint_every: int = 100  # steps between checkpoints (and always at the end)
    val_batches: int = 8  # batches scored per validation
    out: str = "runs/run"


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelChoice = field(default_factory=ModelChoice)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {
            f.name: {k: _plain(v) for k, v in dataclasses.asdict(getattr(self, f.name)).items()}
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, origin: str = "config") -> RunConfig:
        """Build from a (possibly partial) dict; unknown sections or keys are an InputError."""
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(sections)
        if unknown:
            raise InputError(
                f"{origin}: unknown section(s) {sorted(unknown)}; known: {sorted(sections)}"
            )
        base = cls()
        return cls(
            **{
                name: _section(getattr(base, name), d.get(name, {}), origin=f"{origin} [{name}]")
                for name in sections
            }
        )

    def override(self, section: str, **values: Any) -> RunConfig:
        """A copy with `values` set in `section`, skipping values that are None (flag not given)."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        merged = {**dataclasses.asdict(getattr(self, section)), **given}
        return dataclasses.replace(
            self, **{section: _section(type(getattr(self, section))(), merged, origin=section)}
        )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _section(default: Any, values: dict[str, Any], *, origin: str) -> Any:
    hints = typing.get_type_hints(type(default))
    known = {f.name for f in dataclasses.fields(default)}
    if unknown := set(values) - known:
        raise InputError(f"{origin}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    kwargs = {}
    for key, value in values.items():
        kwargs[key] = _coerce(value, hints[key], origin=f"{origin} {key}")
    return dataclasses.replace(default, **kwargs)


def _coerce(value: Any, hint: Any, *, origin: str) -> Any:
    """Check a TOML value against the field's type; tuples arrive as lists."""
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple) or not all(isinstance(v, item) for v in value):
            raise InputError(f"{origin}: expected a list of {item.__name__}, got {value!r}")
        return tuple(value)
    if isinstance(hint, types.UnionType):
        hint = typing.get_args(hint)[0]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise InputError(f"{origin}: expected {hint.__name__}, got {value!r}")
    return value


def _positive(v) -> bool:
    return v >= 1


def _non_negative(v) -> bool:
    return v >= 0


# (section, key, flag, test, what the value must be). Types are checked on the way in
# (`_coerce`); these are the ranges, checked once on the merged config whatever set the value
# (a flag, --config, a resumed run's config.toml, or Python), so `lr = -5.0` in a TOML file
# fails exactly like `--lr -5` (issue 12).
_RANGES = [
    ("data", "context", "--context", _positive, ">= 1"),
    ("data", "horizon", "--horizon", _positive, ">= 1"),
    ("data", "stride", "--stride", _positive, ">= 1"),
    ("data", "size", "--size", lambda v: len(v) == 2 and min(v) >= 1, "two sizes >= 1 (H, W)"),
    ("data", "val_fraction", None, lambda v: 0 <= v < 1, "in [0, 1)"),
    ("data", "synthetic", "--synthetic", lambda v: 0 <= v <= 0.95, "a share from 0 to 0.95"),
    ("train", "steps", "--steps", _positive, ">= 1"),
    ("train", "epochs", "--epochs", _non_negative, ">= 0"),
    ("train", "batch_size", "--batch-size", _positive, ">= 1"),
    ("train", "lr", "--lr", lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
    ("train", "warmup", None, lambda v: 0 <= v < 1, "in [0, 1)"),
    ("train", "workers", "--workers", _non_negative, ">= 0"),
    ("train", "val_every", "--val-every", _non_negative, ">= 0"),
    ("train", "sample_every", "--sample-every", _non_negative, ">= 0"),
    ("train", "checkpoint_every", "--checkpoint-every", _positive, ">= 1"),
    ("train", "val_batches", None, _positive, ">= 1"),
]


def check_ranges(cfg: RunConfig) -> None:
    """Raise InputError, one line, for the first value outside its range."""
    for section, key, flag, ok, must in _RANGES:
        value = getattr(getattr(cfg, section), key)
        if not ok(value):
            shown = "x".join(map(str, value)) if isinstance(value, tuple) else value
            where = f"{flag} ([{section}] {key})" if flag else f"[{section}] {key}"
            raise InputError(f"{where} = {shown}: must be {must}")


def load_config(path: Path) -> RunConfig:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid TOML ({e})") from None
    return RunConfig.from_dict(data, origin=str(path))


def save_config(cfg: RunConfig, path: Path) -> None:
    """Write `cfg` as TOML, atomically (a killed process leaves the old file or the new one)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(tomli_w.dumps(cfg.to_dict()))

"""Predictor networks: the U-Net family, its presets and rollout (the stride padder, shared with
RAFT, lives in `vidpred.flow.padding` and is re-exported here).

Presets are small factory functions returning a ``ModelConfig`` (what a checkpoint stores);
``build_model`` turns a config into a network. All presets share ``stride == 8`` so one padder
serves them all.

=========  =====  ============  ======  =========================================
preset     width  mults         blocks  params (predict, K=2, C=3, residual)
=========  =====  ============  ======  =========================================
unet-s     16     1, 2, 4, 8    1       1.68M  laptop CPU at 64x64
unet-m     32     1, 2, 4, 8    2       9.84M
unet-l     64     1, 2, 4, 8    2       39.3M
=========  =====  ============  ======  =========================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from vidpred.flow.padding import InputPadder
from vidpred.models.rollout import rollout
from vidpred.models.unet import TASKS, ModelConfig, Task, UNetPredictor

__all__ = [
    "MODEL_PRESETS",
    "TASKS",
    "InputPadder",
    "ModelConfig",
    "Task",
    "UNetPredictor",
    "build_model",
    "model_config_for",
    "rollout",
    "unet_l",
    "unet_m",
    "unet_s",
]


def _preset(
    name: str,
    *,
    base_width: int,
    channel_mults: tuple[int, ...],
    blocks_per_level: int,
    task: Task,
    context: int,
    channels: int,
    residual: bool,
    overrides: dict[str, Any],
) -> ModelConfig:
    cfg = ModelConfig(
        task=task,
        context=context,
        channels=channels,
        base_width=base_width,
        channel_mults=channel_mults,
        blocks_per_level=blocks_per_level,
        residual=residual,
        preset=name,
    )
    # Overrides (e.g. a tiny base_width in tests) go through replace() so they are validated
    # like any other config; unknown names fail like unknown checkpoint keys do.
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(ModelConfig)})
    if unknown:
        raise ValueError(f"unknown model config field(s) {unknown} for preset {name!r}")
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def unet_s(
    *,
    task: Task = "predict",
    context: int = 2,
    channels: int = 3,
    residual: bool = True,
    **overrides: Any,
) -> ModelConfig:
    """~1.7M params; a train step (batch 16, 64x64, Adam) takes ~0.2 s on 2 CPU threads."""
    return _preset(
        "unet-s", base_width=16, channel_mults=(1, 2, 4, 8), blocks_per_level=1,
        task=task, context=context, channels=channels, residual=residual, overrides=overrides,
    )  # fmt: skip


def unet_m(
    *,
    task: Task = "predict",
    context: int = 2,
    channels: int = 3,
    residual: bool = True,
    **overrides: Any,
) -> ModelConfig:
    """~10M params; a GPU model, or a patient CPU run."""
    return _preset(
        "unet-m", base_width=32, channel_mults=(1, 2, 4, 8), blocks_per_level=2,
        task=task, context=context, channels=channels, residual=residual, overrides=overrides,
    )  # fmt: skip


def unet_l(
    *,
    task: Task = "predict",
    context: int = 2,
    channels: int = 3,
    residual: bool = True,
    **overrides: Any,
) -> ModelConfig:
    """~39M params; GPU only."""
    return _preset(
        "unet-l", base_width=64, channel_mults=(1, 2, 4, 8), blocks_per_level=2,
        task=task, context=context, channels=channels, residual=residual, overrides=overrides,
    )  # fmt: skip


MODEL_PRESETS: dict[str, Callable[..., ModelConfig]] = {
    "unet-s": unet_s,
    "unet-m": unet_m,
    "unet-l": unet_l,
}


def model_config_for(
    preset: str,
    *,
    task: Task = "predict",
    context: int = 2,
    channels: int = 3,
    residual: bool = True,
    **overrides: Any,
) -> ModelConfig:
    """The config of a named preset; ``overrides`` replace any other ``ModelConfig`` field."""
    try:
        factory = MODEL_PRESETS[preset]
    except KeyError:
        raise ValueError(
            f"unknown model preset {preset!r}; choose one of {sorted(MODEL_PRESETS)}"
        ) from None
    return factory(task=task, context=context, channels=channels, residual=residual, **overrides)


def build_model(cfg: ModelConfig) -> UNetPredictor:
    """A freshly initialised network for ``cfg`` (on the CPU, float32, train mode)."""
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"build_model takes a ModelConfig, got {type(cfg).__name__}")
    return UNetPredictor(config=cfg)

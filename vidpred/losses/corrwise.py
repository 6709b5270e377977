"""Pixel-wise and correspondence-wise losses: plain functions, and thin modules that call them.

The correspondence-wise loss (Geng, Hamilton, Owens, CVPR 2022) aligns the two images with
optical flow before comparing them, following the authors' released `CorrWise`
(dangeng/CorrWiseLosses, code/corrwise/corrwise.py):
- for a reference image and the other image, the flow is estimated *from the reference to the
  other* (`flow_method(im2, im1)` in `align_and_compare`), detached (`detach=True`);
- it is scaled by `1 - eps`, eps = 0.1 (`epsilon`), so the loss still pulls the prediction a
  little towards the target's geometry; eps = 1 gives the base loss back;
- the other image is warped onto the reference (bilinear, reflection padding, align_corners) and
  the base loss is `base(warped_other, reference)`;
- this is done in both directions, prediction onto target and target onto prediction, and the
  two losses are *summed* (the released version; an earlier version averaged them).

Two faces, one computation:
- `corrwise_loss(...)` / `pixelwise_loss(...)` return `(loss, logs)`, like RAFT's `sequence_loss`;
- `CorrWiseLoss()` / `PixelWiseLoss()` are drop-in modules for anyone's training loop:
  `crit(prediction, target)` is the scalar loss, `crit.loss_and_logs(...)` adds the logs.
  `vidpred.losses.objective.Objective` wraps one for vidpred's trainer.

Reduction: a base map `(N, 1, H, W)` is averaged over all N*H*W pixels (over the visible ones
when the occlusion mask is on), so a pixel-wise `l1` equals `F.l1_loss` and a corr-wise loss is
the sum of one such mean per direction. `(B, T, C, H, W)` input is folded to `(B*T, C, H, W)`.

Logs are 0-dim tensors, detached and left on the device: the trainer calls this every step and
`.item()`s them when it writes a log row, so the loss adds no host sync (DIS flow aside, which
runs on the CPU by nature).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vidpred.flow.backends import FlowEstimator, build_flow
from vidpred.flow.warping import PADDING_MODES, fb_consistency_mask, warp
from vidpred.losses.spec import LossSpec, resolve_base

DIRECTIONS = ("both", "prediction-onto-target", "target-onto-prediction")

# A base loss: `(x, y) -> map` or `(map, {term: map})`, maps `(N, 1 or C, H, W)`; a scalar works
# too (`nn.L1Loss()`), except with the occlusion mask, which needs pixels to leave out.
BaseFn = Callable[[torch.Tensor, torch.Tensor], "torch.Tensor | tuple[torch.Tensor, dict]"]
FlowFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _fold_time(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
    if prediction.shape != target.shape or prediction.ndim not in (4, 5):
        raise ValueError(
            "prediction and target must be (B, C, H, W) or (B, T, C, H, W) of one shape, got "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    if not prediction.is_floating_point():
        raise ValueError(f"losses take float images in [0, 1], got dtype {prediction.dtype}")
    if prediction.ndim == 5:
        B, T, C, H, W = prediction.shape
        prediction = prediction.reshape(B * T, C, H, W)  # (B*T, C, H, W)
        target = target.reshape(B * T, C, H, W)  # (B*T, C, H, W)
    return prediction, target


def _base_maps(base: BaseFn, x: torch.Tensor, y: torch.Tensor):
    out = base(x, y)
    return out if isinstance(out, tuple) else (out, {})


def _reduce(maps: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return maps.mean()
    if maps.ndim != 4:
        raise ValueError(
            "occlusion_mask needs a base loss that returns a per-pixel map (N, C, H, W), got "
            f"shape {tuple(maps.shape)}"
        )
    # Mean over visible pixels, each of a map's C channels counted; the clamp keeps an
    # all-occluded batch at 0 instead of NaN.
    return (maps * mask).mean() / mask.mean().clamp_min(1 / mask.numel())


def pixelwise_loss(
    prediction: torch.Tensor, target: torch.Tensor, *, base: BaseFn
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`mean(base(prediction, target))` and logs `{"loss", <term>: unweighted value, ...}`."""
    prediction, target = _fold_time(prediction, target)
    total, terms = _base_maps(base, prediction, target)
    loss = total.mean()
    logs = {"loss": loss.detach(), **{k: v.mean().detach() for k, v in terms.items()}}
    return loss, logs


def corrwise_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    *,
    base: BaseFn,
    flow: FlowEstimator | FlowFn,
    eps: float = 0.1,
    directions: str = "both",
    occlusion_mask: bool = False,
    flow_mag_weight: float = 0.0,
    detach_flow: bool = True,
    padding_mode: str = "reflection",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Correspondence-wise `base` between `prediction` and `target` (see the module docstring):
    `(loss, logs)`. Images are `(B, C, H, W)` or `(B, T, C, H, W)` in [0, 1]; `flow(reference,
    other)` gives `(N, 2, H, W)` pixels from reference to other (a `FlowEstimator` or any such
    function).

    directions: "both" (the paper), "prediction-onto-target" or "target-onto-prediction".
    occlusion_mask: leave out pixels whose flow fails the forward-backward check (the authors'
        first version had this option; off by default as in their release).
    flow_mag_weight: add `weight * mean(|u| / (W-1) + |v| / (H-1))` of the estimated flow
        (their `reg_flow_mag` with `flow_reg_norm=1`); it needs `detach_flow=False` and a
        differentiable (RAFT) flow, since a detached flow gives it no gradient.
    Logs: "loss"; each base term's unweighted value summed over directions; "flow_mag", the mean
    flow length in pixels that the loss estimated (before the 1 - eps scaling); "visible", the
    fraction of pixels kept, with the occlusion mask; "flow_mag_penalty" when weighted.
    """
    if directions not in DIRECTIONS:
        raise ValueError(f"directions must be one of {DIRECTIONS}, got {directions!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if flow_mag_weight and detach_flow:
        raise ValueError("flow_mag_weight needs detach_flow=False: a detached flow has no gradient")
    prediction, target = _fold_time(prediction, target)
    N = prediction.shape[0]

    # (reference, other) per direction; the flow runs from the reference to the other image.
    pairs = []
    if directions in ("both", "prediction-onto-target"):
        pairs.append((target, prediction))
    if directions in ("both", "target-onto-prediction"):
        pairs.append((prediction, target))
    if occlusion_mask and len(pairs) == 1:
        pairs.append(pairs[0][::-1])  # the check needs the reverse flow too; it adds no loss
    n_losses = 1 if directions != "both" else 2

    # One batched flow call for every pair: RAFT batches natively, DIS spreads over threads.
    references = torch.cat([ref for ref, _ in pairs])  # (P*N, C, H, W)
    others = torch.cat([oth for _, oth in pairs])  # (P*N, C, H, W)
    if detach_flow:
        references, others = references.detach(), others.detach()
    if isinstance(flow, FlowEstimator):
        all_flows = flow.estimate_flow(references, others, track_grad=not detach_flow)
    else:
        all_flows = flow(references, others)
        all_flows = all_flows.detach() if detach_flow else all_flows
    flows = all_flows.split(N)  # P x (N, 2, H, W)

    loss = prediction.new_zeros(())
    logs: dict[str, torch.Tensor] = {}
    visible = []
    for i in range(n_losses):
        reference, other = pairs[i]
        mask = None
        if occlusion_mask:
            mask = fb_consistency_mask(flows[i], flows[1 - i])  # (N, 1, H, W)
            visible.append(mask.mean())
        warped = warp(other, flows[i] * (1 - eps), padding_mode=padding_mode)
        total, terms = _base_maps(base, warped, reference)
        loss = loss + _reduce(total, mask)
        for name, term in terms.items():
            value = _reduce(term, mask).detach()
            logs[name] = logs[name] + value if name in logs else value

    used = all_flows[: n_losses * N]  # (D*N, 2, H, W): the flows that warped, not the check's
    if flow_mag_weight:
        H, W = used.shape[-2:]
        size = used.new_tensor([max(W - 1, 1), max(H - 1, 1)]).view(1, 2, 1, 1)
        penalty = flow_mag_weight * (used / size).abs().sum(1).mean()
        loss = loss + penalty
        logs["flow_mag_penalty"] = penalty.detach()
    logs["flow_mag"] = torch.hypot(used[:, 0], used[:, 1]).detach().mean()
    if visible:
        logs["visible"] = torch.stack(visible).mean()
    return loss, {"loss": loss.detach(), **logs}


def _resolve_flow(flow: str | FlowEstimator | FlowFn) -> FlowEstimator | FlowFn:
    if isinstance(flow, str):
        return build_flow(flow)
    if not callable(flow):
        raise TypeError(
            f"flow must be a backend name, a FlowEstimator or a function, got {type(flow).__name__}"
        )
    return flow


class PixelWiseLoss(nn.Module):
    """`pixelwise_loss` as a drop-in module: `PixelWiseLoss(base="l1+0.5*vgg")(prediction,
    target)` is the scalar loss. `base` is a pixel-wise spec, a module or a map function."""

    flow_backend = None  # no flow involved; CorrWiseLoss names its backend here

    def __init__(self, *, base: str | LossSpec | nn.Module | BaseFn = "l1") -> None:
        super().__init__()
        self.base = resolve_base(base)

    def loss_and_logs(
        self, prediction: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return pixelwise_loss(prediction, target, base=self.base)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_and_logs(prediction, target)[0]


class CorrWiseLoss(nn.Module):
    """`corrwise_loss` as a drop-in module for any training loop:

        crit = CorrWiseLoss()                   # L1, DIS flow, eps 0.1, both directions
        loss = crit(prediction, target)         # a scalar tensor; backward() as usual
        loss, logs = crit.loss_and_logs(prediction, target)

    `base`: a pixel-wise spec ("l1", "mse", "l1+0.5*vgg"; pretrained networks come from the
    weights cache, see `vidpred weights`), a module, or a function `(x, y) -> map`.
    `flow`: a backend name ("dis", "raft-small", "raft-large", "auto") or a `FlowEstimator`, or
    any function `(reference, other) -> (N, 2, H, W)` pixels. The defaults are the authors'
    (eps 0.1, both directions summed, detached flow, reflection padding) except the flow: the
    paper used RAFT-large (`flow="raft-large"`, after `vidpred weights fetch raft-large`); DIS
    needs no weights and runs on the CPU. `flow_backend` names the flow (what `auto` chose).
    """

    def __init__(
        self,
        *,
        base: str | LossSpec | nn.Module | BaseFn = "l1",
        flow: str | FlowEstimator | FlowFn = "dis",
        eps: float = 0.1,
        directions: str = "both",
        occlusion_mask: bool = False,
        flow_mag_weight: float = 0.0,
        detach_flow: bool = True,
        padding_mode: str = "reflection",
    ) -> None:
        super().__init__()
        if not 0 <= eps <= 1:
            raise ValueError(f"eps must be in [0, 1], got {eps}")
        if directions not in DIRECTIONS:
            raise ValueError(f"directions must be one of {DIRECTIONS}, got {directions!r}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        flow = _resolve_flow(flow)
        if flow_mag_weight and (detach_flow or not getattr(flow, "differentiable", True)):
            raise ValueError(
                "flow_mag_weight needs detach_flow=False and a differentiable (raft) flow, "
                f"got detach_flow={detach_flow} with {_flow_name(flow)}"
            )
        self.base = resolve_base(base)
        self.flow = flow
        self.eps = eps
        self.directions = directions
        self.occlusion_mask = occlusion_mask
        self.flow_mag_weight = flow_mag_weight
        self.detach_flow = detach_flow
        self.padding_mode = padding_mode

    @property
    def flow_backend(self) -> str:
        return _flow_name(self.flow)

    def loss_and_logs(
        self, prediction: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return corrwise_loss(
            prediction,
            target,
            base=self.base,
            flow=self.flow,
            eps=self.eps,
            directions=self.directions,
            occlusion_mask=self.occlusion_mask,
            flow_mag_weight=self.flow_mag_weight,
            detach_flow=self.detach_flow,
            padding_mode=self.padding_mode,
        )

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_and_logs(prediction, target)[0]

    def extra_repr(self) -> str:
        return (
            f"eps={self.eps}, directions={self.directions!r}, "
            f"occlusion_mask={self.occlusion_mask}, flow_mag_weight={self.flow_mag_weight}"
        )


def _flow_name(flow: FlowEstimator | FlowFn) -> str:
    return getattr(flow, "name", None) or getattr(flow, "__name__", type(flow).__name__)

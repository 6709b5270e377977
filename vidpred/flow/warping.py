"""Geometry for correspondence-wise losses: pixel grids, backward warping by a flow, forward
splatting, and the forward-backward consistency check that finds occluded pixels.

Convention (see STYLE.md): flow is `(B, 2, H, W)` in pixels, x first, and points from the image
being *sampled into* (the reference) to the image being *sampled from*: `warp(other, flow)(p) =
other(p + flow(p))`. A flow from `reference` to `other` therefore warps `other` onto `reference`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PADDING_MODES = ("zeros", "border", "reflection")


def coords_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel coordinates `(2, H, W)`, x first: `grid[:, i, j] == (j, i)`."""
    ys = torch.arange(height, device=device, dtype=dtype)
    xs = torch.arange(width, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x, grid_y))  # (2, H, W)


def flow_to_sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """Turn a pixel flow `(B, 2, H, W)` into grid_sample's normalised absolute grid `(B, H, W, 2)`.

    Normalised for `align_corners=True`: pixel centre 0 maps to -1 and W - 1 to +1, so an integer
    flow samples exactly at pixel centres (the authors' `normalize_flow` does the same).
    """
    _, _, H, W = flow.shape
    absolute = coords_grid(H, W, device=flow.device, dtype=flow.dtype) + flow  # (B, 2, H, W)
    # max(.., 1) keeps a 1-pixel-wide image finite; any coordinate there is the only pixel.
    scale = flow.new_tensor([2.0 / max(W - 1, 1), 2.0 / max(H - 1, 1)]).view(1, 2, 1, 1)
    return (absolute * scale - 1.0).permute(0, 2, 3, 1)  # (B, H, W, 2)


def _check_image_and_flow(image: torch.Tensor, flow: torch.Tensor) -> None:
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    B, _, H, W = image.shape
    if flow.shape != (B, 2, H, W):
        raise ValueError(
            f"flow must be (B, 2, H, W) = {(B, 2, H, W)} for image {tuple(image.shape)}, "
            f"got {tuple(flow.shape)}"
        )


def warp(
    image: torch.Tensor, flow: torch.Tensor, *, padding_mode: str = "reflection"
) -> torch.Tensor:
    """Backward-warp `image` `(B, C, H, W)` by `flow` `(B, 2, H, W)`: `out(p) = image(p + flow(p))`.

    Bilinear, `align_corners=True`, reflection padding by default: what the authors' released
    CorrWise uses (dangeng/CorrWiseLosses, code/corrwise/flow_utils.py `warp`, and the default
    `padding_mode='reflection'` in code/options/train_options.py). Zero flow is the identity.
    Differentiable in both `image` and `flow`.
    """
    _check_image_and_flow(image, flow)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    grid = flow_to_sampling_grid(flow.to(image.dtype))
    return F.grid_sample(
        image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True
    )


def fb_consistency_mask(
    flow_ab: torch.Tensor, flow_ba: torch.Tensor, *, alpha1: float = 0.01, alpha2: float = 0.5
) -> torch.Tensor:
    """Pixels of image a whose flow to b comes back: `(B, 1, H, W)`, 1 = visible, 0 = occluded.

    A pixel p is kept when `|f_ab(p) + f_ba(p + f_ab(p))|^2 < alpha1 (|f_ab|^2 + |f_ba(..)|^2)
    + alpha2` (UnFlow, Meister et al. 2018, eq. 3). The authors' first CorrWise had an optional
    cycle-consistency occlusion mask with a fixed threshold in [-1, 1] coordinates; UnFlow's test
    is stated in pixels, so it behaves the same at every image size.
    """
    if flow_ab.shape != flow_ba.shape or flow_ab.ndim != 4 or flow_ab.shape[1] != 2:
        raise ValueError(
            "flows must both be (B, 2, H, W), got "
            f"{tuple(flow_ab.shape)} and {tuple(flow_ba.shape)}"
        )
    # Border padding: a flow that leaves the image reads the nearest edge flow, not a mirrored one.
    flow_ba_at_b = warp(flow_ba, flow_ab, padding_mode="border")  # (B, 2, H, W)
    round_trip = (flow_ab + flow_ba_at_b).square().sum(1, keepdim=True)  # (B, 1, H, W)
    magnitude = flow_ab.square().sum(1, keepdim=True) + flow_ba_at_b.square().sum(1, keepdim=True)
    return (round_trip < alpha1 * magnitude + alpha2).to(flow_ab.dtype)


def splat(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward-warp `image` `(B, C, H, W)` along `flow` `(B, 2, H, W)`: the content at p moves to
    `p + flow(p)`, shared bilinearly among the four pixels around that point and normalised
    (summation splatting, Niklaus & Liu 2020, without their softmax weights).

    Where `warp` reads the motion at the *destination* (so a moving object's texture slides but
    its outline stays put), `splat` moves the outline too. Returns `(frame, weight)`: the splatted
    frame `(B, C, H, W)` and the weight `(B, 1, H, W)` that landed on each pixel; where nothing
    landed (a hole, weight 0) the frame is 0. Computed in float32; differentiable in `image` only.
    """
    _check_image_and_flow(image, flow)
    B, C, H, W = image.shape
    target = coords_grid(H, W, device=flow.device) + flow.detach().float()  # (B, 2, H, W)
    corner = target.floor()
    source = torch.cat((image.float(), image.new_ones(B, 1, H, W, dtype=torch.float32)), 1)
    source = source.flatten(2)  # (B, C + 1, H*W): the weight rides along as a channel
    out = source.new_zeros(B, C + 1, H * W)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = corner[:, 0] + dx, corner[:, 1] + dy  # (B, H, W)
        share = (1 - (target[:, 0] - x).abs()) * (1 - (target[:, 1] - y).abs())
        inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
        index = (y.clamp(0, H - 1) * W + x.clamp(0, W - 1)).long().flatten(1)  # (B, H*W)
        out.scatter_add_(
            2, index[:, None].expand(B, C + 1, H * W), source * (share * inside).flatten(1)[:, None]
        )
    out = out.view(B, C + 1, H, W)
    weight = out[:, C:]
    frame = out[:, :C] / weight.clamp_min(1e-6) * (weight > 0)
    return frame.to(image.dtype), weight.to(image.dtype)

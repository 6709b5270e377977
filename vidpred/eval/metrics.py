"""Frame-quality metrics for evaluation: PSNR and SSIM (equal to scikit-image's) and LPIPS (the
`lpips` package), batched in torch so they run on the GPU and, chunked, fast on the CPU.

Convention: `pred` and `target` are float frames in [0, 1], either `(N, C, H, W)` -> one value per
frame `(N,)`, or `(B, T, C, H, W)` -> `(B, T)`. Values are float64 (they are reductions; float64
keeps the per-frame match with the references). These are evaluation metrics: no gradients.

- PSNR: per frame, `10 log10(1 / MSE)` with the MSE over all pixels and channels of that frame, as
  `skimage.metrics.peak_signal_noise_ratio(target, pred, data_range=1)`. A video's PSNR is the mean
  of its per-frame PSNRs, not the PSNR of the mean MSE. `psnr` gives `inf` for identical frames,
  as skimage; `capped_psnr` (what eval, training validation and `compute_metrics` report) caps
  each frame at `PSNR_CAP`, the PSNR of a one-grey-level error (8-bit video).
- SSIM: `skimage.metrics.structural_similarity(target, pred, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, channel_axis=-1)` (Wang et al. 2004's settings):
  11-tap Gaussian window, mean over the region `(win_size - 1) // 2 = 5` pixels away from the
  border, then over channels. Frames must be at least 11x11, as in skimage.
- LPIPS: `lpips.LPIPS(net="alex", version="0.1")` (or `net="vgg"`); inputs go to [-1, 1] here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from vidpred import weights
from vidpred.errors import SpecError
from vidpred.io.grids import as_rgb
from vidpred.models.frozen import FrozenNet, build_lpips

METRICS = ("psnr", "ssim", "lpips")

#: Per-frame PSNR is capped at the PSNR of a one-grey-level error everywhere, 20 log10(255)
#: ~= 48.13 dB (issue 10). Video is 8-bit: a prediction within 1/255 of the truth at every pixel
#: is as good as a perfect one once written out, so it scores the same. With no cap (or a high
#: one) a static crop where copy-last is bit-exact scored 100 dB and a model a fraction of a grey
#: level off ~57 dB: 24 such frames of 192 made a model look 5 dB worse than doing nothing.
PSNR_CAP = 20 * math.log10(255)
#: Which way is better, for tables, plots and "worst clips first".
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}

# Wang et al. 2004 / skimage: K1, K2 and the Gaussian window (sigma 1.5 truncated at 3.5 sigma).
_K1, _K2 = 0.01, 0.03
_SIGMA, _TRUNCATE = 1.5, 3.5
# Bytes of scratch per SSIM chunk. On the CPU a chunk that stays in the caches beats one big
# batch by ~3x (each filter tap is one pass over memory); on the GPU bigger is better.
_CPU_CHUNK_BYTES = 6 << 20
_GPU_CHUNK_BYTES = 512 << 20


def _flatten_frames(pred: Tensor, target: Tensor, name: str) -> tuple[Tensor, Tensor, tuple]:
    """Check the pair and return both as `(N, C, H, W)` plus the leading shape to restore."""
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        raise ValueError(f"{name} takes torch tensors, got {type(pred).__name__}")
    if pred.shape != target.shape:
        raise ValueError(
            f"{name}: pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    if pred.ndim not in (4, 5):
        raise ValueError(
            f"{name} takes (N, C, H, W) or (B, T, C, H, W) frames, got shape {tuple(pred.shape)}"
        )
    if not (pred.is_floating_point() and target.is_floating_point()):
        raise ValueError(
            f"{name} takes float frames in [0, 1], got {pred.dtype} and {target.dtype} "
            "(convert uint8 with .float() / 255)"
        )
    lead = tuple(pred.shape[:-3])
    C, H, W = pred.shape[-3:]
    return pred.reshape(-1, C, H, W), target.reshape(-1, C, H, W), lead  # (N, C, H, W)


def _compute_dtype(x: Tensor) -> torch.dtype:
    # float32 is accurate enough (see ssim); half precision is not, float64 stays float64.
    return torch.float64 if x.dtype == torch.float64 else torch.float32


@torch.no_grad()
def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Per-frame PSNR in dB of frames in [0, 1]: `(N, C, H, W)` -> `(N,)`, `(B, T, C, H, W)` ->
    `(B, T)`. Identical frames give `inf`, as skimage."""
    p, t, lead = _flatten_frames(pred, target, "psnr")
    N, C, H, W = p.shape
    dtype = _compute_dtype(p)
    # A few frames at a time, one fused norm per chunk: ~10x faster on the CPU than full-size
    # temporaries. The norm accumulates in float64 as skimage's MSE does (a float32 norm was
    # off by 1e-4 relative on near-identical video frames).
    per_chunk = N if p.device.type == "cuda" else _CPU_CHUNK_BYTES // (C * H * W * 4)
    chunk = max(1, per_chunk)
    sq_err = torch.empty(N, dtype=torch.float64, device=p.device)  # sum of squared errors
    for s in range(0, N, chunk):
        diff = p[s : s + chunk].to(dtype) - t[s : s + chunk].to(dtype)  # (n, C, H, W)
        sq_err[s : s + chunk] = torch.linalg.vector_norm(
            diff, dim=(1, 2, 3), dtype=torch.float64
        ).square()
    mse = sq_err / (C * H * W)
    return (10 * torch.log10(1.0 / mse)).reshape(lead)


def capped_psnr(pred: Tensor, target: Tensor) -> Tensor:
    """`psnr` with each frame capped at `PSNR_CAP` (48.13 dB): an error below one grey level
    everywhere scores as a perfect prediction. Same shapes as `psnr`."""
    return psnr(pred, target).clamp(max=PSNR_CAP)


def _gaussian_taps(sigma: float = _SIGMA, truncate: float = _TRUNCATE) -> list[float]:
    """scipy.ndimage's 1-D Gaussian (`_gaussian_kernel1d`): radius `int(truncate * sigma + 0.5)`."""
    radius = int(truncate * sigma + 0.5)
    phi = [math.exp(-0.5 * (x / sigma) ** 2) for x in range(-radius, radius + 1)]
    total = math.fsum(phi)
    return [v / total for v in phi]


def _filter_valid(maps: Tensor, taps: Sequence[float], rows: Tensor, out: Tensor) -> None:
    """Separable filter keeping only outputs whose window lies inside the image.

    skimage filters the whole image (scipy, mode='reflect') and then crops `radius` pixels on
    each side before averaging; the cropped outputs never touch the padding, so filtering
    without padding gives exactly the region it averages. Each tap is one fused in-place
    multiply-add over the chunk (conv2d with 1-channel 11x1 kernels is ~10x slower on the CPU).
    `maps` (..., H, W) -> `rows` (..., H - 2r, W) -> `out` (..., H - 2r, W - 2r).
    """
    k = len(taps)
    Ho, Wo = out.shape[-2:]
    torch.mul(maps[..., 0:Ho, :], taps[0], out=rows)
    for i in range(1, k):
        rows.add_(maps[..., i : i + Ho, :], alpha=taps[i])
    torch.mul(rows[..., 0:Wo], taps[0], out=out)
    for i in range(1, k):
        out.add_(rows[..., i : i + Wo], alpha=taps[i])


@torch.no_grad()
def ssim(pred: Tensor, target: Tensor) -> Tensor:
    """Per-frame SSIM, equal to skimage's Wang et al. settings (module docstring) to ~1e-7.

    `(N, C, H, W)` -> `(N,)`, `(B, T, C, H, W)` -> `(B, T)`; H and W must be at least 11.
    Computed in float32 (float64 if given float64) with two guards against cancellation in
    `E[x^2] - E[x]^2`: each frame's channel mean is subtracted first (variances do not change),
    and `x^2 + y^2` is filtered as one map since only `var x + var y` is used.
    """
    p, t, lead = _flatten_frames(pred, target, "ssim")
    N, C, H, W = p.shape
    taps = _gaussian_taps()
    k = len(taps)
    radius = (k - 1) // 2
    if min(H, W) < k:
        raise ValueError(
            f"ssim needs frames of at least {k}x{k} pixels (skimage's window), "
            f"got shape {tuple(pred.shape)}"
        )
    dtype = _compute_dtype(p)
    Ho, Wo = H - 2 * radius, W - 2 * radius
    c1, c2 = _K1**2, _K2**2  # data_range = 1

    # Scratch reused across chunks: 4 maps (x, y, x^2 + y^2, xy) at full, row-filtered and
    # filtered size, plus two temporaries.
    per_frame = 4 * C * (H * W + Ho * W + Ho * Wo) + 2 * C * Ho * Wo
    budget = _GPU_CHUNK_BYTES if p.device.type == "cuda" else _CPU_CHUNK_BYTES
    chunk = max(1, min(N, budget // (per_frame * torch.finfo(dtype).bits // 8)))
    opts = {"dtype": dtype, "device": p.device}
    maps = torch.empty(4, chunk, C, H, W, **opts)
    rows = torch.empty(4, chunk, C, Ho, W, **opts)
    filt = torch.empty(4, chunk, C, Ho, Wo, **opts)
    num = torch.empty(chunk, C, Ho, Wo, **opts)
    den = torch.empty(chunk, C, Ho, Wo, **opts)
    out = torch.empty(N, dtype=torch.float64, device=p.device)

    for start in range(0, N, chunk):
        x = p[start : start + chunk].to(dtype)  # (n, C, H, W)
        y = t[start : start + chunk].to(dtype)
        n = x.shape[0]
        m, r, f, a, b = maps[:, :n], rows[:, :n], filt[:, :n], num[:n], den[:n]
        mean_x = x.mean(dim=(2, 3), keepdim=True)  # (n, C, 1, 1)
        mean_y = y.mean(dim=(2, 3), keepdim=True)
        torch.sub(x, mean_x, out=m[0])
        torch.sub(y, mean_y, out=m[1])
        torch.mul(m[0], m[0], out=m[2]).addcmul_(m[1], m[1])
        torch.mul(m[0], m[1], out=m[3])
        _filter_valid(m, taps, r, f)
        ux, uy, uxx_yy, uxy = f  # each (n, C, Ho, Wo); ux, uy of the centred frames
        # 2 cov(x, y) + C2 and var x + var y + C2, in place.
        uxy.addcmul_(ux, uy, value=-1).mul_(2).add_(c2)
        uxx_yy.addcmul_(ux, ux, value=-1).addcmul_(uy, uy, value=-1).add_(c2)
        ux.add_(mean_x)
        uy.add_(mean_y)
        torch.mul(ux, uy, out=a).mul_(2).add_(c1)  # 2 ux uy + C1
        torch.mul(ux, ux, out=b).addcmul_(uy, uy).add_(c1)  # ux^2 + uy^2 + C1
        a.mul_(uxy).div_(b.mul_(uxx_yy))  # the SSIM map
        out[start : start + n] = a.sum(dim=(1, 2, 3), dtype=torch.float64) / (C * Ho * Wo)
    return out.reshape(lead)


def lpips_distance(pred: Tensor, target: Tensor, *, model, batch_size: int = 16) -> Tensor:
    """LPIPS of each frame pair under an `lpips.LPIPS` model (spatial=False).

    Frames in [0, 1] (1 or 3 channels) -> `(N,)` or `(B, T)` float64. Frames go through the model
    `batch_size` at a time on the model's device; the [-1, 1] conversion happens here.
    """
    p, t, lead = _flatten_frames(pred, target, "lpips")
    if p.shape[1] not in (1, 3):
        raise ValueError(f"lpips takes 1 or 3 channels, got shape {tuple(pred.shape)}")
    device = next(model.parameters()).device
    values = []
    with torch.no_grad():
        for start in range(0, p.shape[0], batch_size):
            x = p[start : start + batch_size].to(device, torch.float32)  # (n, C, H, W)
            y = t[start : start + batch_size].to(device, torch.float32)
            d = model(as_rgb(x) * 2 - 1, as_rgb(y) * 2 - 1, normalize=False)  # (n, 1, 1, 1)
            values.append(d.flatten().to(torch.float64))
    return torch.cat(values).to(pred.device).reshape(lead)


class LPIPSMetric(FrozenNet):
    """LPIPS v0.1 as an evaluation metric: built once, in eval mode, frozen.

    `net`: "alex" (lpips' default) or "vgg". The calibrated linear layers ship inside the lpips
    package. The trunk is torchvision's ImageNet network, loaded through `vidpred.weights`
    (`lpips-alex` / `lpips-vgg`), which raises `WeightsMissingError` with the fetch command when
    the file is absent; nothing is downloaded. `pretrained=False` keeps a random trunk (tests).
    """

    def __init__(self, *, net: str = "alex", pretrained: bool = True, batch_size: int = 16):
        super().__init__()
        self.model = build_lpips(net=net, pretrained=pretrained, spatial=False)
        self.net_name = net
        self.pretrained = pretrained
        self.batch_size = batch_size
        self.freeze()

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return lpips_distance(pred, target, model=self.model, batch_size=self.batch_size)


def plan_metrics(
    requested: Sequence[str] | None, *, lpips_net: str = "alex"
) -> tuple[tuple[str, ...], str | None]:
    """Decide which metrics `eval` computes: `(metrics, notice_or_None)`.

    `requested=None` means the user did not choose: all of `METRICS`, except LPIPS when its trunk
    weights are absent, which is skipped with a one-line notice for the CLI to print. LPIPS asked
    for explicitly without its weights raises `WeightsMissingError` (exit 2) with the fix.
    Unknown names raise `SpecError`.
    """
    name = f"lpips-{lpips_net}"
    if requested is None:
        if weights.is_present(name):
            return METRICS, None
        notice = (
            f"LPIPS skipped: the {name} weights are not on this machine "
            f"(run `vidpred weights fetch {name}` to add it, or choose --metrics psnr,ssim)"
        )
        return tuple(m for m in METRICS if m != "lpips"), notice
    chosen = tuple(dict.fromkeys(m.strip().lower() for m in requested if m.strip()))
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise SpecError(
            f"unknown metric {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(METRICS)}"
        )
    if "lpips" in chosen:
        weights.require(name)  # WeightsMissingError naming the fetch command
    return chosen, None


@torch.no_grad()
def compute_metrics(
    pred: Tensor,
    target: Tensor,
    *,
    metrics: Sequence[str] = METRICS,
    lpips_model: LPIPSMetric | None = None,
) -> dict[str, Tensor]:
    """`{name: per-frame values}` for each of `metrics`, shaped `(N,)` or `(B, T)`, float64.
    PSNR is `capped_psnr` (finite, at most `PSNR_CAP`).

    LPIPS needs `lpips_model` (build it once with `LPIPSMetric(...)` and reuse it).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {METRICS}")
    if "lpips" in metrics and lpips_model is None:
        raise ValueError("compute_metrics: 'lpips' needs lpips_model=LPIPSMetric(...)")
    functions = {"psnr": capped_psnr, "ssim": ssim, "lpips": lpips_model}
    return {name: functions[name](pred, target) for name in metrics}

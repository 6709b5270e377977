"""Summary statistics of per-clip metric values: mean, standard deviation and a bootstrap 95%
confidence interval, overall and per horizon step. Plain numpy in, plain dicts out (JSON-ready).

The unit of sampling is the clip: frames of one clip are correlated, so resampling frames would
give intervals that are too narrow. For a metric with values `(n_clips, T)`:

- overall: each clip's score is its mean over the T steps; `mean` is the mean of the clip scores
  (the grand mean, as every clip has T steps), `std` the sample standard deviation of the clip
  scores (ddof=1; 0.0 for a single clip), `ci95` the percentile bootstrap interval of the mean;
- per step t: the same over the clips' values at step t.

The bootstrap draws clips with replacement (`n_resamples` times, fixed `seed`). The draws depend
only on `(n_clips, seed, n_resamples)`, so every metric and every model evaluated on the same
clips is resampled with the same draws (paired), and reruns give identical intervals.

`paired` compares a model with a baseline on the same clips (issue 10): the mean of the per-clip
differences, the bootstrap interval of that mean with the same draws, and the win rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

N_RESAMPLES = 1000
SEED = 0


def _bootstrap_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """`(n_resamples, n)` how often each clip is drawn in each resample (rows sum to n).

    Multinomial counts are the same distribution as drawing n indices with replacement, and
    turn every resampled mean into one matrix product."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.float64)


def _resampled_means_by_index(table: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Bootstrap means `(R, k)` of `table` (n, k) by indexing the drawn rows, in blocks of
    resamples so memory stays at about 64 MB."""
    R, n = counts.shape
    idx = np.repeat(np.tile(np.arange(n), R), counts.astype(np.int64).ravel()).reshape(R, n)
    block = max(1, (64 << 20) // (8 * n * table.shape[1]))
    return np.concatenate([table[idx[i : i + block]].mean(axis=1) for i in range(0, R, block)])


def _describe(values: np.ndarray, means: np.ndarray, confidence: float) -> list[dict[str, Any]]:
    """One dict per column of `values` (n, k), given the bootstrap means `(n_resamples, k)`."""
    n = values.shape[0]
    mean = values.mean(axis=0)
    std = values.std(axis=0, ddof=1) if n > 1 else np.zeros(values.shape[1])
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail], axis=0)
    return [
        {"mean": float(m), "std": float(s), "ci95": [float(a), float(b)]}
        for m, s, a, b in zip(mean, std, lo, hi, strict=True)
    ]


def summarize(
    values: Any,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Statistics of one metric from its values `(n_clips, T)` (or `(n_clips,)` for T = 1).

    Returns `{"n": n_clips, "mean", "std", "ci95": [lo, hi], "per_step": [{"mean", "std",
    "ci95"}, ...]}` with plain floats (module docstring for the definitions). Non-finite values
    (PSNR of a perfect frame is inf) propagate: they make the mean inf and the std nan.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]  # (n_clips, 1)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"summarize takes values (n_clips, T) with n_clips, T >= 1, got {x.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = x.shape[0]
    table = np.concatenate([x.mean(axis=1, keepdims=True), x], axis=1)  # (n, 1 + T): score, steps
    counts = _bootstrap_counts(n, n_resamples, seed)  # (R, n)
    if np.isfinite(table).all():
        means = counts @ table / n  # (R, 1 + T)
    else:  # 0 * inf is nan: average the drawn rows themselves (same draws, more memory)
        means = _resampled_means_by_index(table, counts)
    with np.errstate(invalid="ignore"):  # inf - inf in std / percentiles: nan, as it should be
        overall, *steps = _describe(table, means, confidence)
    return {"n": n, **overall, "per_step": steps}


def summarize_metrics(per_metric: Mapping[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    """`summarize` for each metric: `{name: values (n_clips, T)}` -> `{name: summary}`."""
    return {name: summarize(values, **kwargs) for name, values in per_metric.items()}


def paired(
    model: Any,
    baseline: Any,
    *,
    higher_is_better: bool = True,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The model against a baseline scored on the same clips, both `(n_clips, T)` (or
    `(n_clips,)`): `{"delta", "ci95": [lo, hi], "win_rate"}`.

    `delta` is the mean over clips of (model - baseline) clip scores, in the metric's units (so
    for LPIPS a negative delta is an improvement); `ci95` its percentile bootstrap interval with
    the draws `summarize` uses (`seed`, `n_resamples`); `win_rate` the fraction of clips where the
    model's clip score is better (`higher_is_better`), ties counting half.
    """
    a = np.asarray(model, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired needs values of one shape, got {a.shape} and {b.shape}")
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]  # (n_clips, 1)
    with np.errstate(invalid="ignore"):  # inf - inf: nan, as it should be
        delta = summarize(a - b, n_resamples=n_resamples, seed=seed, confidence=confidence)
    score_a, score_b = a.mean(axis=1), b.mean(axis=1)  # (n_clips,) clip scores
    better = score_a > score_b if higher_is_better else score_a < score_b
    wins = better.sum() + 0.5 * (score_a == score_b).sum()
    return {"delta": delta["mean"], "ci95": delta["ci95"], "win_rate": float(wins / a.shape[0])}

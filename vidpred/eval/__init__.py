"""Evaluation: frame metrics (PSNR, SSIM, LPIPS), bootstrap statistics (paired against the
baselines too), the zero-parameter baselines, scoring models and baselines on held-out windows,
and the self-contained HTML report."""

from vidpred.eval.baselines import BASELINES, baseline_frames, check_baselines, split_window
from vidpred.eval.evaluate import (
    EvalResult,
    Scores,
    Threshold,
    check_thresholds,
    evaluate_folders,
    evaluate_models,
    summary_json,
)
from vidpred.eval.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    PSNR_CAP,
    LPIPSMetric,
    capped_psnr,
    compute_metrics,
    lpips_distance,
    plan_metrics,
    psnr,
    ssim,
)
from vidpred.eval.outputs import remove_stale_figures, write_outputs
from vidpred.eval.report import (
    Animation,
    EvalSummary,
    Figure,
    ModelSummary,
    render_report,
    write_report,
)
from vidpred.eval.stats import paired, summarize, summarize_metrics

__all__ = [
    "BASELINES",
    "HIGHER_IS_BETTER",
    "METRICS",
    "PSNR_CAP",
    "Animation",
    "EvalResult",
    "EvalSummary",
    "Figure",
    "LPIPSMetric",
    "ModelSummary",
    "Scores",
    "Threshold",
    "baseline_frames",
    "capped_psnr",
    "check_baselines",
    "check_thresholds",
    "compute_metrics",
    "evaluate_folders",
    "evaluate_models",
    "lpips_distance",
    "paired",
    "plan_metrics",
    "psnr",
    "remove_stale_figures",
    "render_report",
    "split_window",
    "ssim",
    "summarize",
    "summarize_metrics",
    "summary_json",
    "write_outputs",
    "write_report",
]

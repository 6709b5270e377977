"""Evaluation: frame metrics (PSNR, SSIM, LPIPS), bootstrap statistics, scoring models and
baselines on held-out windows, and the self-contained HTML report."""

from vidpred.eval.evaluate import (
    BASELINES,
    EvalResult,
    Scores,
    baseline_predict,
    check_thresholds,
    evaluate_folders,
    evaluate_models,
    summary_json,
    write_outputs,
)
from vidpred.eval.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    PSNR_CAP,
    LPIPSMetric,
    compute_metrics,
    lpips_distance,
    plan_metrics,
    psnr,
    ssim,
)
from vidpred.eval.report import (
    Animation,
    EvalSummary,
    Figure,
    ModelSummary,
    render_report,
    write_report,
)
from vidpred.eval.stats import summarize, summarize_metrics

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
    "baseline_predict",
    "check_thresholds",
    "compute_metrics",
    "evaluate_folders",
    "evaluate_models",
    "lpips_distance",
    "plan_metrics",
    "psnr",
    "render_report",
    "ssim",
    "summarize",
    "summarize_metrics",
    "summary_json",
    "write_outputs",
    "write_report",
]

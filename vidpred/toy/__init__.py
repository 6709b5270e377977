"""The paper's toy experiment (Geng, Hamilton, Owens, CVPR 2022;
dangeng/CorrWiseLosses code/train_toy.py).

A car sits at a random horizontal position on a fixed background and the predictor's input never
changes, so the best it can do is one image minimising the expected loss: MSE gives the targets'
mean, L1 their median, and a correspondence-wise L1 a sharp car. `run_toy` trains one predictor
per loss and measures how close each result is to *some* target (`aligned_error`) and how sharp
it is (`sharpness`); `vidpred toy` is its command.

- `vidpred.toy.scene`: the procedural background, car and targets;
- `vidpred.toy.measures`: aligned error, sharpness, the pixel-wise mean and median;
- `vidpred.toy.train`: the predictors and the training loop;
- `vidpred.toy.run`: the whole experiment and its files;
- `vidpred.toy.figure`: labelled panels.
"""

from vidpred.toy.measures import (
    aligned_error,
    aligned_errors,
    pixelwise_references,
    sharpness,
    target_gradient_energy,
)
from vidpred.toy.run import DEFAULT_LOSSES, OUTPUT_FILES, ToyHooks, parse_loss_list, run_toy
from vidpred.toy.scene import ToyScene
from vidpred.toy.train import MODELS, ToyConfig, build_predictor, train_predictor

__all__ = [
    "DEFAULT_LOSSES",
    "MODELS",
    "OUTPUT_FILES",
    "ToyConfig",
    "ToyHooks",
    "ToyScene",
    "aligned_error",
    "aligned_errors",
    "build_predictor",
    "parse_loss_list",
    "pixelwise_references",
    "run_toy",
    "sharpness",
    "target_gradient_energy",
    "train_predictor",
]

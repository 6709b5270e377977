"""Which part of a trained flow head earns its Δ vs `linear`: the model scored with one of its
outputs zeroed at test time, beside the model as trained, on folders of clips.

    python bench/ablate.py runs/a/model.pt --clips fish=/data/fish broad=/data/broad --zero residual

Each (model, set, variant) is one `bench/unseen.py` run of `vidpred eval MODEL DIR --horizon H
--baseline copy-last --baseline linear --metrics psnr`, in a child process that first wraps
`compose_prediction` so that the chosen outputs of the network are zero: `correction` (the flow
correction), `to-last`, `to-carried`, `to-trend` (the blend weights) or `residual` (the RGB
residual). A zeroed output is that part at its starting value (the head is zero-initialised), so
this measures what the trained part adds, not what a model trained without it would do. Prints
one line per run, saves JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from unseen import ROOT, save, score  # noqa: E402  (bench/, the script's folder)

PARTS = ("correction", "to-last", "to-carried", "to-trend", "residual")


def zeroed_channels(part: str, out_channels: int, colour: int) -> slice:
    """The output channels of the flow head's predictor that hold `part` (layout in
    `vidpred.models.heads.compose_prediction`: 2 correction, 1 to-last, 1 to-carried, 1 to-trend
    where the model has the trend, then the RGB residual)."""
    has_trend = out_channels == 5 + colour
    where = {
        "correction": slice(0, 2),
        "to-last": slice(2, 3),
        "to-carried": slice(3, 4),
        "to-trend": slice(4, 5) if has_trend else None,
        "residual": slice(out_channels - colour, out_channels),
    }[part]
    if where is None:
        raise SystemExit(f"{part}: this model was saved before the appearance trend; it has none")
    return where


def child(part: str, argv: list[str]) -> None:
    """Run the vidpred CLI with `part` of every flow-head prediction zeroed."""
    import vidpred.models.unet as unet

    compose = unet.compose_prediction

    def ablated(out, last, *rest):
        out = out.clone()
        out[:, zeroed_channels(part, out.shape[1], last.shape[1])] = 0
        return compose(out, last, *rest)

    unet.compose_prediction = ablated  # the name `UNetPredictor` calls
    from vidpred.cli import main as cli

    sys.argv = ["vidpred", *argv]
    cli()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--clips", nargs="+", required=True, help="NAME=DIR: a set of clips to score")
    ap.add_argument(
        "--zero", nargs="+", choices=PARTS, required=True, help="parts to zero, one run each"
    )
    ap.add_argument("--horizons", nargs="+", type=int, default=[1])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/ablate.json")
    a = ap.parse_args()
    sets = dict(s.split("=", 1) for s in a.clips)
    results = []
    for model in a.models:
        for name, clips in sets.items():
            for h in a.horizons:
                for part in ("none", *a.zero):
                    cli = [sys.executable, str(Path(__file__).resolve()), "--child", part]
                    cli = None if part == "none" else cli
                    r = score(model, name, clips, h, label=f" zeroed {part}", vidpred=cli)
                    results.append({**r, "zeroed": part})
    settings = {"models": [str(m) for m in a.models], "sets": sets, "horizons": a.horizons}
    save(a.out, {**settings, "zeroed": a.zero}, results)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3:])
    else:
        main()

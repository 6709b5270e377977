"""Which stretch of footage decides a clip's sign: a model's paired Δ PSNR vs `linear` per
named stretch of frames, pooled over clips by name.

    python bench/segments.py runs/a/model.pt runs/b/model.pt \\
        --segment title=/data/fresh/no_face.mp4:0:95 \\
        --segment face=/data/fresh/face_noface.mov:0:72 \\
        --segment title=/data/fresh/face_noface.mov:73:169

A pooled mean over a folder hides which footage sets its sign, and one piece of footage can sit
in several files. Each model scores every clip named in one `vidpred eval MODEL CLIP... --baseline
linear` at `--horizon` (`unseen.run_eval`, as `bench/unseen.py` scores folders); a window belongs
to the stretch `FIRST:STOP` (frame indices, STOP excluded) that holds the frame it is scored on:
its first frame + the model's context + step - 1. Prints the mean Δ, its ci95 over windows and
the window count per name and model; saves JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unseen import model_name, run_eval  # noqa: E402  (bench/, the script's folder)

from vidpred.eval.stats import paired  # noqa: E402
from vidpred.inference import load_model  # noqa: E402


def parse_segment(spec: str) -> tuple[str, Path, int, int]:
    """`NAME=CLIP:FIRST:STOP` -> (name, clip, first, stop)."""
    name, _, rest = spec.partition("=")
    clip, first, stop = rest.rsplit(":", 2)
    if not name or int(first) >= int(stop):
        raise SystemExit(f"--segment {spec!r}: expected NAME=CLIP:FIRST:STOP with FIRST < STOP")
    return name, Path(clip), int(first), int(stop)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--segment", action="append", required=True, type=parse_segment)
    ap.add_argument("--horizon", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/segments.json")
    a = ap.parse_args()
    clips = sorted({clip.resolve() for _, clip, _, _ in a.segment})
    results = []
    for model in a.models:
        context = load_model(model).config.context
        found: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        _, rows = run_eval(model, clips, a.horizon, baselines=("linear",))
        for clip in clips:  # clip by clip, then by segment: the order the bootstrap draws from
            for name, where, first, stop in a.segment:
                if where.resolve() != clip:
                    continue
                for scored_clip, first_frame, step, scores in rows:
                    scored_on = first_frame + context + step - 1
                    if Path(scored_clip) == clip and first <= scored_on < stop:
                        found[name][0].append(scores[model_name(scores)])
                        found[name][1].append(scores["linear"])
        for name, (ours, linear) in found.items():
            d = paired(ours, linear)
            lo, hi = d["ci95"]
            print(
                f"{model} {name}: vs linear {d['delta']:+.2f} [{lo:+.2f},{hi:+.2f}] "
                f"({len(ours)} windows, better on {d['win_rate']:.0%})",
                flush=True,
            )
            results.append({"model": str(model), "segment": name, "windows": len(ours), **d})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"segments": [[n, str(c), f, s] for n, c, f, s in a.segment], "horizon": a.horizon}
    a.out.write_text(json.dumps({"settings": settings, "results": results}, indent=1))
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()

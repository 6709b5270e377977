"""The shipped clips in sample_videos/, decoded through vidpred as `train` and `eval` see them.

Issue 10: when a scored frame is bit-for-bit the frame before it, copy-last is perfect there and
any model looks worse than doing nothing. Every clip must move in every crop at the default size.
"""

from pathlib import Path

import pytest
import torch

from vidpred.data import ClipDataset, FrameCache, load_clips

SAMPLES = Path(__file__).resolve().parent.parent / "sample_videos"
CONTEXT = 3
SIZE = (64, 64)  # the default working size


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    cache = FrameCache(tmp_path_factory.mktemp("cache"))
    clips, skipped = load_clips([SAMPLES], size=SIZE, frames=CONTEXT + 3, cache=cache)
    assert not skipped, skipped
    return clips


def test_every_clip_is_shipped_and_the_folder_stays_small(clips):
    names = {c.source.name for c in clips}
    assert names == {
        "bigbuckbunny_excerpt.mp4",
        "camera_jumps.mp4",
        "cars.mp4",
        "discs.mp4",
        "discs_b.mp4",
    }
    assert sum(p.stat().st_size for p in SAMPLES.iterdir()) < 1_000_000


@pytest.mark.parametrize("horizon", [1, 3])
def test_no_scored_frame_repeats_the_one_before_it(clips, horizon):
    for clip in clips:
        windows = ClipDataset([clip], frames=CONTEXT + horizon, size=SIZE)  # centre crops
        assert len(windows) > 0
        for i in range(len(windows)):
            w = windows[i]  # (T, 3, H, W)
            for t in range(CONTEXT, CONTEXT + horizon):
                assert not torch.equal(w[t], w[t - 1]), (
                    f"{clip.source.name}: window {i}, frame {t} equals frame {t - 1}"
                )


def test_no_frame_is_nearly_the_one_before_it(clips):
    # Not just one pixel off: the synthetic clips change most pixels (sensor noise, a drifting
    # camera); the real excerpt's stillest step still changes 5% of them.
    for clip in clips:
        frames = ClipDataset([clip], frames=clip.frames, size=SIZE)[0]  # (T, 3, H, W)
        changed = (frames[1:] != frames[:-1]).float().mean(dim=(1, 2, 3))  # (T-1,)
        assert changed.min() > 0.02, f"{clip.source.name}: {changed.min():.3f}"

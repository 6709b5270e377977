"""Synthetic motion (scikit-image's photographs moved by a random camera and cut-outs) and how
training mixes it with real windows; time reversal of training windows."""

import numpy as np
import pytest
import torch
from test_data import _clips

from vidpred.data import ClipDataset, FrameCache, MixedWindows, SyntheticMotion, with_synthetic
from vidpred.data.synthetic import camera_maps, motion_path
from vidpred.flow.backends import build_flow
from vidpred.flow.motion import extrapolate_linear


def test_windows_are_seeded_by_seed_epoch_and_index():
    ds = SyntheticMotion(frames=4, size=(32, 48), length=6, seed=3)
    x = ds[2]
    assert x.shape == (4, 3, 32, 48) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, SyntheticMotion(frames=4, size=(32, 48), length=6, seed=3)[2])
    assert not torch.equal(x, ds[3])
    ds.set_epoch(1)
    assert not torch.equal(x, ds[2])
    with pytest.raises(IndexError):
        ds[6]


def test_every_window_moves_like_video_and_linear_flow_follows_it():
    """Frames differ (nothing static), and DIS constant velocity predicts the next frame better than
    copy-last: the motion is flow-like, as real footage's is, not noise."""
    ds = SyntheticMotion(frames=4, size=(64, 64), length=12, seed=0, objects=(0, 0))
    x = torch.stack([ds[i] for i in range(len(ds))])  # (12, 4, 3, 64, 64)
    assert (x[:, 1:] - x[:, :-1]).abs().mean() > 0.005
    truth = x[:, 3]
    copy = (x[:, 2] - truth).pow(2).mean()
    linear = (extrapolate_linear(x[:, :3], 1, flow=build_flow("dis"))[:, 0] - truth).pow(2).mean()
    assert linear < 0.7 * copy


def test_the_camera_stays_inside_the_photo():
    rng = np.random.default_rng(0)
    for _ in range(50):
        maps = camera_maps(rng, 6, (64, 64), (100, 150), max_speed=8.0)  # (T, 2, 3)
        corners = np.array([[0, 0, 1], [63, 0, 1], [0, 63, 1], [63, 63, 1]], float).T
        seen = maps @ corners  # (T, 2, 4): photo (x, y) of each output corner
        assert seen.min() >= -1e-6
        assert seen[:, 0].max() <= 149 + 1e-6 and seen[:, 1].max() <= 99 + 1e-6


def test_motion_paths_are_bounded_and_centred_on_the_middle_frame():
    rng = np.random.default_rng(1)
    path = motion_path(rng, 5, max_speed=4.0)
    assert np.allclose(path[2], 0)
    assert np.abs(np.diff(path, axis=0)).max() < 3 * 4.0


def test_mixing_gives_the_asked_share_and_reaches_every_window(tmp_path):
    clips = _clips(tmp_path, FrameCache(tmp_path / "cache"), n=1, frames=12)
    real = ClipDataset(clips, frames=3, size=(16, 16), train=True, seed=0)
    assert with_synthetic(real, 0.0, frames=3, size=(16, 16), seed=0) is real
    mixed = with_synthetic(real, 0.5, frames=3, size=(16, 16), seed=0)
    assert isinstance(mixed, MixedWindows)
    assert len(mixed) == 2 * len(real)
    assert torch.equal(mixed[0], real[0])
    assert mixed[len(real)].shape == real[0].shape
    mixed.set_epoch(2)
    assert real.epoch == 2 and mixed.synthetic.epoch == 2
    with pytest.raises(ValueError):
        with_synthetic(real, 1.0, frames=3, size=(16, 16), seed=0)


def test_training_windows_are_played_backwards_half_the_time(tmp_path):
    clips = _clips(tmp_path, FrameCache(tmp_path / "cache"), n=1, frames=40)
    full = (clips[0].height, clips[0].width)  # crops of the whole frame: only flips and order vary
    train = ClipDataset(clips, frames=3, size=full, train=True, seed=0)
    frames = clips[0].open()  # (T, H, W, 3) uint8
    backwards = 0
    for i in range(len(train)):
        x = train[i]
        first = torch.from_numpy(frames[i].transpose(2, 0, 1).astype(np.float32) / 255)
        if min((x[0] - first).abs().max(), (x[0] - first.flip(-1)).abs().max()) > 1e-6:
            backwards += 1  # starts at the window's last frame
    assert 0.25 < backwards / len(train) < 0.75
    val = ClipDataset(clips, frames=3, size=full)
    expected = torch.from_numpy(frames[0].transpose(2, 0, 1) / 255).float()
    torch.testing.assert_close(val[0][0], expected)

"""The public Python API as someone outside vidpred meets it (the README's "Python API")."""

import subprocess
import sys

import pytest
import torch
from conftest import make_frames, make_video, textured, train_tiny_model
from torch import nn

import vidpred


def test_corrwise_loss_trains_someone_elses_network():
    torch.manual_seed(0)
    # Moving textures: each clip's next frame is its current one moved 1.5 px right.
    frames = torch.cat([textured(32, 32, seed=s) for s in range(4)])  # (4, 3, 32, 32)
    following = torch.cat([textured(32, 32, 1.5, 0.0, seed=s) for s in range(4)])
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 3, 3, padding=1),
        nn.Sigmoid(),
    )
    from vidpred.losses import CorrWiseLoss

    crit = CorrWiseLoss()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = crit(net(frames), following)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]


def test_public_names_resolve_and_import_vidpred_does_not_import_torch():
    for name in vidpred.__all__:
        assert getattr(vidpred, name) is not None
    from vidpred.losses import CorrWiseLoss

    assert vidpred.CorrWiseLoss is CorrWiseLoss
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        vidpred.nothing  # noqa: B018
    code = "import sys, vidpred, vidpred.errors; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    make_video(root / "clip.mp4", make_frames(12, 32, 48), fps=10)
    return train_tiny_model(root / "clip.mp4", root / "run")


def test_load_model_gives_a_frozen_predictor(model_path):
    from vidpred import load_model

    lm = load_model(model_path, device="cpu")
    K, (H, W) = lm.config.context, lm.size
    context = torch.rand(2, K, 3, H, W)
    with torch.no_grad():
        following = lm.model(context)
    assert following.shape == (2, 3, H, W)
    assert float(following.min()) >= 0 and float(following.max()) <= 1
    assert not lm.model.training
    assert not any(p.requires_grad for p in lm.model.parameters())

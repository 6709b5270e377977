import copy
import json

import pytest
import torch
import typer
from conftest import make_video, textured
from PIL import Image
from torch import nn
from torchvision.models.optical_flow import raft_small
from typer.testing import CliRunner

from vidpred import weights
from vidpred.cli import _VidpredGroup
from vidpred.cli import flow as flow_cmd
from vidpred.errors import InputError, WeightsMissingError
from vidpred.flow import backends
from vidpred.flow.backends import DISFlow, RAFTFlow, build_flow, estimate_flow, resolve_flow_backend
from vidpred.flow.warping import warp


def _interior(flow, margin=12):
    return flow[..., margin:-margin, margin:-margin]


@pytest.mark.parametrize("shift", [(4.0, -2.0), (1.5, 0.25)])
def test_dis_recovers_a_known_shift(shift):
    ref, other = textured(96, 96), textured(96, 96, *shift)
    flow = DISFlow().estimate_flow(ref, other)
    assert flow.shape == (1, 2, 96, 96) and flow.dtype == torch.float32
    error = (_interior(flow) - torch.tensor(shift).view(1, 2, 1, 1)).abs()
    tolerance = 0.05 if shift[0].is_integer() else 0.1
    assert error.median() < tolerance, error.median()


def test_dis_keeps_batch_order_across_threads():
    shifts = [(3.0, 0.0), (0.0, -2.0), (-1.0, 1.0), (2.0, 2.0)]
    ref = textured(64, 64).expand(4, -1, -1, -1)
    other = torch.cat([textured(64, 64, *s) for s in shifts])
    flow = DISFlow(num_threads=3).estimate_flow(ref, other)
    medians = _interior(flow).flatten(2).median(-1).values  # (4, 2)
    torch.testing.assert_close(medians, torch.tensor(shifts), atol=0.1, rtol=0)


def test_dis_identical_images_give_zero_flow_and_grey_input_works():
    image = textured(32, 40)
    assert DISFlow().estimate_flow(image, image).abs().max() == 0
    grey = image.mean(1, keepdim=True)
    assert DISFlow().estimate_flow(grey, grey).shape == (1, 2, 32, 40)


def test_images_below_the_backend_minimum_are_upsampled_for_the_flow():
    ref, other = textured(10, 12), textured(10, 12, 1.0, 0.0)
    flow = DISFlow().estimate_flow(ref, other)  # DIS itself refuses images under 12 px
    assert flow.shape == (1, 2, 10, 12)
    assert torch.isfinite(flow).all()


def test_bad_input_raises_value_error_with_shapes():
    dis = DISFlow()
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\) and \(1, 3, 8, 9\)"):
        dis.estimate_flow(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        dis.estimate_flow(torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match="not differentiable"):
        dis.estimate_flow(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), track_grad=True)


def test_dis_survives_deepcopy_after_use():
    dis = DISFlow(num_threads=2)
    image = textured(32, 32).expand(2, -1, -1, -1)
    dis.estimate_flow(image, image)
    clone = copy.deepcopy(dis)
    assert clone.estimate_flow(image, image).abs().max() == 0


def test_raft_with_random_weights_runs_frozen_with_the_right_shapes():
    raft = RAFTFlow(variant="small", pretrained=False)
    raft.train()  # a trainer's loss.train() must leave RAFT in eval mode
    assert not raft.raft.training
    assert not any(p.requires_grad for p in raft.parameters())
    ref = torch.rand(1, 3, 36, 50, requires_grad=True)  # upsampled to 128x178, padded to 184
    flow = raft.estimate_flow(ref, torch.rand(1, 3, 36, 50))
    assert flow.shape == (1, 2, 36, 50) and torch.isfinite(flow).all()
    assert not flow.requires_grad
    assert raft.name == "raft-small" and raft.num_flow_updates == 5


class _StubRAFT(nn.Module):
    """Stands in for torchvision's RAFT: records what it is given, returns a known flow (from
    image1 to image2, torchvision's convention) at every refinement step."""

    def __init__(self, flow_xy: tuple[float, float]) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # RAFTFlow reads device and dtype off it
        self.flow_xy = flow_xy
        self.calls = []

    def forward(self, image1, image2, num_flow_updates):
        self.calls.append((image1, image2, num_flow_updates))
        B, _, H, W = image1.shape
        flow = torch.tensor(self.flow_xy).view(1, 2, 1, 1).expand(B, 2, H, W)  # (B, 2, H, W)
        return [torch.zeros_like(flow), flow]  # every iteration's flow; the last one counts


def _stub_raft(monkeypatch, flow_xy):
    stub = _StubRAFT(flow_xy)
    monkeypatch.setattr(backends, "raft_large", lambda weights: stub)
    return stub, RAFTFlow(variant="large", pretrained=False)


def test_raft_gets_images_in_minus_one_to_one_and_its_flow_runs_reference_to_other(monkeypatch):
    stub, raft = _stub_raft(monkeypatch, (3.0, -1.0))
    ref, other = textured(128, 128), textured(128, 128, 3.0, -1.0)  # other = ref moved (3, -1)
    flow = raft.estimate_flow(ref, other)
    ((image1, image2, updates),) = stub.calls
    torch.testing.assert_close(image1, ref * 2 - 1)  # the reference first, scaled to [-1, 1]
    torch.testing.assert_close(image2, other * 2 - 1)
    assert updates == 5  # the authors' num_iters
    torch.testing.assert_close(flow, torch.tensor([3.0, -1.0]).view(1, 2, 1, 1).expand_as(flow))
    # The convention the losses rely on: warping `other` by the flow lands it on `reference`.
    aligned = warp(other, flow)[..., 8:-8, 8:-8]
    torch.testing.assert_close(aligned, ref[..., 8:-8, 8:-8], atol=1e-5, rtol=0)
    grey = raft.estimate_flow(ref.mean(1, keepdim=True), other.mean(1, keepdim=True))
    assert stub.calls[-1][0].shape == (1, 3, 128, 128) and grey.shape == (1, 2, 128, 128)


def test_raft_flow_comes_back_in_the_callers_pixels_and_size(monkeypatch):
    stub, raft = _stub_raft(monkeypatch, (6.0, -2.0))
    # 64x64 is under RAFT's 128 px minimum: the network sees 128x128, so its 6 px are 3 here.
    flow = raft.estimate_flow(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
    assert stub.calls[-1][0].shape == (2, 3, 128, 128)
    torch.testing.assert_close(
        flow, torch.tensor([3.0, -1.0]).view(1, 2, 1, 1).expand(2, 2, 64, 64)
    )
    # 130x133 is padded to multiples of 8 for the network and cropped back after.
    flow = raft.estimate_flow(torch.rand(1, 3, 130, 133), torch.rand(1, 3, 130, 133))
    assert stub.calls[-1][0].shape == (1, 3, 136, 136) and flow.shape == (1, 2, 130, 133)
    torch.testing.assert_close(flow, torch.tensor([6.0, -2.0]).view(1, 2, 1, 1).expand_as(flow))


def test_explicit_raft_without_weights_names_the_fix(hub_dir):
    for name in ("raft-small", "raft-large"):
        with pytest.raises(WeightsMissingError, match=f"vidpred weights fetch {name}"):
            build_flow(name)


def test_auto_picks_dis_without_weights_and_raft_small_with_them(hub_dir):
    assert resolve_flow_backend("auto") == "dis"
    assert build_flow("auto").name == "dis"
    path = weights.REGISTRY["raft-small"].path
    path.parent.mkdir(parents=True)
    torch.save(raft_small(weights=None).state_dict(), path)
    assert resolve_flow_backend("auto") == "raft-small"
    assert build_flow().name == "raft-small"


def test_unknown_backend_is_an_input_error():
    with pytest.raises(InputError, match="dis, raft-small"):
        resolve_flow_backend("farneback")


def test_estimate_flow_function_equals_the_backend():
    ref, other = textured(32, 32), textured(32, 32, 2.0, 1.0)
    torch.testing.assert_close(
        estimate_flow(ref, other, backend="dis"), DISFlow().estimate_flow(ref, other)
    )


# -- vidpred flow ---------------------------------------------------------------------------


def _cli():
    app = typer.Typer(cls=_VidpredGroup)
    app.command("flow")(flow_cmd.flow)
    app.command("unused")(lambda: None)  # two commands, so "flow" is a subcommand as in vidpred
    return app


def _save(image, path):
    Image.fromarray((image[0].permute(1, 2, 0) * 255).round().byte().numpy()).save(path)
    return path


def test_cli_flow_json_and_png(tmp_path):
    a = _save(textured(64, 80), tmp_path / "a.png")
    b = _save(textured(64, 80, 3.0, 0.0), tmp_path / "b.png")
    out = tmp_path / "panels.png"
    result = CliRunner().invoke(
        _cli(), ["flow", str(a), str(b), "--flow", "dis", "--json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.stdout)
    assert set(numbers) == {"pixel_l1", "corr_l1", "mean_flow", "flow"}
    assert numbers["flow"] == "dis"
    assert numbers["mean_flow"] == pytest.approx(3.0, abs=0.3)
    assert numbers["corr_l1"] < numbers["pixel_l1"]
    width, height = Image.open(out).size
    assert width > 3 * 80 and height > 2 * 64  # two rows of three labelled panels


def test_cli_flow_reads_two_frames_of_a_video(tmp_path, tiny_frames):
    video = make_video(tmp_path / "clip.mkv", tiny_frames, codec="ffv1")
    result = CliRunner().invoke(
        _cli(), ["flow", str(video), "--frames", "0,3", "--flow", "dis", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pixel_l1"] > 0


def test_cli_flow_user_errors_exit_2(tmp_path, tiny_frames):
    a = _save(textured(32, 32), tmp_path / "a.png")
    b = _save(textured(32, 40), tmp_path / "b.png")
    runner = CliRunner()
    result = runner.invoke(_cli(), ["flow", str(a), str(b), "--flow", "dis"])
    assert result.exit_code == 2 and "differ in size" in result.output
    result = runner.invoke(_cli(), ["flow", str(a)])
    assert result.exit_code == 2 and "second image" in result.output
    video = make_video(tmp_path / "clip.mkv", tiny_frames, codec="ffv1")
    result = runner.invoke(_cli(), ["flow", str(video), "--frames", "0,99", "--flow", "dis"])
    assert result.exit_code == 2 and "has 8 frames" in result.output
    result = runner.invoke(_cli(), ["flow", str(video), "--frames", "x"])
    assert result.exit_code == 2 and "--frames" in result.output


def test_dis_gives_the_same_flow_for_the_same_pair_whatever_came_before():
    """A reused OpenCV DIS object carried state between calls at some sizes (24x40), so the
    `linear` baseline depended on what had been computed before it."""
    a, b = textured(24, 40, seed=1), textured(24, 40, 1.5, 0.5, seed=1)
    flow = DISFlow(num_threads=1)
    first = flow.estimate_flow(a, b)
    flow.estimate_flow(b, a)
    assert torch.equal(flow.estimate_flow(a, b), first)

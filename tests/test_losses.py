import pytest
import torch
import torch.nn.functional as F
from conftest import textured
from torchvision.models import alexnet
from torchvision.models.vgg import cfgs, make_layers

from vidpred import weights
from vidpred.errors import SpecError, WeightsMissingError
from vidpred.flow.backends import DISFlow, RAFTFlow
from vidpred.losses import (
    BASE_TERMS,
    CorrWiseLoss,
    LossSpec,
    LossTerm,
    LPIPSLoss,
    PixelWiseLoss,
    VGGFeatureLoss,
    build_base,
    build_loss,
    corrwise_loss,
    l1_map,
    parse_loss_spec,
    pixelwise_loss,
)

# -- the spec language --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("l1", "l1"),
        ("MSE", "mse"),
        ("l2", "mse"),
        (" Corr-L1 + VGG ", "corr-l1+vgg"),
        ("corr-l1+lpips", "corr-l1+lpips"),
        ("l1+0.5*lpips", "l1+0.5*lpips"),
        ("1.0*l1+2*lpips-alex", "l1+2*lpips"),
        ("corr-0.5*l1+0.5*vgg", "corr-0.5*l1+0.5*vgg"),
        ("1e-3*vgg+l1", "0.001*vgg+l1"),
        ("1e+3*mse", "1000*mse"),
        ("corr-lpips-vgg", "corr-lpips-vgg"),
    ],
)
def test_spec_round_trips_to_its_canonical_form(text, canonical):
    spec = parse_loss_spec(text)
    assert str(spec) == canonical
    assert parse_loss_spec(str(spec)) == spec


def test_corr_prefix_applies_to_the_whole_sum():
    assert parse_loss_spec("corr-l1+vgg") == LossSpec(
        (LossTerm("l1"), LossTerm("vgg")), corrwise=True
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "no terms"),
        ("corr-", "no terms"),
        ("l1+", "empty term"),
        ("l1++vgg", "empty term"),
        ("ssim", "unknown loss 'ssim'"),
        ("0*l1", "positive"),
        ("-1*l1", "cannot read|positive"),
        ("nan*l1", "positive"),
        ("x*l1", "not a number"),
        ("l1+corr-l1", "corr- may appear once"),
        ("corr-corr-l1", "corr- may appear once"),
        ("l1+l1", "appears twice"),
        ("l1*0.5", "cannot read"),
    ],
)
def test_bad_specs_raise_spec_error_listing_what_is_valid(text, problem):
    with pytest.raises(SpecError, match=problem) as info:
        parse_loss_spec(text)
    assert all(name in str(info.value) for name in BASE_TERMS)
    assert "corr-l1+vgg" in str(info.value)


def test_corr_options_on_a_pixelwise_spec_are_refused():
    with pytest.raises(SpecError, match="pixel-wise"):
        build_loss("l1", eps=0.2)


# -- base losses ----------------------------------------------------------------------------


def test_pixelwise_l1_and_mse_match_torch():
    pred, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    loss, logs = build_loss("l1+0.5*mse")(pred, target)
    l1, mse = F.l1_loss(pred, target), F.mse_loss(pred, target)
    torch.testing.assert_close(loss, l1 + 0.5 * mse)
    torch.testing.assert_close(logs["l1"], l1)
    torch.testing.assert_close(logs["mse"], mse)
    assert not logs["loss"].requires_grad


def test_vgg_map_mean_is_the_pix2pixhd_loss():
    torch.manual_seed(0)
    vgg = VGGFeatureLoss(pretrained=False)
    x, y = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)  # multiples of 16: exact mean
    features = torch.nn.Sequential(*[m for s in vgg.slices for m in s])
    expected, hx, hy = 0.0, x * 2 - 1, y * 2 - 1
    for end, (start, weight) in zip(
        vgg.SLICE_ENDS, zip((0, 2, 7, 12, 21), vgg.LAYER_WEIGHTS, strict=True), strict=True
    ):
        hx, hy = features[start:end](hx), features[start:end](hy)
        expected = expected + weight * F.l1_loss(hx, hy)
    out = vgg(x, y)
    assert out.shape == (2, 1, 32, 48)
    torch.testing.assert_close(out.mean(), expected, rtol=1e-5, atol=1e-7)
    assert vgg(x, x).abs().max() == 0


def test_vgg_loads_the_trunk_from_the_cache_file(monkeypatch):
    trunk = make_layers(cfgs["E"])
    state = {f"features.{k}": v for k, v in trunk.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(1)  # ignored: only the trunk is built
    monkeypatch.setattr(
        weights, "load_state_dict", lambda name: state if name == "vgg19" else 1 / 0
    )
    vgg = VGGFeatureLoss(pretrained=True)
    torch.testing.assert_close(vgg.slices[4][-2].weight, trunk[28].weight)  # conv5_1


def test_lpips_offline_uses_the_packaged_linear_layers_and_gives_a_map():
    import lpips as lpips_package

    model = LPIPSLoss(net="alex", pretrained=False)
    packaged = torch.load(
        f"{lpips_package.__path__[0]}/weights/v0.1/alex.pth", map_location="cpu", weights_only=True
    )
    torch.testing.assert_close(model.model.lin0.model[1].weight, packaged["lin0.model.1.weight"])
    x, y = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    out = model(x, y)
    assert out.shape == (2, 1, 64, 64) and out.mean() > 0
    assert model(x, x).abs().max() == 0
    model.train()  # must stay in eval: LPIPS' dropout would make the loss random
    torch.testing.assert_close(model(x, y), out)


def test_lpips_loads_the_alexnet_trunk_from_the_cache_file(monkeypatch):
    state = {k: v for k, v in alexnet(weights=None).features.state_dict().items()}
    state = {f"features.{k}": v for k, v in state.items()}
    monkeypatch.setattr(weights, "load_state_dict", lambda name: state)
    model = LPIPSLoss(net="alex", pretrained=True)
    trunk = model.model.net
    torch.testing.assert_close(trunk.slice5.get_submodule("10").weight, state["features.10.weight"])
    torch.testing.assert_close(trunk.slice1.get_submodule("0").weight, state["features.0.weight"])


@pytest.mark.parametrize("spec, name", [("vgg", "vgg19"), ("corr-l1+lpips", "lpips-alex")])
def test_missing_weights_name_the_fix(hub_dir, spec, name):
    with pytest.raises(WeightsMissingError, match=f"vidpred weights fetch {name}"):
        build_loss(spec, flow="dis")


# -- the correspondence-wise wrapper --------------------------------------------------------


@pytest.mark.parametrize("spec", ["l1", "mse", "corr-l1", "corr-mse", "corr-l1+vgg+lpips"])
def test_perfect_prediction_costs_nothing(spec):
    x = textured(64, 64)
    loss, logs = build_loss(spec, flow="dis", pretrained=False)(x, x.clone())
    # Exactly 0 pixel-wise; corr-wise, the zero-flow warp is the identity to float precision.
    assert loss.item() == pytest.approx(0, abs=0 if spec in ("l1", "mse") else 1e-6)
    assert all(v.item() == pytest.approx(0, abs=1e-6) for v in logs.values())


def test_corr_l1_aligns_a_shifted_copy():
    target, pred = textured(128, 128), textured(128, 128, 4.0, 0.0)
    dis = DISFlow()
    l1 = build_loss("l1")(pred, target)[0]
    # Aligned exactly (eps = 0), only DIS's error and the borders the shift uncovers remain.
    aligned = build_loss("corr-l1", flow=dis, eps=0.0)(pred, target)[0]
    assert aligned < l1 / 10
    # With the paper's eps = 0.1 a tenth of the shift is left in each of the two directions.
    loss, logs = build_loss("corr-l1", flow=dis)(pred, target)
    tenth = build_loss("l1")(textured(128, 128, 0.4, 0.0), target)[0]
    assert loss == pytest.approx(2 * tenth.item(), rel=0.3)
    assert logs["flow_mag"].item() == pytest.approx(4.0, abs=0.2)


def test_both_directions_is_the_sum_of_each():
    target, pred = textured(64, 64), textured(64, 64, 2.0, -1.0)
    dis = DISFlow()
    both = build_loss("corr-l1", flow=dis)(pred, target)[0]
    p_on_t = build_loss("corr-l1", flow=dis, directions="prediction-onto-target")(pred, target)[0]
    t_on_p = build_loss("corr-l1", flow=dis, directions="target-onto-prediction")(pred, target)[0]
    torch.testing.assert_close(both, p_on_t + t_on_p)
    assert p_on_t > 0 and t_on_p > 0


def test_warps_prediction_onto_target_with_the_flow_from_target():
    target, pred = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    calls = []

    def flow(reference, other):
        calls.append((reference, other))
        return torch.full((reference.shape[0], 2, 16, 16), 2.0)

    loss, _ = corrwise_loss(pred, target, base=l1_map, flow=flow, eps=0.5, directions="both")
    ((reference, other),) = calls
    torch.testing.assert_close(reference, torch.cat((target, pred)))
    torch.testing.assert_close(other, torch.cat((pred, target)))
    from vidpred.flow.warping import warp

    shift = torch.full((1, 2, 16, 16), 1.0)  # 2 px scaled by 1 - eps
    expected = l1_map(warp(pred, shift), target).mean() + l1_map(warp(target, shift), pred).mean()
    torch.testing.assert_close(loss, expected)


def test_time_is_folded_into_the_batch():
    target, pred = torch.rand(2, 3, 3, 24, 24), torch.rand(2, 3, 3, 24, 24)
    loss_fn = build_loss("corr-l1", flow="dis")
    folded = loss_fn(pred.flatten(0, 1), target.flatten(0, 1))[0]
    torch.testing.assert_close(loss_fn(pred, target)[0], folded)


def test_gradient_reaches_the_prediction_but_not_the_flow():
    target = textured(48, 48)
    pred = textured(48, 48, 1.0, 0.0).requires_grad_(True)
    loss, _ = build_loss("corr-l1", flow="dis")(pred, target)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_occlusion_mask_leaves_out_pixels_whose_flow_does_not_come_back():
    target, pred = torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12)
    inside = torch.zeros(1, 1, 12, 12, dtype=torch.bool)
    inside[..., 4:8, 4:8] = True

    def flow(reference, other):  # target -> prediction moves a square; the reverse says static
        flows = torch.zeros(reference.shape[0], 2, 12, 12)
        flows[0, 0][inside[0, 0]] = 3.0
        return flows

    loss, logs = corrwise_loss(pred, target, base=l1_map, flow=flow, occlusion_mask=True)
    outside = l1_map(pred, target)[~inside].mean()
    torch.testing.assert_close(loss, 2 * outside)  # both directions drop exactly the square
    assert logs["visible"].item() == pytest.approx(1 - 16 / 144)


def test_flow_magnitude_penalty_needs_a_differentiable_undetached_flow():
    with pytest.raises(ValueError, match="detach_flow=False"):
        build_loss("corr-l1", flow="dis", flow_mag_weight=0.1, detach_flow=False)
    with pytest.raises(ValueError, match="detach_flow=False"):
        corrwise_loss(
            torch.rand(1, 3, 8, 8),
            torch.rand(1, 3, 8, 8),
            base=l1_map,
            flow=DISFlow(),
            flow_mag_weight=0.1,
        )
    raft = RAFTFlow(pretrained=False, num_flow_updates=1)
    loss_fn = build_loss("corr-l1", flow=raft, flow_mag_weight=1.0, detach_flow=False)
    pred = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss, logs = loss_fn(pred, torch.rand(1, 3, 16, 16))
    assert logs["flow_mag_penalty"] > 0
    loss.backward()
    assert pred.grad.abs().sum() > 0


def test_module_equals_function():
    target, pred = textured(32, 32), textured(32, 32, 1.5, 0.5)
    dis, base = DISFlow(), build_base(parse_loss_spec("l1+mse"))
    module = CorrWiseLoss(base=base, flow=dis, eps=0.2, directions="target-onto-prediction")
    function = corrwise_loss(
        pred, target, base=base, flow=dis, eps=0.2, directions="target-onto-prediction"
    )
    for got, want in zip(module(pred, target), function, strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(
        PixelWiseLoss(base=base)(pred, target)[0], pixelwise_loss(pred, target, base=base)[0]
    )


def test_built_losses_report_their_flow_backend(hub_dir):
    assert build_loss("corr-l1").flow_backend == "dis"  # auto, no RAFT weights here
    assert build_loss("l1").flow_backend is None
    assert build_loss("corr-l1", device="cpu").flow_backend == "dis"


def test_bad_input_raises_value_error_with_shapes():
    loss_fn = build_loss("l1")
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\) and \(1, 3, 8, 9\)"):
        loss_fn(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="float"):
        loss_fn(
            torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
        )
    with pytest.raises(ValueError, match="directions"):
        build_loss("corr-l1", flow="dis", directions="forward")

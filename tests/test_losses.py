import pytest
import torch
import torch.nn.functional as F
from conftest import textured
from torchvision.models import alexnet
from torchvision.models.vgg import cfgs, make_layers

from vidpred import weights
from vidpred.errors import SpecError, WeightsMissingError
from vidpred.flow.backends import DISFlow, RAFTFlow
from vidpred.flow.warping import warp
from vidpred.losses import (
    BASE_TERMS,
    CorrWiseLoss,
    LossSpec,
    LossTerm,
    LPIPSLoss,
    MapLoss,
    Objective,
    PixelWiseLoss,
    VGGFeatureLoss,
    WeightedSum,
    build_base,
    build_loss,
    corrwise_loss,
    l1_map,
    mse_map,
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
        ("L1 + Corr-L1", "l1+corr-l1"),
        ("1e+3*mse+corr-0.5*l1", "1000*mse+corr-0.5*l1"),
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


def test_terms_before_corr_are_pixelwise():
    spec = parse_loss_spec("0.5*l1+corr-l1+vgg")
    assert spec == LossSpec(
        (LossTerm("l1"), LossTerm("vgg")), corrwise=True, pixel_terms=(LossTerm("l1", 0.5),)
    )
    assert str(spec.pixel_part) == "0.5*l1" and spec.weights_needed == ("vgg19",)
    with pytest.raises(ValueError, match="corr-wise"):
        LossSpec((LossTerm("l1"),), pixel_terms=(LossTerm("mse"),))


def test_a_mixed_spec_is_the_sum_of_its_pixelwise_and_corrwise_parts():
    target, pred = textured(32, 32), textured(32, 32, 1.5, 0.5)
    pred.requires_grad_(True)
    mixed = build_loss("0.5*mse+corr-l1", flow="dis")
    loss, logs = mixed(pred, target)
    corr, _ = build_loss("corr-l1", flow="dis")(pred, target)
    pixel, _ = build_loss("0.5*mse")(pred, target)
    torch.testing.assert_close(loss, corr + pixel)
    torch.testing.assert_close(logs["corr_loss"], corr.detach())
    torch.testing.assert_close(logs["pixel_mse"], F.mse_loss(pred, target).detach())
    assert logs["loss"] == loss.detach() and mixed.flow_backend == "dis"
    (grad,) = torch.autograd.grad(loss, pred)
    (grad_corr,) = torch.autograd.grad(corr, pred)
    torch.testing.assert_close(grad - grad_corr, (pred - target).detach() / pred.numel())


def test_a_mixed_spec_is_no_base_loss():
    with pytest.raises(SpecError, match="must be pixel-wise"):
        CorrWiseLoss(base="l1+corr-l1")


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
        ("corr-l1+corr-l1", "corr- may appear once"),
        ("corr-corr-l1", "corr- may appear once"),
        ("corr-l1+l1", r"l1 appears twice.*l1\+corr-\.\.\. adds l1"),
        ("mse+l2+corr-l1", "mse appears twice"),
        ("l1corr-l1", "cannot read term"),
        ("+corr-l1", "empty term"),
        ("l1+corr-", "no terms"),
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
    shift = torch.full((1, 2, 16, 16), 1.0)  # 2 px scaled by 1 - eps
    expected = l1_map(warp(pred, shift), target).mean() + l1_map(warp(target, shift), pred).mean()
    torch.testing.assert_close(loss, expected)


def test_time_is_folded_into_the_batch():
    target, pred = torch.rand(2, 3, 3, 24, 24), torch.rand(2, 3, 3, 24, 24)
    loss_fn = build_loss("corr-l1", flow="dis")
    folded = loss_fn(pred.flatten(0, 1), target.flatten(0, 1))[0]
    torch.testing.assert_close(loss_fn(pred, target)[0], folded)


def test_gradient_reaches_the_prediction_but_not_the_flow():
    target, start = textured(48, 48), textured(48, 48, 1.0, 0.0)
    inputs_had_grad = []

    def flow(reference, other):  # differentiable in both images, so a leak would show
        inputs_had_grad.append(reference.requires_grad or other.requires_grad)
        shift = 20 * (other - reference).mean((1, 2, 3))  # (N,)
        return shift.view(-1, 1, 1, 1).expand(-1, 2, 48, 48)  # (N, 2, H, W)

    def gradient(flow, detach_flow=True):
        pred = start.clone().requires_grad_(True)
        loss, _ = corrwise_loss(pred, target, base=l1_map, flow=flow, detach_flow=detach_flow)
        loss.backward()
        return pred.grad

    detached = gradient(flow)
    assert inputs_had_grad == [False]
    assert torch.isfinite(detached).all() and detached.abs().sum() > 0
    # The same as warping with the flow frozen to a constant ...
    constant = flow(torch.cat((target, start)), torch.cat((start, target)))
    torch.testing.assert_close(detached, gradient(lambda r, o: constant))
    # ... and not what the flow's own gradient adds when it is not detached.
    assert not torch.allclose(gradient(flow, detach_flow=False), detached)
    # The real thing: DIS through the default module.
    pred = start.clone().requires_grad_(True)
    CorrWiseLoss()(pred, target).backward()
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
    torch.testing.assert_close(module(pred, target), function[0])
    loss, logs = module.loss_and_logs(pred, target)
    torch.testing.assert_close(loss, function[0])
    assert logs.keys() == function[1].keys()
    for name, value in logs.items():
        torch.testing.assert_close(value, function[1][name])
    pixel = PixelWiseLoss(base=base)
    torch.testing.assert_close(pixel(pred, target), pixelwise_loss(pred, target, base=base)[0])


# -- the Python API: drop-in modules ---------------------------------------------------------


def test_corrwise_loss_defaults_are_the_authors_with_dis_flow():
    crit = CorrWiseLoss()
    assert (crit.eps, crit.directions, crit.detach_flow) == (0.1, "both", True)
    assert (crit.padding_mode, crit.occlusion_mask, crit.flow_mag_weight) == ("reflection", 0, 0)
    assert crit.flow_backend == "dis" and isinstance(crit.flow, DISFlow)
    target, pred = textured(32, 32), textured(32, 32, 1.5, 0.5)
    loss = crit(pred, target)
    assert isinstance(loss, torch.Tensor) and loss.shape == ()
    explicit = corrwise_loss(pred, target, base=l1_map, flow=DISFlow())[0]
    torch.testing.assert_close(loss, explicit)


def test_base_is_a_spec_a_module_or_a_function():
    target, pred = textured(32, 32), textured(32, 32, 1.5, 0.5)
    flow = DISFlow()
    by_spec = CorrWiseLoss(base="l1+0.5*mse", flow=flow)(pred, target)
    weighted = WeightedSum(terms=[("l1", 1.0, MapLoss(l1_map)), ("mse", 0.5, MapLoss(mse_map))])
    by_module = CorrWiseLoss(base=weighted, flow=flow)(pred, target)
    torch.testing.assert_close(by_spec, by_module)
    by_function = CorrWiseLoss(base=l1_map, flow=flow)(pred, target)
    # A base that reduces by itself works too (without the occlusion mask).
    by_reducing_module = CorrWiseLoss(base=torch.nn.L1Loss(), flow=flow)(pred, target)
    torch.testing.assert_close(by_reducing_module, by_function)
    with pytest.raises(ValueError, match="per-pixel map"):
        CorrWiseLoss(base=torch.nn.L1Loss(), flow=flow, occlusion_mask=True)(pred, target)
    torch.testing.assert_close(PixelWiseLoss(base="mse")(pred, target), F.mse_loss(pred, target))
    torch.testing.assert_close(PixelWiseLoss()(pred, target), F.l1_loss(pred, target))
    with pytest.raises(SpecError, match="must be pixel-wise.*base='l1'"):
        CorrWiseLoss(base="corr-l1")
    with pytest.raises(TypeError, match="base must be"):
        CorrWiseLoss(base=3)


def test_flow_is_a_backend_name_an_estimator_or_a_function(hub_dir):
    assert CorrWiseLoss(flow="auto").flow_backend == "dis"  # no RAFT weights here
    raft = RAFTFlow(pretrained=False, num_flow_updates=1)
    assert CorrWiseLoss(flow=raft).flow_backend == "raft-small"

    def still(reference, other):
        return reference.new_zeros(reference.shape[0], 2, *reference.shape[-2:])

    crit = CorrWiseLoss(flow=still)
    assert crit.flow_backend == "still"
    pred, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(crit(pred, target), 2 * F.l1_loss(pred, target))  # zero flow
    with pytest.raises(WeightsMissingError, match="vidpred weights fetch raft-large"):
        CorrWiseLoss(flow="raft-large")
    with pytest.raises(TypeError, match="flow must be"):
        CorrWiseLoss(flow=0.5)
    with pytest.raises(ValueError, match="eps"):
        CorrWiseLoss(eps=1.5)


def test_authors_l1_plus_vgg_is_corr_l1_plus_half_vgg_in_our_units():
    """dangeng/CorrWiseLosses: images in [-1, 1]; `PixelwiseLosses` averages VGGLoss and
    nn.L1Loss; `CorrWise` warps with `normalize_flow` + `grid_sample` and sums the directions.
    Computed here from scratch in their units, it equals vidpred's `corr-l1+0.5*vgg` on the
    same images in [0, 1]."""
    torch.manual_seed(0)
    H, W = 32, 48  # multiples of 16: the VGG map's mean is pix2pixHD's loss exactly
    vgg = VGGFeatureLoss(pretrained=False)
    target, pred = textured(H, W), textured(H, W, 1.5, -0.5, seed=2)
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    field = torch.stack([1.5 + 0.5 * torch.sin(y / 5.0), -0.5 + 0.4 * torch.cos(x / 7.0)])

    def flow(reference, other):
        return field.expand(reference.shape[0], -1, -1, -1)  # (N, 2, H, W)

    def their_warp(im, flow):  # flow_utils.normalize_flow + warp
        base = torch.stack((x, y)).float()  # (2, H, W)
        size = torch.tensor([W, H]).float()
        grid = -1 + 2.0 * (flow + base) / (size - 1)[:, None, None]  # (N, 2, H, W)
        grid = grid.permute(0, 2, 3, 1)  # (N, H, W, 2)
        return F.grid_sample(im, grid, padding_mode="reflection", align_corners=True)

    def their_base(a, b):  # (VGGLoss + L1Loss) / 2 on [-1, 1] images
        perceptual, ha, hb = 0.0, a, b
        for block, weight in zip(vgg.slices, vgg.LAYER_WEIGHTS, strict=True):
            ha, hb = block(ha), block(hb)
            perceptual = perceptual + weight * F.l1_loss(ha, hb)
        return (perceptual + F.l1_loss(a, b)) / 2

    p, t = pred * 2 - 1, target * 2 - 1
    flow_t, flow_p = flow(t, p) * 0.9, flow(p, t) * 0.9  # epsilon 0.1
    theirs = their_base(their_warp(p, flow_t), t) + their_base(their_warp(t, flow_p), p)

    def ours(spec):
        weights = {t.name: t.weight for t in parse_loss_spec(spec).terms}
        base = WeightedSum(terms=[("l1", weights["l1"], MapLoss(l1_map)), ("vgg", 0.5, vgg)])
        return CorrWiseLoss(base=base, flow=flow)(pred, target)

    torch.testing.assert_close(ours("corr-l1+0.5*vgg"), theirs, rtol=1e-5, atol=1e-6)
    assert ours("corr-0.5*l1+0.5*vgg") < 0.9 * theirs  # what the docs used to say


def test_objective_returns_the_logs_and_names_the_flow():
    objective = build_loss("corr-l1", flow="dis")
    assert isinstance(objective, Objective) and isinstance(objective.loss, CorrWiseLoss)
    target, pred = textured(32, 32), textured(32, 32, 1.0, 0.0)
    loss, logs = objective(pred, target)
    torch.testing.assert_close(loss, objective.loss(pred, target))
    assert {"loss", "l1", "flow_mag"} <= set(logs) and objective.flow_backend == "dis"
    assert build_loss("l1").flow_backend is None


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

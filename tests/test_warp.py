import pytest
import torch

from vidpred.flow.warping import (
    PADDING_MODES,
    coords_grid,
    fb_consistency_mask,
    flow_to_sampling_grid,
    splat,
    warp,
)


def test_coords_grid_is_x_first_ij_indexed():
    grid = coords_grid(3, 4)
    assert grid.shape == (2, 3, 4)
    assert grid[:, 2, 1].tolist() == [1.0, 2.0]  # (x, y) of row 2, column 1


def test_sampling_grid_maps_pixel_centres_to_minus_one_and_one():
    grid = flow_to_sampling_grid(torch.zeros(1, 2, 3, 5))
    assert grid.shape == (1, 3, 5, 2)
    assert grid[0, 0, 0].tolist() == [-1.0, -1.0]
    assert grid[0, -1, -1].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_zero_flow_is_the_identity(padding_mode):
    image = torch.rand(2, 3, 7, 9)
    out = warp(image, torch.zeros(2, 2, 7, 9), padding_mode=padding_mode)
    torch.testing.assert_close(out, image, rtol=0, atol=1e-6)


def test_integer_flow_samples_the_shifted_pixels():
    image = torch.rand(1, 3, 8, 10)
    flow = torch.zeros(1, 2, 8, 10)
    flow[:, 0], flow[:, 1] = 2.0, 1.0  # out(y, x) = image(y + 1, x + 2)
    out = warp(image, flow)
    torch.testing.assert_close(out[..., :-1, :-2], image[..., 1:, 2:], rtol=0, atol=1e-6)


def test_reflection_padding_mirrors_at_the_border():
    image = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 3, 5).contiguous()
    flow = torch.zeros(1, 2, 3, 5)
    flow[:, 0] = -1.0  # column 0 reads x = -1, mirrored (align_corners=True) onto x = 1
    assert warp(image, flow)[0, 0, 0].tolist() == pytest.approx([1, 0, 1, 2, 3])


def test_bad_shapes_raise_with_the_shape():
    with pytest.raises(ValueError, match=r"\(1, 2, 4, 4\)"):
        warp(torch.rand(1, 3, 5, 5), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="padding_mode"):
        warp(torch.rand(1, 3, 4, 4), torch.zeros(1, 2, 4, 4), padding_mode="wrap")
    with pytest.raises(ValueError, match=r"\(3, 4, 4\)"):
        warp(torch.rand(3, 4, 4), torch.zeros(1, 2, 4, 4))


@pytest.mark.parametrize("padding_mode", ["reflection", "border"])
def test_gradcheck_float64(padding_mode):
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 2, 5, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    # Non-integer offsets keep every sample away from bilinear's kinks at pixel centres.
    flow = torch.rand(1, 2, 5, 6, dtype=torch.float64, generator=gen) * 2.6 - 1.3 + 0.05
    flow.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda i, f: warp(i, f, padding_mode=padding_mode), (image, flow), eps=1e-6, atol=1e-5
    )


def test_fb_consistency_keeps_consistent_and_drops_inconsistent_pixels():
    forward = torch.zeros(1, 2, 6, 6)
    forward[:, 0] = 3.0
    consistent = fb_consistency_mask(forward, -forward)
    assert consistent.shape == (1, 1, 6, 6) and consistent.min() == 1
    assert fb_consistency_mask(forward, forward).max() == 0  # goes 3 px right twice
    region = torch.zeros(1, 2, 6, 6)
    region[:, 0, 2:4, 2:4] = 3.0  # only these pixels move, the reverse flow says nothing moves
    mask = fb_consistency_mask(region, torch.zeros_like(region))
    assert mask[0, 0, 2:4, 2:4].max() == 0 and mask.sum() == 36 - 4


def test_splat_moves_content_by_an_integer_flow_exactly():
    image = torch.rand(2, 3, 8, 10)
    flow = torch.zeros(2, 2, 8, 10)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # right 2, up 1
    moved, weight = splat(image, flow)
    torch.testing.assert_close(moved[..., :7, 2:], image[..., 1:, :8], atol=1e-6, rtol=0)
    assert (weight[..., :7, 2:] == 1).all()
    # what left the image is gone; what nothing landed on is a hole: weight 0, frame 0
    assert (weight[..., 7:, :] == 0).all() and (weight[..., :, :2] == 0).all()
    assert (moved[..., :, :2] == 0).all()


def test_splat_shares_a_fractional_flow_and_keeps_the_mass():
    image = torch.rand(1, 1, 6, 6)
    flow = torch.full((1, 2, 6, 6), 0.0)
    flow[:, 0, 2:4, 2:4] = 0.25  # the centre moves a quarter pixel right, all inside the image
    moved, weight = splat(image, flow)
    torch.testing.assert_close((moved * weight).sum(), image.sum(), atol=1e-5, rtol=0)
    torch.testing.assert_close(weight.sum(), torch.tensor(36.0), atol=1e-5, rtol=0)
    # three quarters of a moved pixel stay; a quarter lands on its right neighbour
    assert weight[0, 0, 2, 2] == 0.75 and weight[0, 0, 2, 4] == 1.25

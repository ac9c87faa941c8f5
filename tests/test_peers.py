"""diffusers and ComfyUI as their users run them (peers.md), and the comparison built on them.

Numbers marked "peers.md" are the spec's, worked against the real pipelines and node code."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaint_init import InitParams, expand_crop_region, get_crop_region, run_init
from inpaint_init.compare import PeerSettings, change_map, compare
from inpaint_init.peers import (
    comfy_grow_mask,
    comfy_prepare,
    comfy_vae_encode_for_inpaint,
    diffusers_prepare,
    differential_diffusion_masks,
    latent_mask_rules,
    repaint_map,
)


def rect_mask(size, box):
    m = Image.new("L", size)
    m.paste(255, box)
    return m


def grey(size):
    return Image.new("RGB", size, "gray")


class TestDiffusers:
    def test_binarises_at_half(self):
        m = Image.fromarray(np.tile(np.array([127, 128], np.uint8), (16, 8)))
        prep = diffusers_prepare(grey((16, 16)), m, 16, 16)
        assert prep.pixel_mask[0, 0, 0, :2].tolist() == [0.0, 1.0]

    def test_blur_keeps_a_straight_edge(self):
        # A symmetric blur crosses 0.5 exactly at a straight edge: binarising after it keeps the edge.
        m = rect_mask((64, 64), (0, 0, 32, 64))
        assert torch.equal(diffusers_prepare(grey((64, 64)), m, 64, 64).pixel_mask, diffusers_prepare(grey((64, 64)), m, 64, 64, blur_factor=8).pixel_mask)

    def test_blur_erodes_a_rectangle_peers_numbers(self):
        # peers.md: a 45×75 rectangle, 451×300 → 512², loses ~3/~9/~35 of its 112 cells at blur 4/8/16.
        m = rect_mask((451, 300), (203, 111, 248, 186))
        cells = [int(diffusers_prepare(grey((451, 300)), m, 512, 512, blur_factor=b or None).latent_mask.sum()) for b in (0, 4, 8, 16)]
        assert cells[0] == 112
        lost = [cells[0] - c for c in cells[1:]]
        assert 1 <= lost[0] <= 5 and 6 <= lost[1] <= 13 and 28 <= lost[2] <= 42
        assert lost == sorted(lost)

    def test_blur_removes_a_thin_stroke(self):
        # peers.md: a 3 px stroke vanishes at blur 2-4
        m = rect_mask((451, 300), (100, 50, 103, 250))
        sums = [int(diffusers_prepare(grey((451, 300)), m, 512, 512, blur_factor=b or None).pixel_mask.sum()) for b in (0, 4)]
        assert sums[0] > 0 and sums[1] == 0

    def test_nearest_latent_mask_takes_the_top_left_pixel(self):
        m = np.zeros((16, 16), np.uint8)
        m[0, 0] = 255  # top-left pixel of cell (0, 0)
        m[8 + 4, 8 + 4] = 255  # centre of cell (1, 1)
        prep = diffusers_prepare(Image.new("RGB", (16, 16)), Image.fromarray(m), 16, 16)
        assert prep.latent_mask[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]

    def test_masked_image_for_9_channels_is_zero_under_the_mask(self):
        img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
        m = rect_mask((16, 16), (0, 0, 8, 16))
        prep = diffusers_prepare(img, m, 16, 16, unet_channels=9)
        assert prep.masked_image[..., :8].abs().max() == 0 and torch.equal(prep.masked_image[..., 8:], prep.image[..., 8:])
        assert diffusers_prepare(img, m, 16, 16).masked_image is None  # a 4-channel UNet has none

    def test_padding_crop_is_the_webui_arithmetic_when_not_clamped(self):
        m = rect_mask((100, 80), (40, 30, 52, 38))
        prep = diffusers_prepare(grey((100, 80)), m, 64, 64, padding_mask_crop=5)
        assert prep.crop_region == expand_crop_region(get_crop_region(np.asarray(m), 5), 64, 64, 100, 80)

    def test_default_size_is_the_unets(self):
        prep = diffusers_prepare(grey((101, 75)), Image.new("L", (101, 75), 255))
        assert prep.image.shape[-2:] == (512, 512)
        xl = diffusers_prepare(grey((101, 75)), Image.new("L", (101, 75), 255), pipeline="sdxl")
        assert xl.image.shape[-2:] == (1024, 1024) and any("0.13025" in n for n in xl.notes)

    def test_size_not_multiple_of_8_is_said(self):
        prep = diffusers_prepare(grey((64, 64)), Image.new("L", (64, 64), 255), 100, 64)
        assert prep.image.shape[-1] == 96 and any("refuses 100×64" in n for n in prep.notes)

    def test_clamped_crop_box_is_letterboxed_not_stretched(self):
        # peers.md: 1000×203, a small rectangle, 256×512, padding 16 → box (404, 0, 537, 203):
        # 5200 px repainted; stretching the W×H result onto the box would give 3952.
        prep = diffusers_prepare(grey((1000, 203)), rect_mask((1000, 203), (420, 80, 521, 130)), 256, 512, padding_mask_crop=16)
        assert prep.crop_region == (404, 0, 537, 203)
        assert int((repaint_map(prep, (1000, 203)) > 0.5).sum()) == 5200
        cells = Image.fromarray((prep.latent_mask[0, 0].numpy() * 255).astype(np.uint8)).resize((256, 512), Image.NEAREST)
        stretched = np.asarray(cells.resize((133, 203), Image.NEAREST)) > 127
        assert int(stretched.sum()) == 3952

    @pytest.mark.parametrize("unet, strength, init_from, pinned", [(4, None, "original", True), (9, None, "none", False), (9, 0.5, "original", False)])
    def test_what_the_pipeline_does_with_the_latents(self, unet, strength, init_from, pinned):
        prep = diffusers_prepare(grey((64, 64)), rect_mask((64, 64), (8, 8, 40, 40)), 64, 64, unet_channels=unet, strength=strength)
        assert (prep.init_latent_from, prep.latents_pinned, prep.pasted_back) == (init_from, pinned, False)

    def test_sdxl_default_strength_always_encodes_the_original(self):
        prep = diffusers_prepare(grey((64, 64)), rect_mask((64, 64), (8, 8, 40, 40)), 64, 64, pipeline="sdxl", unet_channels=9)
        assert prep.init_latent_from == "original" and not prep.latents_pinned


class TestComfy:
    def test_grey_fill_and_grown_noise_mask(self):
        img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
        m = np.zeros((32, 32), np.uint8)
        m[10, 10] = 255
        prep = comfy_vae_encode_for_inpaint(img, Image.fromarray(m), grow_mask_by=6)
        assert prep.image[0, :, 10, 10].tolist() == [0.0, 0.0, 0.0]  # 0.5 grey in [-1, 1]
        assert prep.image[0, :, 10, 11].abs().sum() > 0  # the grown ring keeps its pixels
        # padding ceil(5/2) = 3: output i sums inputs i-3 … i+2, so pixel 10 reaches outputs 8 … 13.
        rows = torch.nonzero(prep.pixel_mask[0, 0].sum(1)).flatten().tolist()
        assert rows == list(range(8, 14)) and prep.pixel_mask.sum() == 36
        assert any("ring (35 px)" in w for w in prep.why)

    def test_no_growth_and_centre_crop(self):
        prep = comfy_vae_encode_for_inpaint(Image.new("RGB", (451, 300)), Image.new("L", (451, 300), 255), grow_mask_by=0)
        assert prep.image.shape[-2:] == (296, 448) and prep.placement == ("offset", (1, 2))

    def test_offset_zero_is_pasted_not_stretched(self):
        # peers.md: 513×385 → 512×384 at (0, 0); the last row and column are never repainted.
        prep = comfy_vae_encode_for_inpaint(grey((513, 385)), Image.new("L", (513, 385), 255), grow_mask_by=0)
        assert prep.placement == ("offset", (0, 0))
        mapped = repaint_map(prep, (513, 385))
        assert int(mapped.sum()) == 512 * 384 and mapped[-1].max() == 0 and mapped[:, -1].max() == 0
        levels = change_map(prep, (513, 385))
        assert levels[-1].tolist() == [3] * 513 and int((levels == 3).sum()) == 513 + 385 - 1

    def test_round_is_half_to_even(self):
        m = Image.fromarray(np.full((16, 16), 128, np.uint8))  # 128/255 > 0.5 → 1
        half = torch.full((1, 1, 2, 2), 0.5)
        assert torch.round(half).max() == 0
        assert comfy_prepare(grey((16, 16)), m, grow_mask_by=0).pixel_mask.min() == 1

    def test_inpaint_model_conditioning_keeps_the_original_and_the_soft_mask(self):
        img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8))
        soft = np.zeros((32, 32), np.uint8)
        soft[8:24, 8:24] = 100
        prep = comfy_prepare(img, Image.fromarray(soft), "inpaint_model_conditioning", unet_channels=9)
        original = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None] * 2 - 1
        assert torch.allclose(prep.image, original)
        assert prep.pixel_mask.max() == pytest.approx(100 / 255)  # neither rounded nor grown
        assert prep.masked_image is not None and torch.equal(prep.masked_image, prep.image)  # round(100/255) = 0: nothing greyed
        assert set(prep.concat_mask.unique().tolist()) <= {0.0, 1.0}
        off = comfy_prepare(img, Image.fromarray(soft), "inpaint_model_conditioning", noise_mask=False)
        assert not off.latents_pinned and change_map(off, (32, 32)).min() == 2

    def test_set_latent_noise_mask(self):
        prep = comfy_prepare(grey((32, 32)), rect_mask((32, 32), (0, 0, 16, 32)), "set_latent_noise_mask")
        assert prep.init_latent_from == "original" and prep.latents_pinned
        # bilinear to latent size: the cell straddling the edge is 0.5
        assert prep.latent_mask[0, 0, 0].tolist() == [1.0, 1.0, 0.0, 0.0]

    def test_bilinear_of_a_binary_edge_gives_quarters(self):
        # peers.md: for a binary mask a multiple of 8, the mean of each cell's 2×2 central pixels.
        m2 = np.zeros((16, 16), np.uint8)
        m2[3:4, 3:4] = 255  # one central pixel of cell (0, 0): 1 of its 4 central pixels
        prep = comfy_prepare(grey((16, 16)), Image.fromarray(m2), "set_latent_noise_mask")
        assert prep.latent_mask[0, 0, 0, 0].item() == 0.25

    def test_grow_mask_node_diamond_and_square(self):
        m = torch.zeros(9, 9)
        m[4, 4] = 1
        diamond = comfy_grow_mask(m, 2, tapered_corners=True)
        square = comfy_grow_mask(m, 2, tapered_corners=False)
        assert int(diamond.sum()) == 13 and int(square.sum()) == 25  # |dx|+|dy| ≤ 2 vs a 5×5 box
        assert torch.equal(comfy_grow_mask(square, -2, tapered_corners=False), m)
        soft = torch.zeros(5, 5)
        soft[2, 2] = 0.4
        assert comfy_grow_mask(soft, 1).max() == pytest.approx(0.4)  # grey dilation keeps values

    def test_differential_diffusion(self):
        # A value v is free for the last ~v of the schedule.
        cells = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
        masks = differential_diffusion_masks(cells, 5)  # thresholds 1, .75, .5, .25, 0
        assert masks.sum(0)[0].tolist() == [1.0, 2.0, 3.0, 5.0]
        mixed = differential_diffusion_masks(cells, 5, strength=0.5)
        assert mixed[0, 0].tolist() == [0.0, 0.125, 0.25, 1.0]


def test_latent_mask_rules_on_one_cell():
    m = np.zeros((16, 16), np.uint8)
    m[0, 0] = 255  # one pixel in the top-left corner of cell (0, 0)
    rules = latent_mask_rules(Image.fromarray(m))
    assert rules["nearest"][0, 0] == 1 and rules["max over cell"][0, 0] == 1
    assert rules["bicubic + round"][0, 0] == 0 and rules["bilinear"][0, 0] == 0  # bilinear samples the cell centre


def test_compare_agrees_on_a_grid_aligned_block_and_differs_with_blur():
    img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    m = rect_mask((64, 64), (16, 16, 48, 40))
    r = run_init(img, m, InitParams(width=64, height=64, mask_blur_x=0, mask_blur_y=0, seed=1))
    c = compare(r, img, settings=PeerSettings(grow_mask_by=0, unet_channels=9))
    assert "| diffusers | 64×64 | 768 | 0 |" in c.table and "| ComfyUI | 64×64 | 768 | 0 |" in c.table
    r = run_init(img, m, InitParams(width=64, height=64, mask_blur_x=16, mask_blur_y=16, seed=1))
    assert "| diffusers | 64×64 | 768 | 0 |" not in compare(r, img, grow_mask_by=0).table
    assert {"webui_encoded", "webui_change", "diffusers_encoded", "diffusers_masked", "comfyui_encoded", "comfyui_change", "latent_rules"} <= set(c.views)


def test_compare_change_maps_per_tool():
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    m = rect_mask((96, 96), (32, 32, 64, 64))
    r = run_init(img, m, InitParams(width=64, height=64, seed=1, mask_blur_x=4, mask_blur_y=4))
    c = compare(r, img)
    # webui: the overlay restores everything outside the blur ring exactly
    assert "| webui |" in c.table
    webui = np.asarray(c.views["webui_change"].image)
    assert (webui[0, 0] == 0).all() and (webui[48, 48] == 255).all()
    # diffusers without the crop, 4-channel: outside the latent mask only the VAE round trip (grey)
    d = np.asarray(c.views["diffusers_change"].image)
    assert (d[0, 0] == 110).all() and (d[48, 48] == 255).all()
    nine = compare(r, img, settings=PeerSettings(unet_channels=9))
    assert (np.asarray(nine.views["diffusers_change"].image) == 255).all()  # unpinned: anything may change


def test_compare_diffusers_crop_pastes_back_through_the_blurred_mask():
    img = Image.fromarray(np.random.default_rng(4).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    m = rect_mask((96, 96), (32, 32, 64, 64))
    r = run_init(img, m, InitParams(width=64, height=64, seed=1, inpaint_full_res=True, inpaint_full_res_padding=8))
    c = compare(r, img, settings=PeerSettings(blur_factor=8))
    d = np.asarray(c.views["diffusers_change"].image)
    assert (d[0, 0] == 0).all() and (d[48, 48] == 255).all()
    # the blur tail counts: pixels outside the mask where 0 < m, more than the latent repaint
    assert (d[30, 48] == 255).all()
    assert "cells lost" in c.table and "paste-back through the mask as passed" in c.table


@settings(max_examples=25, deadline=None)
@given(
    st.integers(24, 90), st.integers(24, 90), st.integers(0, 2**31), st.sampled_from([0, 2, 8]), st.booleans(),
    st.sampled_from([4, 9]), st.sampled_from(["vae_encode_for_inpaint", "inpaint_model_conditioning", "set_latent_noise_mask"]),
)  # fmt: skip
def test_why_lines_are_true(w, h, seed, blur, full_res, unet, node):
    """Each "why" line is checked against the tensors of the case it describes."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
    m = rect_mask((w, h), (x0, y0, x0 + int(rng.integers(3, w - x0)), y0 + int(rng.integers(3, h - y0))))
    d = diffusers_prepare(img, m, 64, 64, blur_factor=blur or None, padding_mask_crop=4 if full_res else None, unet_channels=unet)
    text = " ".join(d.why)
    assert set(d.pixel_mask.unique().tolist()) <= {0.0, 1.0}  # "binarises at 0.5"
    assert ("no paste-back" in text) == (not d.pasted_back) == (d.crop_region is None)
    if unet == 9:
        assert ("pure noise" in text) == (d.init_latent_from == "none")
        assert (d.masked_image[d.pixel_mask.expand_as(d.masked_image) > 0.5] == 0).all()
    c = comfy_prepare(img, m, node, grow_mask_by=6, unet_channels=unet)
    ctext = " ".join(c.why)
    if node == "vae_encode_for_inpaint":
        # "grey under round(mask), the ungrown mask" (uint8 pixels are never exactly 0.5 grey)
        greyed = (c.image == 0).all(1)[0]
        ox, oy = c.placement[1]
        hh, ww = greyed.shape
        user = torch.from_numpy(np.asarray(m, np.float32)[oy : oy + hh, ox : ox + ww] / 255)
        assert torch.equal(greyed, torch.round(user) > 0)
        assert bool((c.pixel_mask[0, 0][greyed] == 1).all())  # and the noise mask covers it
    else:
        assert c.init_latent_from == "original" and "original" in ctext
    assert "no paste-back" in ctext


def test_a_comfyui_cell_at_exactly_one_half_is_not_counted_as_repainted():
    """#25: cells of 0.5 (half blended) must stay 0.5 in the maps; 1/255 steps made them 0.502."""
    from inpaint_init.compare import repaint_in_image
    from inpaint_init.peers import PeerPrep, repaint_map

    cells = np.zeros((4, 4), np.float32)
    cells[0, :2] = 0.5  # 2 cells half blended
    cells[1, :3] = 1.0  # 3 cells repainted: 3 × 8 × 8 = 192 px
    webui = repaint_in_image(cells, (32, 32), (32, 32))
    assert int((webui > 0.5).sum()) == 192 and set(np.unique(webui)) == {0.0, 0.5, 1.0}
    prep = PeerPrep.__new__(PeerPrep)
    prep.latent_mask = torch.from_numpy(cells)[None, None]
    prep.pixel_mask = torch.zeros(1, 1, 32, 32)
    prep.placement = ("offset", (0, 0))
    comfy = repaint_map(prep, (32, 32))
    assert int((comfy > 0.5).sum()) == 192 and float(comfy[0, 0]) == 0.5

"""Pictures and tables of a result."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from inpaint_init import InitParams, run_init
from inpaint_init.plots import CROP_BOX_COLOURS, checkerboard, draw_crop_boxes, heatmap_grid, lab_histograms, on_checkerboard, tint_cells
from inpaint_init.views import VIEW_NAMES, WHY, render_views, summary_markdown


def test_checkerboard_cells():
    b = np.asarray(checkerboard((16, 8), cell=4))[..., 0]
    assert b[0, 0] == 204 and b[0, 4] == 153 and b[4, 0] == 153 and b[4, 4] == 204


def test_transparent_shows_board_opaque_shows_image():
    rgba = np.zeros((8, 16, 4), np.uint8)
    rgba[:, 8:] = (10, 20, 30, 255)
    out = np.asarray(on_checkerboard(Image.fromarray(rgba), cell=4))
    assert out[0, 0].tolist() == [204] * 3 and out[0, 12].tolist() == [10, 20, 30]


def test_crop_boxes_drawn_on_their_edges():
    img = Image.new("RGB", (100, 80))
    mask = Image.new("L", (100, 80))
    mask.paste(255, (40, 30, 50, 40))
    out = np.asarray(draw_crop_boxes(img, mask, (35, 25, 55, 45), (30, 20, 60, 50)))
    assert out[30, 40].tolist() == list(CROP_BOX_COLOURS["mask"])  # top-left of the mask box
    assert out[44, 54].tolist() == list(CROP_BOX_COLOURS["padded"])  # bottom-right, inside the exclusive end
    assert out[20, 45].tolist() == list(CROP_BOX_COLOURS["expanded"])
    assert out[10, 10].tolist() == [0, 0, 0]


def test_heatmap_shared_scale_and_grid():
    x = torch.tensor([[[1.0]], [[-1.0]], [[0.0]], [[0.5]]])
    img, lo, hi = heatmap_grid(x, cell=2, gap=1, bar_height=3, columns=2)
    a = np.asarray(img)
    assert (lo, hi) == (-1.0, 1.0) and img.size == (5, 2 * 2 + 1 + 1 + 3)
    # Positive is red, negative blue with RdBu_r; the four tiles share one scale.
    assert a[0, 0, 0] > a[0, 0, 2] and a[0, 3, 2] > a[0, 3, 0]


def test_lab_histograms_size():
    lab = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert lab_histograms(lab, lab, size=(128, 50)).size == (3 * 128 + 12, 50)


@pytest.mark.parametrize(
    "p",
    [
        InitParams(width=64, height=64, seed=1),
        InitParams(width=64, height=64, seed=1, inpaint_full_res=True, model_kind="inpainting", color_correction=True, inpainting_fill=2),
        InitParams(width=64, height=64, seed=1, inpaint_full_res=True, mask_blur_x=0, mask_blur_y=0),
    ],
)
def test_render_every_view_with_its_explanation(p):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8))
    mask = Image.new("L", (96, 80))
    mask.paste(255, (30, 20, 60, 50))
    r = run_init(img, mask, p)
    views = render_views(r, img)
    assert set(views) == set(VIEW_NAMES) == set(WHY)
    assert views["decoded"].image.size == (64, 64)
    if p.inpaint_full_res:
        assert f"paste_to x={r.paste_to[0]}" in views["crop"].caption
    if p.model_kind == "inpainting":
        assert views["conditioning"].image is not None and "latent mask" in views["conditioning"].caption
        assert views["lab"].image is not None
    text = summary_markdown(r)
    assert "1×4×8×8" in text and "total" in text


def test_summary_whole_picture_has_no_crop_numbers():
    img = Image.new("RGB", (64, 64))
    r = run_init(img, Image.new("L", (64, 64), 255), InitParams(width=64, height=64, seed=1))
    assert "| paste_to | – |" in summary_markdown(r)


@given(st.integers(1, 50), st.integers(1, 50), st.integers(1, 9))
def test_checkerboard_matches_its_formula(w, h, cell):
    yy, xx = np.mgrid[0:h, 0:w]
    expected = np.where(((xx // cell) + (yy // cell)) % 2 == 0, 204, 153)
    assert np.array_equal(np.asarray(checkerboard((w, h), cell))[..., 0], expected)


def test_tint_cells_only_where_regenerated():
    img = Image.new("RGB", (16, 8), (0, 0, 255))
    out = np.asarray(tint_cells(img, np.array([[1.0, 0.0]])))
    assert out[0, 0, 0] > 100 and out[0, 0, 2] < 255
    assert out[4, 12].tolist() == [0, 0, 255]


def test_latent_mask_caption_counts_cells():
    import re

    import numpy as np
    from PIL import Image

    from inpaint_init import InitParams, run_init
    from inpaint_init.views import render_views

    image = Image.new("RGB", (64, 64), "gray")
    mask = Image.new("L", (64, 64))
    mask.paste(255, (0, 0, 32, 64))  # the left half: 4 of 8 columns of latent cells
    r = run_init(image, mask, InitParams(width=64, height=64, seed=1, mask_blur_x=0, mask_blur_y=0))
    caption = render_views(r, image)["latent_mask_overlay"].caption
    assert re.match(r"32 of 64 latent cells regenerated$", caption), caption
    assert int(np.asarray(r.nmask[0]).sum()) == 32

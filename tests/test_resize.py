"""Spec §4: the four resize modes, worked on a 3×5 image."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bench import plain_reference as ref
from inpaint_init import interpolate_latent, resize_image

LANCZOS = Image.Resampling.LANCZOS


def gradient_3x5():
    """3 wide, 5 tall; columns 100, 150, 200 in R, rows 0..4 ×40 in G."""
    a = np.zeros((5, 3, 3), np.uint8)
    a[..., 0] = [100, 150, 200]
    a[..., 1] = (np.arange(5) * 40)[:, None]
    return Image.fromarray(a)


def test_mode0_plain_lanczos_keeps_mode():
    img = gradient_3x5()
    assert np.array_equal(np.asarray(resize_image(0, img, 3, 5)), np.asarray(img))
    assert np.array_equal(np.asarray(resize_image(0, img, 6, 10)), np.asarray(img.resize((6, 10), LANCZOS)))
    assert resize_image(0, Image.new("L", (3, 5)), 8, 8).mode == "L"


def test_mode1_covers_and_crops_centre():
    # 3×5 → 5×5: target ratio 1 > 0.6, so width fills: scaled to 5 × (5·5//3 = 8), pasted at
    # y = 5//2 - 8//2 = -2, i.e. rows 2..6 of the scaled image remain.
    img = gradient_3x5()
    out = resize_image(1, img, 5, 5)
    expected = img.resize((5, 8), LANCZOS).crop((0, 2, 5, 7))
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), np.asarray(expected))


def test_mode2_fits_and_stretches_edge_columns_with_bicubic_overshoot():
    # 3×5 → 5×5: target ratio 1 > 0.6, so height fits: scaled to (3·5//5 = 3) × 5, pasted at
    # x = 2 - 1 = 1; bands of 5//2 - 3//2 = 1 column each side.
    img = gradient_3x5()
    out = np.asarray(resize_image(2, img, 5, 5)).astype(int)
    assert np.array_equal(out[:, 1:4], np.asarray(img))
    # Not a copy of the edge column: bicubic over a zero-width box reaches the next column,
    # about 1.125·100 − 0.125·150 = 93.75 on the left and 1.125·200 − 0.125·150 = 206.25 on the right.
    assert np.all(np.abs(out[:, 0, 0] - 93.75) <= 1) and np.all(out[:, 0, 0] != 100)
    assert np.all(np.abs(out[:, 4, 0] - 206.25) <= 1)


def test_mode2_odd_leftover_leaves_last_column_black():
    # 4×5 → 7×5: scaled 4×5 at x = 3 - 2 = 1; band = 3 - 2 = 1 on each side: columns 0 and 5.
    img = Image.fromarray(np.full((5, 4, 3), 200, np.uint8))
    out = np.asarray(resize_image(2, img, 7, 5))
    assert out[:, 6].max() == 0
    assert out[:, :6].min() > 0


def test_mode2_vertical_bands():
    # 5×3 (wide) → 5×5: scaled 5×3 at y = 2 - 1 = 1, bands of one row above and below.
    img = gradient_3x5().transpose(Image.Transpose.TRANSPOSE)
    out = np.asarray(resize_image(2, img, 5, 5)).astype(int)
    assert np.array_equal(out[1:4], np.asarray(img))
    assert np.all(np.abs(out[0, :, 0] - 93.75) <= 1)


def test_masks_come_back_rgb_from_modes_1_to_3():
    m = Image.new("L", (30, 50), 255)
    assert [resize_image(k, m, 40, 40).mode for k in range(4)] == ["L", "RGB", "RGB", "RGB"]


def test_mode3_is_mode2_for_images_given_to_it():
    img = gradient_3x5()
    assert np.array_equal(np.asarray(resize_image(3, img, 7, 4)), np.asarray(resize_image(2, img, 7, 4)))


@given(st.integers(0, 3), st.integers(1, 60), st.integers(1, 60), st.integers(1, 60), st.integers(1, 60), st.integers(0, 2**31))
def test_matches_plain_reference(mode, iw, ih, w, h, seed):
    img = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (ih, iw, 3), dtype=np.uint8))
    ours = resize_image(mode, img, w, h)
    assert ours.size == (w, h)
    assert np.array_equal(np.asarray(ours), np.asarray(ref.resize(mode, img, w, h)))


def test_latent_interpolation_bilinear_to_eighth():
    z = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = interpolate_latent(z, 16, 16)
    assert out.shape == (1, 1, 2, 2)
    # align_corners=False halving: each output is the mean of a 2×2 block.
    assert out.flatten().tolist() == pytest.approx([2.5, 4.5, 10.5, 12.5])

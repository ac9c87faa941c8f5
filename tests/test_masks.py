"""Spec §2: binary mask, invert, blur."""

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from inpaint_init import blur_kernel_size, blur_mask, create_binary_mask, invert_mask


def rgba_with_alpha(values):
    a = np.array([values], dtype=np.uint8)
    rgba = np.zeros((1, len(values), 4), np.uint8)
    rgba[..., 3] = a
    return Image.fromarray(rgba)


def pixels(img):
    return np.asarray(img).ravel().tolist()


class TestBinaryMask:
    def test_alpha_threshold_is_strictly_greater_than_128(self):
        m = create_binary_mask(rgba_with_alpha([0, 127, 128, 129, 255]))
        assert m.mode == "L"
        assert pixels(m) == [0, 0, 0, 255, 255]

    def test_alpha_kept_soft_without_round(self):
        assert pixels(create_binary_mask(rgba_with_alpha([0, 128, 129, 255]), round=False)) == [0, 128, 129, 255]

    def test_opaque_rgba_is_converted_to_luminance_not_alpha(self):
        # Alpha entirely 255: the colour channels are the mask (PIL's L conversion).
        rgba = np.full((1, 2, 4), 255, np.uint8)
        rgba[0, 0, :3] = (100, 100, 100)
        assert pixels(create_binary_mask(Image.fromarray(rgba))) == [100, 255]

    def test_grey_rgb_mask_stays_grey(self):
        # No thresholding outside the RGBA-alpha path: the reference leaves a soft mask soft.
        rgb = Image.new("RGB", (3, 1), (128, 128, 128))
        assert pixels(create_binary_mask(rgb)) == [128, 128, 128]

    def test_l_mask_unchanged(self):
        l = Image.fromarray(np.array([[0, 7, 200]], np.uint8))
        assert pixels(create_binary_mask(l)) == [0, 7, 200]

    def test_la_mask_ignores_alpha(self):
        # Only mode RGBA takes the alpha path; an LA image converts its L band.
        la = Image.merge("LA", [Image.new("L", (2, 1), 50), Image.new("L", (2, 1), 0)])
        assert pixels(create_binary_mask(la)) == [50, 50]

    def test_palette_mask_converts_through_palette(self):
        p = Image.new("P", (2, 1))
        p.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        p.putpixel((1, 0), 1)
        assert pixels(create_binary_mask(p)) == [0, 255]

    def test_i16_mask_clips_to_255(self):
        # Pillow's I;16 → L conversion saturates (checked on the installed Pillow).
        arr = np.array([[0, 100, 255, 256, 65535]], np.uint16)
        m = create_binary_mask(Image.fromarray(arr, "I;16") if False else Image.frombytes("I;16", (5, 1), arr.tobytes()))
        assert pixels(m) == [0, 100, 255, 255, 255]


def test_invert():
    assert pixels(invert_mask(Image.fromarray(np.array([[0, 1, 128, 255]], np.uint8)))) == [255, 254, 127, 0]


@pytest.mark.parametrize("sigma,k", [(0, 1), (0.5, 3), (1, 7), (4, 21), (4.2, 23), (64, 321)])
def test_kernel_size_formula(sigma, k):
    # 2 * int(2.5 * sigma + 0.5) + 1, worked by hand: 4 → 2*10+1 = 21; 4.2 → 2*int(11.0)+1 = 23.
    assert blur_kernel_size(sigma) == k


class TestBlur:
    def test_single_pixel_vertical_column_matches_spec(self):
        # The spec's checked numbers: a single 255 pixel, kernel (1, 11), sigma 4. The image is
        # tall enough that reflect-101 does not fold the tails back.
        a = np.zeros((31, 31), np.uint8)
        a[15, 15] = 255
        out = cv2.GaussianBlur(a, (1, 11), 4)
        assert out[10:21, 15].tolist() == [14, 19, 23, 27, 30, 30, 30, 27, 23, 19, 14]
        assert out[15, :].tolist() == a[15, :].tolist()[:15] + [30] + a[15, :].tolist()[16:]

    def test_reflect101_border_folds_tails(self):
        # On an 11-row image the two outermost taps land on the border pixel twice: 14 + 14.
        a = np.zeros((11, 1), np.uint8)
        a[5, 0] = 255
        assert cv2.GaussianBlur(a, (1, 11), 4)[:, 0].tolist() == [28, 19, 23, 27, 30, 30, 30, 27, 23, 19, 28]

    def test_blur_y_only_is_vertical(self):
        a = np.zeros((41, 41), np.uint8)
        a[20, 20] = 255
        out = np.asarray(blur_mask(Image.fromarray(a), 0, 4))
        assert out[20, :].tolist().count(0) == 40
        # Mask blur 4 is 21 taps of sigma 4: the column is 255 * exp(-i²/32) / sum, i in -10..10,
        # give or take OpenCV's fixed-point weights (≤ 1 level here).
        i = np.arange(-10, 11)
        g = np.exp(-(i**2) / 32.0)
        expected = 255 * g / g.sum()
        assert np.abs(out[10:31, 20] - expected).max() <= 1
        assert out[:10, 20].tolist() == [0] * 10 and out[31:, 20].tolist() == [0] * 10

    def test_blur_x_only_is_horizontal(self):
        a = np.zeros((41, 41), np.uint8)
        a[20, 20] = 255
        out = np.asarray(blur_mask(Image.fromarray(a), 4, 0))
        assert out[:, 20].tolist().count(0) == 40
        # 21 taps for sigma 4: the row is the same Gaussian, wider kernel.
        assert out[20, 20] > 0 and out[20, 9] == 0 and out[20, 10] > 0 and out[20, 30] > 0 and out[20, 31] == 0

    def test_zero_radius_is_identity(self):
        a = np.random.default_rng(0).integers(0, 256, (9, 13), dtype=np.uint8)
        assert np.array_equal(np.asarray(blur_mask(Image.fromarray(a), 0, 0)), a)

    def test_x_then_y_order_with_uint8_between(self):
        a = np.random.default_rng(1).integers(0, 2, (40, 50), dtype=np.uint8) * 255
        expected = cv2.GaussianBlur(cv2.GaussianBlur(a, (21, 1), 4), (1, 31), 6)
        assert np.array_equal(np.asarray(blur_mask(Image.fromarray(a), 4, 6)), expected)

    @given(
        st.integers(8, 40),
        st.integers(8, 40),
        st.sampled_from([0.5, 1, 2, 3, 4, 7]),
        st.integers(0, 2**31),
    )
    def test_close_to_a_float_gaussian(self, h, w, sigma, seed):
        """Against a plain float Gaussian (sampled, normalised, reflect-101).

        OpenCV blurs uint8 with kernel weights quantised to 8 fractional bits, each off by at
        most 1/512, so one pass can be off by 0.5 + k·255/512 levels (measured: 3.9 for k = 21)
        and two passes by twice that. The mean error stays far below one level, which a wrong
        sigma or kernel length would not."""
        a = np.random.default_rng(seed).integers(0, 2, (h, w)).astype(np.uint8) * 255
        k = blur_kernel_size(sigma)
        r = k // 2
        taps = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma * sigma))
        taps /= taps.sum()

        def conv(x, axis):
            pad = [(0, 0), (0, 0)]
            pad[axis] = (r, r)
            xp = np.pad(x, pad, mode="reflect")  # numpy "reflect" is OpenCV's reflect-101
            n = x.shape[axis]
            return sum(t * np.take(xp, np.arange(i, i + n), axis=axis) for i, t in enumerate(taps))

        if min(h, w) <= r:
            return  # kernel longer than the image: reflect padding is not defined the same way
        expected = conv(conv(a.astype(np.float64), 1), 0)
        got = np.asarray(blur_mask(Image.fromarray(a), sigma, sigma)).astype(np.float64)
        err = np.abs(got - expected)
        assert err.max() <= 2 * (0.5 + k * 255 / 512)
        assert err.mean() <= 1.0

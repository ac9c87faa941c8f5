"""Spec §5 overlay, §6 fill, §7 colour correction, and the paste-back after sampling."""

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bench import plain_reference as ref
from inpaint_init import apply_color_correction, apply_overlay, fill, fill_reference, make_overlay, setup_color_correction
from inpaint_init.fill import pil_blur_reach


def random_image(rng, w, h):
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


class TestFill:
    @given(st.integers(1, 90), st.integers(1, 90), st.integers(0, 2**31), st.sampled_from(["box", "speckle", "soft"]))
    def test_fast_fill_identical_to_reference(self, w, h, seed, kind):
        rng = np.random.default_rng(seed)
        img = random_image(rng, w, h)
        m = np.zeros((h, w), np.uint8)
        if kind == "box":
            x, y = rng.integers(0, w), rng.integers(0, h)
            m[y : y + rng.integers(1, 20), x : x + rng.integers(1, 20)] = 255
        elif kind == "speckle":
            m[rng.random((h, w)) < 0.05] = 255
        else:
            m = rng.integers(0, 256, (h, w), dtype=np.uint8)
        mask = Image.fromarray(m)
        assert np.array_equal(np.asarray(fill(img, mask)), np.asarray(fill_reference(img, mask)))

    @pytest.mark.parametrize("size,spot", [((1800, 24), (900, 10)), ((24, 1800), (10, 900)), ((1700, 20), (3, 3))])
    def test_fast_fill_identical_where_the_reach_matters(self, size, spot):
        """Strips longer than twice the radius-256 reach (769 px), so the crop margin is really
        used instead of the image border."""
        rng = np.random.default_rng(7)
        img = random_image(rng, *size)
        m = np.zeros(size[::-1], np.uint8)
        m[spot[1] : spot[1] + 4, spot[0] : spot[0] + 4] = 255
        mask = Image.fromarray(m)
        assert np.array_equal(np.asarray(fill(img, mask)), np.asarray(ref.fill(img, mask)))

    def test_reach_formula_at_least_the_observed_spread(self):
        # An impulse of 255 in a float-precision-free way: the blurred row must be zero beyond
        # the reach. (Rounding hides the far tail, so this is a lower bound check.)
        for r in (2, 4, 16, 64):
            n = 8 * r + 64
            a = np.zeros((3, n), np.uint8)
            a[:, n // 2] = 255
            from PIL import ImageFilter

            out = np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(r)))[1]
            nz = np.flatnonzero(out)
            assert nz[-1] - n // 2 <= pil_blur_reach(r)

    def test_unmasked_pixels_unchanged_and_masked_pixels_replaced(self):
        rng = np.random.default_rng(3)
        img = random_image(rng, 40, 30)
        m = np.zeros((30, 40), np.uint8)
        m[10:20, 10:30] = 255
        out = np.asarray(fill(img, Image.fromarray(m)))
        src = np.asarray(img)
        assert np.array_equal(out[m == 0], src[m == 0])
        # The filled region is a blur of the surroundings: smooth, far from the random original.
        assert np.abs(out[12:18, 12:28].astype(int) - src[12:18, 12:28]).mean() > 40
        assert out[12:18, 12:28].std() < src.std() / 2

    def test_blank_mask_returns_original(self):
        img = random_image(np.random.default_rng(1), 20, 10)
        assert np.array_equal(np.asarray(fill(img, Image.new("L", (20, 10)))), np.asarray(img))

    def test_size_mismatch_is_a_clear_error(self):
        with pytest.raises(ValueError, match="mask size"):
            fill(Image.new("RGB", (8, 8)), Image.new("L", (16, 8)))


class TestOverlay:
    @given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**31))
    def test_original_where_mask_zero_transparent_where_full(self, w, h, seed):
        rng = np.random.default_rng(seed)
        img = random_image(rng, w, h)
        m = rng.choice([0, 255, 17, 128], size=(h, w)).astype(np.uint8)
        ov = np.asarray(make_overlay(img, Image.fromarray(m)))
        assert np.array_equal(ov[m == 0][:, :3], np.asarray(img)[m == 0])
        assert np.all(ov[..., 3] == 255 - m)
        assert np.all(ov[m == 255][:, 3] == 0)

    def test_paste_back_restores_original_outside_mask_full_res(self):
        rng = np.random.default_rng(5)
        img = random_image(rng, 64, 48)
        m = np.zeros((48, 64), np.uint8)
        m[10:30, 20:40] = 255
        ov = make_overlay(img, Image.fromarray(m))
        sample = Image.new("RGB", (64, 64), (255, 0, 0))
        out = np.asarray(apply_overlay(sample, ov, paste_to=(16, 8, 28, 28)))
        assert np.array_equal(out[m == 0], np.asarray(img)[m == 0])
        assert np.all(out[12:28, 22:38] == (255, 0, 0))

    def test_paste_back_whole_picture(self):
        img = random_image(np.random.default_rng(6), 16, 16)
        m = np.zeros((16, 16), np.uint8)
        m[4:8, 4:8] = 255
        out = np.asarray(apply_overlay(Image.new("RGB", (16, 16), (0, 0, 255)), make_overlay(img, Image.fromarray(m))))
        assert np.array_equal(out[m == 0], np.asarray(img)[m == 0]) and np.all(out[4:8, 4:8] == (0, 0, 255))


class TestColorCorrection:
    def test_target_is_opencv_lab(self):
        img = random_image(np.random.default_rng(2), 8, 8)
        assert np.array_equal(setup_color_correction(img), cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2LAB))

    def test_shifts_chroma_towards_target_keeps_luminosity(self):
        rng = np.random.default_rng(4)
        base = rng.integers(60, 200, (32, 32, 1)).astype(np.uint8)
        target = np.concatenate([base, base // 2, base // 3], axis=2)  # warm
        sample = np.concatenate([base // 3, base // 2, base], axis=2)  # cool, same structure
        out = np.asarray(apply_color_correction(setup_color_correction(Image.fromarray(target)), Image.fromarray(sample))).astype(float)
        # Red now dominates blue, as in the target...
        assert out[..., 0].mean() > out[..., 2].mean()
        # ...while the luminosity (0.3 R + 0.59 G + 0.11 B) is the sample's, up to rounding/clipping.
        lum = lambda a: 0.3 * a[..., 0] + 0.59 * a[..., 1] + 0.11 * a[..., 2]
        assert np.abs(lum(out) - lum(sample.astype(float))).mean() < 3

    def test_identity_when_sample_is_target(self):
        img = random_image(np.random.default_rng(8), 16, 16)
        out = np.asarray(apply_color_correction(setup_color_correction(img), img)).astype(int)
        assert np.abs(out - np.asarray(img)).max() <= 6


@given(st.integers(1, 120), st.integers(1, 120), st.sampled_from([0, 2, 4, 16, 64, 256]), st.integers(0, 2**31))
def test_pillow_gaussian_blur_is_x_then_y(w, h, radius, seed):
    """The fast fill relies on this: Pillow's 2-D Gaussian blur equals its x-only pass followed
    by its y-only pass, pixel for pixel (premultiplied RGBa, as the fill blurs)."""
    from PIL import ImageFilter

    rgba = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    a = Image.fromarray(rgba).convert("RGBa")
    both = a.filter(ImageFilter.GaussianBlur(radius))
    separate = a.filter(ImageFilter.GaussianBlur((radius, 0))).filter(ImageFilter.GaussianBlur((0, radius)))
    assert np.array_equal(np.asarray(both), np.asarray(separate))


def test_fast_fill_without_per_axis_blur_is_still_identical(monkeypatch):
    """Pillow < 10.1 (the webui pins 9.5) has no per-axis radius: the fill then blurs the same
    region in 2-D, and must still equal the plain fill."""
    import importlib

    fill_module = importlib.import_module("inpaint_init.fill")  # the package's fill() shadows the attribute

    monkeypatch.setattr(fill_module, "_per_axis_blur", lambda: False)
    rng = np.random.default_rng(11)
    for size in ((1800, 24), (70, 50)):
        img = random_image(rng, *size)
        m = np.zeros(size[::-1], np.uint8)
        m[5:15, 20:40] = 255
        assert np.array_equal(np.asarray(fill(img, Image.fromarray(m))), np.asarray(ref.fill(img, Image.fromarray(m))))


DATA = __import__("pathlib").Path(__file__).parent / "data"


def plain_luminosity_blend(background, foreground):
    """One pixel at a time, straight from the behaviour: SetLum(bg, Lum(fg)), fix-ups, clip, truncate."""
    out = np.zeros_like(background)
    lum = lambda c: 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    for i in range(background.shape[0]):
        for j in range(background.shape[1]):
            b, f = background[i, j] / 255.0, foreground[i, j] / 255.0
            c = b + (lum(f) - lum(b))
            l, lo, hi = lum(c), c.min(), c.max()
            if lo < 0:
                c = l + (c - l) * l / (l - lo)
            if hi > 1:
                c = l + (c - l) * (1 - l) / (hi - l)
            out[i, j] = (np.clip(c, 0, 1) * 255).astype(np.uint8)
    return out


def test_luminosity_blend_equals_the_webuis_blendmodes_2022():
    """Expected outputs were made by blendmodes==2022 itself (the webui's pin), on inputs that
    push colours out of gamut both ways. Newer blendmodes differ by ±1 on ~half the pixels."""
    from inpaint_init.color import luminosity_blend

    data = np.load(DATA / "luminosity_blendmodes_2022.npz")
    for b, f, expected in zip(data["background"], data["foreground"], data["expected"]):
        assert np.array_equal(luminosity_blend(b, f), expected)


@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31))
def test_luminosity_blend_equals_the_per_pixel_version(h, w, seed):
    from inpaint_init.color import luminosity_blend

    rng = np.random.default_rng(seed)
    b, f = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    assert np.array_equal(luminosity_blend(b, f), plain_luminosity_blend(b, f))

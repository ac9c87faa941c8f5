"""Spec §3: crop region, padding, aspect expansion, paste_to."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image

from bench import plain_reference as ref
from inpaint_init import expand_crop_region, get_crop_region, mask_bbox, paste_to_from_region


def mask16(box):
    m = np.zeros((16, 16), np.uint8)
    x1, y1, x2, y2 = box
    m[y1:y2, x1:x2] = 255
    return m


class TestCropRegion:
    def test_known_box_exclusive_ends(self):
        assert get_crop_region(mask16((6, 3, 10, 5)), 0) == (6, 3, 10, 5)

    def test_padding_and_clamp(self):
        # x: 6-4=2, 10+4=14; y: 3-4 → clamped 0, 5+4=9.
        assert get_crop_region(mask16((6, 3, 10, 5)), 4) == (2, 0, 14, 9)
        assert get_crop_region(mask16((6, 3, 10, 5)), 100) == (0, 0, 16, 16)

    def test_blank_mask_gives_none(self):
        assert get_crop_region(np.zeros((16, 16), np.uint8), 32) is None

    def test_full_mask(self):
        assert get_crop_region(np.full((16, 16), 255, np.uint8), 8) == (0, 0, 16, 16)

    def test_one_pixel(self):
        assert get_crop_region(mask16((15, 0, 16, 1)), 0) == (15, 0, 16, 1)
        assert get_crop_region(mask16((15, 0, 16, 1)), 2) == (13, 0, 16, 3)

    @pytest.mark.parametrize("box", [(0, 4, 1, 8), (15, 4, 16, 8), (4, 0, 8, 1), (4, 15, 8, 16)])
    def test_masks_at_each_border(self, box):
        assert get_crop_region(mask16(box), 0) == box

    def test_faint_blur_tail_counts(self):
        m = mask16((6, 6, 8, 8))
        m[0, 0] = 1
        assert get_crop_region(m, 0) == (0, 0, 8, 8)

    @given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**31), st.floats(0, 0.2))
    def test_bbox_matches_pil_getbbox(self, h, w, seed, density):
        m = (np.random.default_rng(seed).random((h, w)) < density).astype(np.uint8) * 200
        assert mask_bbox(m) == Image.fromarray(m).getbbox()

    def test_paste_to(self):
        assert paste_to_from_region((5, 7, 25, 40)) == (5, 7, 20, 33)


class TestExpand:
    def test_grows_width_symmetrically(self):
        # 10×20 box, square processing: desired width 20, diff 10 → 5 each side.
        assert expand_crop_region((10, 10, 20, 30), 512, 512, 64, 64) == (5, 10, 25, 30)

    def test_grows_height_then_slides_down_from_top(self):
        # 40×10 box: diff = int(40 - 10) = 30 → y1 = -15, y2 = 25; y1 < 0 → slide to (0, 40).
        assert expand_crop_region((0, 0, 40, 10), 512, 512, 64, 64) == (0, 0, 40, 40)

    def test_slides_up_from_bottom(self):
        # 20×10 box at the bottom: diff 10 → y 49..69; past 64 by 5 → slides up to 44..64.
        assert expand_crop_region((10, 54, 30, 64), 512, 512, 64, 64) == (10, 44, 30, 64)

    def test_odd_diff_puts_extra_pixel_after(self):
        # 10×21 box, square: diff = 11 → 5 before, 6 after.
        assert expand_crop_region((20, 0, 30, 21), 512, 512, 64, 64) == (15, 0, 36, 21)

    def test_image_too_small_is_clamped_and_ratio_lost(self):
        # 64×10 box in a 64×32 image wants height 64: slides, then clamps to 32 → ratio 2, not 1.
        assert expand_crop_region((0, 0, 64, 10), 512, 512, 64, 32) == (0, 0, 64, 32)

    def test_truncates_fractional_growth(self):
        # 10×10 box, 768×512 (ratio 1.5): desired width 15.0 → diff 5 → 2 before, 3 after.
        assert expand_crop_region((10, 10, 20, 20), 768, 512, 64, 64) == (8, 10, 23, 20)
        # 7×10 box, 512×768 (ratio 2/3): 7/10 > 2/3 so height grows: 7 / (2/3) = 10.5 → diff 0.
        assert expand_crop_region((10, 10, 17, 20), 512, 768, 64, 64) == (10, 10, 17, 20)

    @given(
        st.integers(1, 200),
        st.integers(1, 200),
        st.integers(0, 2**31),
        st.sampled_from([(512, 512), (768, 512), (512, 768), (1024, 576), (64, 512)]),
    )
    def test_properties_and_plain_reference(self, iw, ih, seed, wh):
        rng = np.random.default_rng(seed)
        x1, x2 = sorted(rng.integers(0, iw + 1, 2))
        y1, y2 = sorted(rng.integers(0, ih + 1, 2))
        assume(x2 > x1 and y2 > y1)
        w, h = wh
        box = expand_crop_region((int(x1), int(y1), int(x2), int(y2)), w, h, iw, ih)
        assert box == ref.expand((x1, y1, x2, y2), w, h, iw, ih)
        bx1, by1, bx2, by2 = box
        assert 0 <= bx1 < bx2 <= iw and 0 <= by1 < by2 <= ih
        assert bx1 <= x1 and by1 <= y1 and bx2 >= x2 and by2 >= y2
        ratio = w / h
        if (x2 - x1) / (y2 - y1) > ratio:
            desired = (x2 - x1) / ratio
            if desired <= ih:  # large enough: height is the truncated desired height
                assert desired - 1 < by2 - by1 <= desired and bx2 - bx1 == x2 - x1
        else:
            desired = (y2 - y1) * ratio
            if desired <= iw:
                assert desired - 1 < bx2 - bx1 <= desired and by2 - by1 == y2 - y1

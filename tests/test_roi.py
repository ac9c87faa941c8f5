"""Issue #19: the region-of-interest stages give the same bytes as the whole-image computation.

The references are the whole-image functions (masks.blur_mask / invert_mask, resize.resize_image
with Pillow's own resize, overlay.make_overlay, crop.get_crop_region) and the stage chain is
checked against them end to end. Masks: random boxes anywhere (edges and corners included, by
construction: a box's sides are drawn from the whole range), empty and full masks, binary and
grey content, blur sizes 0..64 in x and y separately, every resize mode.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaint_init import _roi
from inpaint_init.crop import crop_stage, get_crop_region
from inpaint_init.masks import blur_mask, blur_stage, invert_mask
from inpaint_init.overlay import make_overlay, overlay_stage
from inpaint_init.resize import crop_mask_stage, resize_image, whole_mask_stage

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


@st.composite
def masks(draw, max_side=72):
    w = draw(st.integers(1, max_side))
    h = draw(st.integers(1, max_side))
    kind = draw(st.sampled_from(["box", "box", "box", "empty", "full", "noise"]))
    arr = np.zeros((h, w), np.uint8)
    if kind == "full":
        arr[:] = 255
    elif kind == "noise":
        seed = draw(st.integers(0, 2**32 - 1))
        arr = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    elif kind == "box":
        x1 = draw(st.integers(0, w - 1))
        x2 = draw(st.integers(x1 + 1, w))
        y1 = draw(st.integers(0, h - 1))
        y2 = draw(st.integers(y1 + 1, h))
        grey = draw(st.booleans())
        seed = draw(st.integers(0, 2**32 - 1))
        part = np.random.default_rng(seed).integers(0, 256, (y2 - y1, x2 - x1), dtype=np.uint8) if grey else 255
        arr[y1:y2, x1:x2] = part
        if grey:  # the box's own edges stay non-zero, so the box is exactly (x1, y1, x2, y2)
            arr[y1:y2, x1] |= 1
            arr[y1, x1:x2] |= 1
            arr[y1:y2, x2 - 1] |= 1
            arr[y2 - 1, x1:x2] |= 1
    return Image.fromarray(arr)


blurs = st.one_of(st.integers(0, 64), st.floats(0, 64, allow_nan=False).map(lambda v: round(v, 2)))


@SETTINGS
@given(masks(), blurs, blurs)
def test_blur_roi_is_the_whole_image_blur(mask, bx, by):
    assert same(_roi.blur_roi(mask, bx, by), blur_mask(mask, bx, by))


@SETTINGS
@given(masks(), blurs, blurs)
def test_inverted_blur_roi_is_the_whole_image_blur(mask, bx, by):
    # Inverted, the mask is 255 outside its box: the constant a Gaussian pass keeps.
    inverted = _roi.invert_roi(mask)
    assert same(inverted, invert_mask(mask))
    assert same(_roi.blur_roi(inverted, bx, by), blur_mask(invert_mask(mask), bx, by))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from([0, 255]))
def test_a_gaussian_pass_keeps_a_constant(kx, ky, value):
    # What blur_roi relies on for the rows and columns it does not compute.
    mask = Image.new("L", (40, 30), value)
    assert same(blur_mask(mask, kx, ky), mask)


@SETTINGS
@given(masks(), blurs, blurs)
def test_blurred_box_is_the_box_of_the_blur(mask, bx, by):
    out = _roi.blur_roi(mask, bx, by)
    known = _roi.known_box(out)
    assert known is not None and known[1] == 0
    assert known[0] == Image.fromarray(np.asarray(out)).getbbox()


@SETTINGS
@given(masks(max_side=90), st.integers(1, 120), st.integers(1, 120), st.sampled_from([0, 1, 2, 3]), blurs)
def test_mask_resize_roi_is_the_whole_image_resize(mask, w, h, mode, blur):
    # A blurred mask (box known) and a fresh one (box found by a scan).
    for m in (_roi.blur_roi(mask, blur, blur), Image.fromarray(np.asarray(mask))):
        try:
            expected = resize_image(mode, m, w, h)
        except ValueError:
            with pytest.raises(ValueError):
                resize_image(mode, m, w, h, _roi.lanczos_roi)
            continue
        assert same(resize_image(mode, m, w, h, _roi.lanczos_roi), expected)


@SETTINGS
@given(masks(max_side=200), st.integers(1, 64), st.integers(1, 64))
def test_lanczos_roi_down_and_up(mask, w, h):
    # Large reductions (wide Lanczos support) as well as enlargements.
    assert same(_roi.lanczos_roi(mask, (w, h)), mask.resize((w, h), Image.Resampling.LANCZOS))
    assert same(_roi.lanczos_roi(mask, (w * 3, h * 2)), mask.resize((w * 3, h * 2), Image.Resampling.LANCZOS))


@settings(max_examples=120, deadline=None)
@given(st.integers(1, 40), st.integers(200, 900), st.integers(1, 120), st.integers(1, 120), st.booleans(), st.integers(0, 2**32 - 1))
def test_lanczos_roi_narrow_and_flat(side, length, w, h, flat, seed):
    # Where Pillow runs the vertical pass first (narrow, tall) and the flat mirror of it.
    rng = np.random.default_rng(seed)
    arr = np.zeros((side, length) if flat else (length, side), np.uint8)
    y1 = int(rng.integers(0, arr.shape[0]))
    x1 = int(rng.integers(0, arr.shape[1]))
    arr[y1 : y1 + 150, x1 : x1 + 150] = rng.integers(1, 256, arr[y1 : y1 + 150, x1 : x1 + 150].shape)
    mask = Image.fromarray(arr)
    assert same(_roi.lanczos_roi(mask, (w, h)), mask.resize((w, h), Image.Resampling.LANCZOS))


@settings(max_examples=150, deadline=None)
@given(st.integers(64, 700), st.floats(0.25, 4), st.integers(1, 300), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_lanczos_roi_inside_the_horizontal_first_line(side, aspect, w, h, seed):
    rng = np.random.default_rng(seed)
    W, H = side, max(64, min(int(side * aspect), 4 * side))
    if max(W, H) > 4 * min(W, H):
        H = 4 * min(W, H)
    arr = np.zeros((H, W), np.uint8)
    y1, x1 = int(rng.integers(0, H)), int(rng.integers(0, W))
    part = arr[y1 : y1 + int(rng.integers(1, H)), x1 : x1 + int(rng.integers(1, W))]
    part[:] = rng.integers(1, 256, part.shape)
    mask = Image.fromarray(arr)
    assert same(_roi.lanczos_roi(mask, (w, h)), mask.resize((w, h), Image.Resampling.LANCZOS))


@settings(max_examples=150, deadline=None)
@given(st.integers(8, 120), st.integers(8, 120), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_lanczos_roi_by_whole_factors(w, h, fx, fy, seed):
    # Whole-factor reductions run on the reachable outputs only (_integer_pass); inputs kept
    # inside the horizontal-first line, boxes anywhere.
    W, H = max(w * fx, 64), max(h * fy, 64)
    W, H = W - W % w, H - H % h
    if min(W, H) < 64 or max(W, H) > 4 * min(W, H):
        return
    rng = np.random.default_rng(seed)
    arr = np.zeros((H, W), np.uint8)
    y1, x1 = int(rng.integers(0, H)), int(rng.integers(0, W))
    part = arr[y1 : y1 + int(rng.integers(1, H)), x1 : x1 + int(rng.integers(1, W))]
    part[:] = rng.integers(1, 256, part.shape)
    mask = Image.fromarray(arr)
    for size in ((w, h), (w, H), (W, h)):
        assert same(_roi.lanczos_roi(mask, size), mask.resize(size, Image.Resampling.LANCZOS))


@SETTINGS
@given(masks(), st.integers(0, 2**32 - 1), st.booleans())
def test_overlay_roi_is_the_whole_image_overlay(mask, seed, rgb_mask):
    w, h = mask.size
    image = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    m = mask.convert("RGB") if rgb_mask else mask
    assert same(_roi.overlay_roi(image, m), make_overlay(image, m))
    assert same(_roi.overlay_roi(image, m, _roi.rgba_of(image)), make_overlay(image, m))


@SETTINGS
@given(masks(), st.integers(0, 255))
def test_doubled_roi(mask, _):
    expected = Image.fromarray(np.clip(np.asarray(mask).astype(np.float32) * 2, 0, 255).astype(np.uint8))
    assert same(_roi.doubled_roi(mask), expected)
    rgb = mask.convert("RGB")
    expected = Image.fromarray(np.clip(np.asarray(rgb).astype(np.float32) * 2, 0, 255).astype(np.uint8))
    assert same(_roi.doubled_roi(rgb), expected)


def _plain_chain(binary, invert, bx, by, pad, width, height, resize_mode, image, full_res):
    """The stages as they were: whole-image calls only."""
    mask = invert_mask(binary) if invert else binary
    blurred = blur_mask(mask, bx, by)
    if full_res:
        box = get_crop_region(np.asarray(blurred), pad)
        if box is None:
            return blurred, None, None, None
        from inpaint_init.crop import expand_crop_region

        region = expand_crop_region(box, width, height, blurred.width, blurred.height)
        image_mask = resize_image(2, blurred.crop(region), width, height)
        overlay = make_overlay(image, blurred)
        return blurred, region, image_mask, overlay
    resized = resize_image(resize_mode, blurred, width, height)
    doubled = Image.fromarray(np.clip(np.asarray(resized).astype(np.float32) * 2, 0, 255).astype(np.uint8))
    base = resize_image(resize_mode, image, width, height) if resize_mode != 3 else image
    if doubled.size != base.size:
        doubled = resize_image(resize_mode, doubled, *base.size)
    return blurred, None, resized, make_overlay(base, doubled)


@SETTINGS
@given(
    masks(max_side=96), st.booleans(), st.integers(0, 64), st.integers(0, 64), st.integers(0, 40),
    st.sampled_from([8, 16, 24, 48, 64]), st.sampled_from([8, 16, 32, 56]), st.sampled_from([0, 1, 2, 3]),
    st.booleans(), st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_stage_chain_is_the_plain_chain(binary, invert, bx, by, pad, width, height, resize_mode, full_res, seed):
    w, h = binary.size
    image = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    try:
        blurred_ref, region_ref, image_mask_ref, overlay_ref = _plain_chain(binary, invert, bx, by, pad, width, height, resize_mode, image, full_res)
    except ValueError:  # a resize the webui cannot make either (too thin): the stages refuse it too
        with pytest.raises(Exception, match="too thin|MP"):
            _stage_chain(binary, invert, bx, by, pad, width, height, resize_mode, image, full_res)
        return
    blurred, region, image_mask, overlay = _stage_chain(binary, invert, bx, by, pad, width, height, resize_mode, image, full_res)
    assert same(blurred, blurred_ref)
    assert region == region_ref
    if image_mask_ref is None:
        assert image_mask is None
        return
    assert same(image_mask, image_mask_ref)
    assert same(overlay, overlay_ref)


def _stage_chain(binary, invert, bx, by, pad, width, height, resize_mode, image, full_res):
    blurred = blur_stage(binary, int(invert), bx, by)
    if full_res:
        _, region, _ = crop_stage(blurred, pad, width, height)
        if region is None:
            return blurred, None, None, None
        image_mask = crop_mask_stage(blurred, region, width, height)
        (overlay,), _ = overlay_stage([image], blurred, resize_mode)
        return blurred, region, image_mask, overlay
    image_mask, overlay_mask = whole_mask_stage(blurred, resize_mode, width, height)
    base = resize_image(resize_mode, image, width, height) if resize_mode != 3 else image
    (overlay,), _ = overlay_stage([base], overlay_mask, resize_mode)
    return blurred, None, image_mask, overlay


def test_frozen_inputs_give_the_same_keys_and_see_a_new_picture():
    from dataclasses import replace

    from inpaint_init import CheapApproxVAE, InitParams, StageCache, run_init

    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))
    mask = np.zeros((64, 80), np.uint8)
    mask[10:30, 20:50] = 255
    mask = Image.fromarray(mask)
    p = InitParams(width=64, height=64, inpaint_full_res=True, seed=1234, subseed=99)
    vae = CheapApproxVAE()
    plain = run_init(image, mask, p, vae, cache=StageCache())
    frozen_cache = StageCache(frozen_inputs=True)
    frozen = run_init(image, mask, p, vae, cache=frozen_cache)
    assert [c.inputs for c in plain.calls] == [c.inputs for c in frozen.calls]
    # A second run on the same objects hashes nothing and is served from the cache.
    again = run_init(image, mask, replace(p, mask_blur_x=6), vae, cache=frozen_cache)
    assert "binary_mask" in again.cached_stages
    # A new picture object (other pixels) is a new key, never the remembered digest.
    other = Image.fromarray(255 - np.asarray(image))
    changed = run_init(other, mask, p, vae, cache=frozen_cache)
    reference = run_init(other, mask, p, vae)
    assert np.array_equal(np.asarray(changed.overlay_images[0]), np.asarray(reference.overlay_images[0]))
    assert not np.array_equal(np.asarray(changed.overlay_images[0]), np.asarray(frozen.overlay_images[0]))


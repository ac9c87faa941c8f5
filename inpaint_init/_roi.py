"""Region-of-interest versions of the mask-side stages (issue #19): same bytes, less work.

A mask is zero (or, inverted, 255) outside its box, and each operation has a known reach:

- the OpenCV Gaussian pass of kernel ``k`` moves a value at most ``k // 2`` pixels;
- a Pillow Lanczos resize is a horizontal pass (each row alone) then a vertical pass (each
  column alone), with an 8-bit intermediate: rows that are zero stay zero through the first,
  columns that are zero through the second;
- the overlay is per pixel, and equals the original (alpha 255) wherever the mask is 0.

So each function here runs the very same OpenCV/Pillow call as the whole-image function it
stands for (``masks.blur_mask``, ``resize.resize_image``, ``overlay.make_overlay``), but on the
box grown by that reach, where the box reaches the image edge on the same edge (so the
border rule applied is the one the whole image gets), and fills the rest with what it is
known to be. ``tests/test_roi.py`` compares every one with its whole-image reference, byte for
byte.

Boxes found or made here are remembered by the identity of the picture they belong to
(:func:`remember` / :func:`known_box`): stage outputs are immutable and the stage cache hands
back the very same objects, so a box is found by a scan once and then known.
"""

from __future__ import annotations

import threading
import weakref

import cv2
import numpy as np
from PIL import Image

__all__ = ["known_box", "remember", "nonzero_box", "blur_roi", "lanczos_roi", "overlay_roi", "crop_known"]

LANCZOS = Image.Resampling.LANCZOS
Box = tuple[int, int, int, int]

# id(image) -> (weakref to image, (box or None, background value))
_BOXES: dict[int, tuple[weakref.ref, tuple[Box | None, int]]] = {}
_LOCK = threading.Lock()


def _forget(key: int, ref: weakref.ref) -> None:
    with _LOCK:
        entry = _BOXES.get(key)
        if entry is not None and entry[0] is ref:
            del _BOXES[key]


def remember(image: Image.Image, box: Box | None, background: int = 0) -> Image.Image:
    """Record that every pixel of ``image`` outside ``box`` equals ``background`` (None: all do)."""
    key = id(image)
    ref = weakref.ref(image, lambda r, key=key: _forget(key, r))
    with _LOCK:
        _BOXES[key] = (ref, (box, background))
    return image


def known_box(image: Image.Image) -> tuple[Box | None, int] | None:
    """``(box, background)`` recorded for this very object, or None."""
    with _LOCK:
        entry = _BOXES.get(id(image))
    if entry is None or entry[0]() is not image:
        return None
    return entry[1]


def nonzero_box(image: Image.Image) -> Box | None:
    """The box of every non-zero pixel of an ``L`` (or RGB) picture, PIL ``getbbox`` semantics:
    the recorded one when known with background 0, else one scan (then recorded)."""
    known = known_box(image)
    if known is not None and known[1] == 0:
        return known[0]
    box = image.getbbox(alpha_only=False)
    remember(image, box, 0)
    return box


def _background_box(mask: Image.Image) -> tuple[Box | None, int]:
    """``(box, background)`` of an ``L`` mask: its recorded one, else the box of the non-zero
    pixels (background 0)."""
    known = known_box(mask)
    if known is not None:
        return known
    return nonzero_box(mask), 0


def crop_known(image: Image.Image, region: Box) -> Image.Image:
    """``image.crop(region)``, with the crop's box recorded when the image's is known."""
    out = image.crop(region)
    known = known_box(image)
    if known is not None:
        box, bg = known
        rx1, ry1, rx2, ry2 = region
        if box is not None:
            x1, y1, x2, y2 = max(box[0], rx1), max(box[1], ry1), min(box[2], rx2), min(box[3], ry2)
            box = (x1 - rx1, y1 - ry1, x2 - rx1, y2 - ry1) if x1 < x2 and y1 < y2 else None
        # A region outside the image is padded with 0 by PIL: only a 0 background stays true then.
        inside = rx1 >= 0 and ry1 >= 0 and rx2 <= image.width and ry2 <= image.height
        if inside or bg == 0:
            remember(out, box, bg)
    return out


def _span(lo: int, hi: int, reach: int, limit: int) -> tuple[int, int, int, int]:
    """The output span ``[lo - reach, hi + reach)`` and the input span it reads,
    ``[lo - 2·reach, hi + 2·reach)``, both clamped to ``[0, limit)``."""
    return max(lo - reach, 0), min(hi + reach, limit), max(lo - 2 * reach, 0), min(hi + 2 * reach, limit)


def _box_of(arr: np.ndarray, background: int, dx: int, dy: int) -> Box | None:
    differs = arr != background
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(differs.any(axis=0))
    return int(cols[0]) + dx, int(rows[0]) + dy, int(cols[-1]) + 1 + dx, int(rows[-1]) + 1 + dy


def blur_roi(mask: Image.Image, blur_x: float, blur_y: float) -> Image.Image:
    """``masks.blur_mask`` (two one-dimensional OpenCV Gaussian passes, x first, reflect-101
    border, uint8 after each) on the mask's box grown by each pass's reach only.

    Outside the box the mask is a constant (0, or 255 when inverted); a Gaussian pass keeps a
    constant exactly (tested), so the x pass runs on the box's rows only, over its columns
    grown by two reaches (one for the output, one for what that output reads), and the y pass
    on the columns the x pass changed. Where a grown span reaches the image edge it *is* the
    image edge, so OpenCV applies the same reflect-101 there.
    """
    from .masks import blur_kernel_size  # here, not at the top: masks imports this module

    mask = mask if mask.mode == "L" else mask.convert("L")
    box, bg = _background_box(mask)
    w, h = mask.size
    if box is None:  # constant: a blur leaves it as it is
        return remember(Image.new("L", (w, h), bg), None, bg)
    x1, y1, x2, y2 = box
    kx = blur_kernel_size(blur_x) if blur_x > 0 else 1
    ky = blur_kernel_size(blur_y) if blur_y > 0 else 1
    ox1, ox2, ix1, ix2 = _span(x1, x2, kx // 2, w)
    oy1, oy2, iy1, iy2 = _span(y1, y2, ky // 2, h)
    rows = np.asarray(mask.crop((ix1, y1, ix2, y2)))
    if blur_x > 0:
        rows = cv2.GaussianBlur(rows, (kx, 1), blur_x)
    cols = np.full((iy2 - iy1, ox2 - ox1), bg, np.uint8)
    cols[y1 - iy1 : y2 - iy1] = rows[:, ox1 - ix1 : ox2 - ix1]
    if blur_y > 0:
        cols = cv2.GaussianBlur(cols, (1, ky), blur_y)
    part = cols[oy1 - iy1 : oy2 - iy1]
    full = np.zeros((h, w), np.uint8) if bg == 0 else np.full((h, w), bg, np.uint8)
    full[oy1:oy2, ox1:ox2] = part
    # Image.fromarray shares the array's memory (Pillow marks the picture read-only, so any
    # later modification copies first): no second full-size write.
    return remember(Image.fromarray(full), _box_of(part, bg, ox1, oy1), bg)


def _horizontal_first(size: tuple[int, int]) -> bool:
    """Whether Pillow is known to resize a picture of this size horizontal pass first.

    It is not always: for narrow, tall pictures (measured: widths up to ~30 with heights from
    ~220) Pillow 12 runs the vertical pass first, and the 8-bit intermediate then differs. No
    such case was found with both sides >= 64 and an aspect ratio within 4:1 (tests/test_roi.py
    samples both sides of this line); outside it the plain resize runs.
    """
    w, h = size
    return min(w, h) >= 64 and max(w, h) <= 4 * min(w, h)


def _integer_pass(lo: int, hi: int, in_size: int, out_size: int) -> tuple[int, int, int, int] | None:
    """For a one-axis Lanczos pass that shrinks by a whole factor ``S``: the outputs ``[o1, o2)``
    whose windows meet the input ``[lo, hi)``, and the outputs ``[c1, c2)`` to compute from the
    input crop ``[c1·S, c2·S)`` so that each of ``[o1, o2)`` comes out exactly as in the whole
    pass; None for any other scale.

    With a whole ``S`` every centre ``(x + 0.5)·S``, the support ``3·S`` and each tap's offset
    are exact in floating point, so a crop starting at ``c1·S`` gives each output the same
    window, weights and sum; four outputs of margin keep every kept window inside the crop,
    and a crop clamped to ``0`` or to the input's size has the image's own edge there.
    """
    if out_size > in_size or in_size % out_size:
        return None
    scale = in_size // out_size
    support = 3 * scale
    o1, o2 = max((lo - support) // scale - 1, 0), min((hi + support) // scale + 2, out_size)
    return o1, o2, max(o1 - 4, 0), min(o2 + 4, out_size)


def _pass(strip: Image.Image, lo: int, hi: int, axis: int, out_size: int) -> tuple[Image.Image, int]:
    """One Lanczos pass of ``strip`` along ``axis`` (0: x, 1: y) to ``out_size``, the strip being
    0 outside ``[lo, hi)`` on that axis: (the part that can be non-zero, its offset)."""
    in_size, other = strip.size[axis], strip.size[1 - axis]
    plan = _integer_pass(lo, hi, in_size, out_size)
    if plan is None:
        return strip.resize((out_size, other) if axis == 0 else (other, out_size), resample=LANCZOS), 0
    o1, o2, c1, c2 = plan
    scale = in_size // out_size
    box = (c1 * scale, 0, c2 * scale, other) if axis == 0 else (0, c1 * scale, other, c2 * scale)
    part = strip.crop(box).resize((c2 - c1, other) if axis == 0 else (other, c2 - c1), resample=LANCZOS)
    return part.crop((o1 - c1, 0, o2 - c1, other) if axis == 0 else (0, o1 - c1, other, o2 - c1)), o1


def lanczos_roi(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image.resize(size, LANCZOS)`` for an ``L`` picture that is 0 outside its box.

    Pillow resizes by a horizontal pass into an 8-bit intermediate, then a vertical pass. Each
    is called here by itself with the whole image's geometry (full width for the first, full
    height for the second, so every coefficient and every clip at the image edge is the one
    the whole resize uses), the first only on the box's rows and the second only on the
    columns the first made non-zero; a zero input gives exactly 0 out of both.
    """
    known = _background_box(image)
    if image.mode != "L" or known[1] != 0 or not _horizontal_first(image.size):
        return image.resize(size, resample=LANCZOS)
    box = known[0]
    w, h = size
    if box is None:
        return remember(Image.new("L", size), None)
    if size == image.size:
        return remember(image.copy(), box)
    x1, y1, x2, y2 = box
    rows = image.crop((0, y1, image.width, y2))
    if w != image.width:  # horizontal pass only (on the reachable outputs for a whole factor)
        part, at = _pass(rows, x1, x2, 0, w)
        rows = Image.new("L", (w, y2 - y1))
        rows.paste(part, (at, 0))
    cbox = rows.getbbox()
    if cbox is None:
        return remember(Image.new("L", size), None)
    c1, _, c2, _ = cbox
    slab = Image.new("L", (c2 - c1, image.height))
    slab.paste(rows.crop((c1, 0, c2, rows.height)), (0, y1))
    at = 0
    if h != image.height:  # vertical pass only
        slab, at = _pass(slab, y1, y2, 1, h)
    out = Image.new("L", size)
    out.paste(slab, (c1, at))
    sbox = slab.getbbox()
    return remember(out, None if sbox is None else (sbox[0] + c1, sbox[1] + at, sbox[2] + c1, sbox[3] + at))


def overlay_roi(image: Image.Image, mask: Image.Image, base_rgba: np.ndarray | None = None) -> Image.Image:
    """``overlay.make_overlay`` made on the mask's non-zero box only: elsewhere the overlay is
    the image itself with alpha 255 (``base_rgba``, that conversion, when the caller has it)."""
    from .overlay import make_overlay  # here, not at the top: overlay imports this module

    box = nonzero_box(mask)
    if base_rgba is None:
        base_rgba = np.asarray(image.convert("RGBA"))
    full = base_rgba.copy()  # one copy of the picture
    if box is None:
        return Image.fromarray(full)
    x1, y1, x2, y2 = box
    full[y1:y2, x1:x2] = np.asarray(make_overlay(image.crop(box), mask.crop(box)))
    return Image.fromarray(full)  # shares the array (read-only picture: modifying it copies first)


def invert_roi(mask: Image.Image) -> Image.Image:
    """``masks.invert_mask`` (``255 - v``) computed on the known box only: 255 elsewhere."""
    mask = mask if mask.mode == "L" else mask.convert("L")
    box, bg = _background_box(mask)
    out = Image.new("L", mask.size, 255 - bg)
    if box is not None:
        part = 255 - np.asarray(mask.crop(box))
        out.paste(Image.fromarray(part), box[:2])
    return remember(out, box, 255 - bg)


_RGBA_LOCK = threading.Lock()
_RGBA: list[tuple[weakref.ref, Image.Image]] = []  # the last few images' RGBA conversions
_RGBA_KEEP = 2


def rgba_of(image: Image.Image) -> np.ndarray:
    """``image.convert("RGBA")`` as a read-only array, kept for the last few pictures (by
    identity): the overlay of every mask on one picture starts from a copy of it."""
    with _RGBA_LOCK:
        for ref, rgba in _RGBA:
            if ref() is image:
                return rgba
    rgba = np.asarray(image.convert("RGBA"))
    with _RGBA_LOCK:
        _RGBA.insert(0, (weakref.ref(image), rgba))
        del _RGBA[_RGBA_KEEP:]
    return rgba


def doubled_roi(resized: Image.Image) -> Image.Image:
    """``clip(2·m, 0, 255)`` of a mask (whole picture's overlay mask) on its non-zero box."""
    box = nonzero_box(resized)
    w, h = resized.size
    bands = len(resized.getbands())
    arr = np.zeros((h, w, bands) if bands > 1 else (h, w), np.uint8)
    if box is not None:
        x1, y1, x2, y2 = box
        part = np.asarray(resized.crop(box)).astype(np.float32) * 2
        arr[y1:y2, x1:x2] = np.clip(part, 0, 255).astype(np.uint8)
    return remember(Image.fromarray(arr), box)

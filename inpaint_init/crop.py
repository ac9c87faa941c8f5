"""Crop region for "Only masked" (inpaint_full_res), spec §3.

Boxes are ``(x1, y1, x2, y2)`` in pixels with ``x2``/``y2`` exclusive, as PIL's ``getbbox``
and ``Image.crop`` use them.
"""

from __future__ import annotations

import numpy as np

from .cache import stage
from ._roi import nonzero_box

__all__ = ["mask_bbox", "get_crop_region", "expand_crop_region", "paste_to_from_region"]

Box = tuple[int, int, int, int]


def mask_bbox(mask) -> Box | None:
    """Bounding box of every non-zero pixel (PIL ``getbbox`` semantics), or None when blank.

    ``mask`` is an ``L`` PIL image or an H×W array. Any non-zero value counts, so a blur's
    faint tail (value 1) widens the box.

    >>> m = np.zeros((16, 16), np.uint8); m[3:5, 6:10] = 255
    >>> mask_bbox(m)
    (6, 3, 10, 5)
    """
    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr.any(axis=2)
    rows = np.flatnonzero(arr.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(arr.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def get_crop_region(mask, pad: int = 0) -> Box | None:
    """The mask's bounding box widened by ``pad`` on every side and clamped to the image.

    Returns None for a blank mask (the webui then falls back to whole-picture img2img).

    >>> m = np.zeros((16, 16), np.uint8); m[3:5, 6:10] = 255
    >>> get_crop_region(m, pad=4)
    (2, 0, 14, 9)
    """
    h, w = np.asarray(mask).shape[:2]
    return _padded(mask_bbox(mask), pad, w, h)


def _padded(box: Box | None, pad: int, w: int, h: int) -> Box | None:
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, w), min(y2 + pad, h)


def _grow_span(lo: int, hi: int, diff: int, limit: int) -> tuple[int, int]:
    """Grow ``[lo, hi)`` by ``diff`` (half before, the rest after), then slide it back inside
    ``[0, limit)`` — first away from the far edge, then from the near one — and clamp ``hi``.

    This is the one-axis step of the webui's ``expand_crop_region``; the far-edge test is
    ``>=`` there, which for ``hi == limit`` shifts by zero, so it is harmless.
    """
    lo -= diff // 2
    hi += diff - diff // 2
    if hi >= limit:
        lo -= hi - limit
        hi = limit
    if lo < 0:
        hi -= lo
        lo = 0
    return lo, min(hi, limit)


def expand_crop_region(
    crop_region: Box, processing_width: int, processing_height: int, image_width: int, image_height: int
) -> Box:
    """Grow a crop box towards the processing aspect ratio, staying inside the image.

    The side that is too short grows by ``int(desired - current)`` (so the ratio can be off by
    the truncated fraction of a pixel), split half before and half after; the box then slides
    back inside the image. When the image is too small for the ratio the box is simply
    clamped and the later resize distorts — the webui does the same.

    >>> expand_crop_region((10, 10, 20, 30), 512, 512, 64, 64)
    (5, 10, 25, 30)
    """
    x1, y1, x2, y2 = crop_region
    ratio_processing = processing_width / processing_height
    if (x2 - x1) / (y2 - y1) > ratio_processing:
        diff = int((x2 - x1) / ratio_processing - (y2 - y1))
        y1, y2 = _grow_span(y1, y2, diff, image_height)
    else:
        diff = int((y2 - y1) * ratio_processing - (x2 - x1))
        x1, x2 = _grow_span(x1, x2, diff, image_width)
    return x1, y1, x2, y2


def paste_to_from_region(crop_region: Box) -> tuple[int, int, int, int]:
    """``paste_to = (x1, y1, width, height)`` of a crop region."""
    x1, y1, x2, y2 = crop_region
    return x1, y1, x2 - x1, y2 - y1


# ----------------------------------------------------------------------------- stage (§3)
@stage("crop_region", returns=("crop_region_unexpanded", "crop_region", "paste_to"))
def crop_stage(blurred_mask, inpaint_full_res_padding: int, width: int, height: int):
    """§3 ("Only masked"): the padded box of the blurred mask, that box grown to the processing
    aspect ratio, and ``paste_to`` (x, y, w, h); three Nones for a blank mask."""
    box = _padded(nonzero_box(blurred_mask), inpaint_full_res_padding, blurred_mask.width, blurred_mask.height)
    if box is None:
        return None, None, None
    region = expand_crop_region(box, width, height, blurred_mask.width, blurred_mask.height)
    return box, region, paste_to_from_region(region)

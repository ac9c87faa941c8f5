"""The findings' quantities on the mask (spec findings.md, "The quantities") and the fix searches.

Frames: ``P`` and ``L`` live in the processing frame (H×W pixels; latent cell (i, j) covers
x ∈ [8j, 8j+8), y ∈ [8i, 8i+8); pixels beyond the last whole cell belong to no cell). The
searches re-run only the mask's part of init (invert, blur, crop region, resize, latent mask)
with the same functions run_init calls, so a search step costs milliseconds, not a VAE pass;
``tests/test_findings.py`` checks that each fix, applied through run_init, removes its finding.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .crop import expand_crop_region, get_crop_region
from .latent import latent_mask_image, latent_masks
from .masks import blur_mask, invert_mask
from .pipeline import InitParams, InitResult
from .resize import ResizeMode, resize_image

__all__ = ["painted_frame", "cell_counts", "mask_chain_quantities", "mask_chain", "blur_search", "padding_search"]


def _painted(result: InitResult) -> Image.Image:
    """The binary mask after *Inpaint not masked*: L, image (mask) size, values [0, 255]."""
    p = result.params
    return invert_mask(result.binary_mask) if p.inpainting_mask_invert else result.binary_mask


def painted_frame(painted: Image.Image, p: InitParams, crop_region) -> np.ndarray:
    """``P``: the paint brought into the processing frame by the call that made ``image_mask``
    (Only masked: crop, resize mode 2; Whole picture: ``resize_mode``), then ``value ≥ 128``.
    Returns an H×W bool array."""
    if crop_region is not None:
        framed = resize_image(ResizeMode.RESIZE_AND_FILL, painted.crop(crop_region), p.width, p.height)
    else:
        framed = resize_image(p.resize_mode, painted, p.width, p.height)
    arr = np.asarray(framed)
    return (arr[..., 0] if arr.ndim == 3 else arr) >= 128


def cell_counts(P: np.ndarray, L: np.ndarray) -> dict:
    """painted_px, repainted_cells, lost_px, lost_share, extra_px, extra_share, cells_total.

    ``P``: H×W bool (painted), ``L``: (H//8)×(W//8) bool (repainted cells).

    >>> P = np.zeros((16, 16), bool); P[0:8, 0:3] = True
    >>> L = np.array([[True, False], [False, False]])
    >>> c = cell_counts(P, L); c["lost_px"], c["extra_px"], c["extra_share"]
    (0, 40, 0.625)
    """
    h, w = L.shape
    per_cell = P[: 8 * h, : 8 * w].reshape(h, 8, w, 8).sum(axis=(1, 3))
    painted = int(np.count_nonzero(P))
    kept_paint = int(per_cell[L].sum())
    cells = int(np.count_nonzero(L))
    lost, extra = painted - kept_paint, 64 * cells - kept_paint
    return {
        "painted_px": painted,
        "repainted_cells": cells,
        "lost_px": lost,
        "lost_share": lost / painted if painted else 0.0,
        "extra_px": extra,
        "extra_share": extra / (64 * cells) if cells else 0.0,
        "cells_total": h * w,
    }


def _px_per_cell(p: InitParams, result: InitResult, size: tuple[int, int]) -> float:
    """How many pixels of the mask one 8-px latent cell spans (the larger of x and y)."""
    if result.inpaint_full_res and result.crop_region is not None:
        x1, y1, x2, y2 = result.crop_region
        return 8 / min(p.width / (x2 - x1), p.height / (y2 - y1))
    sx, sy = p.width / size[0], p.height / size[1]
    s = max(sx, sy) if p.resize_mode == ResizeMode.CROP_AND_RESIZE else min(sx, sy)
    return 8 / s


def mask_chain_quantities(result: InitResult) -> dict:
    """:func:`cell_counts` of the result (``L`` from its nmask), plus ``L`` and ``px_per_cell``.
    Only for a result with a mask in use (``nmask`` not None)."""
    p = result.params
    painted = _painted(result)
    P = painted_frame(painted, p, result.crop_region if result.inpaint_full_res else None)
    L = result.nmask[0].float().cpu().numpy() >= 0.5
    out = cell_counts(P, L)
    out["L"] = L
    out["px_per_cell"] = _px_per_cell(p, result, painted.size)
    return out


def _holds(which: str, c: dict) -> bool:
    if which == "nothing-repainted":
        return c["repainted_cells"] > 0
    return c["lost_share"] < 0.20


def mask_chain(painted: Image.Image, p: InitParams, blur: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``(P, L)`` that init would give with Mask blur ``blur`` on both axes and ``p`` otherwise:
    the mask's part of run_init (blur, crop region, resize, latent mask) with its own functions.
    None when Only masked would find the blurred mask blank (init then drops the mask)."""
    W, H = p.width, p.height
    blurred = blur_mask(painted, blur, blur)
    if p.inpaint_full_res:
        box = get_crop_region(np.asarray(blurred), p.inpaint_full_res_padding)
        if box is None:
            return None
        crop = expand_crop_region(box, W, H, blurred.width, blurred.height)
        image_mask = resize_image(ResizeMode.RESIZE_AND_FILL, blurred.crop(crop), W, H)
        P = painted_frame(painted, p, crop)
    else:
        image_mask, P = resize_image(p.resize_mode, blurred, W, H), painted_frame(painted, p, None)
    source = p.latent_mask if p.latent_mask is not None else image_mask
    _, nmask = latent_masks(latent_mask_image(source, W // 8, H // 8), 1, p.effective_mask_round)
    return P, nmask[0].numpy() >= 0.5


def blur_search(result: InitResult, which: str) -> dict | None:
    """The blur search: b = ⌈max(blur_x, blur_y)⌉ − 1 down to 0, the first b with which the
    condition of ``which`` holds ("nothing-repainted": some cell repainted;
    "painted-not-repainted": lost_share < 0.20) gives ``{"mask_blur_x": b, "mask_blur_y": b}``;
    None when no b does."""
    p = result.params
    painted = _painted(result)
    for b in range(math.ceil(max(p.mask_blur_x, p.mask_blur_y)) - 1, -1, -1):
        frames = mask_chain(painted, p, b)
        if frames is not None and _holds(which, cell_counts(*frames)):
            return {"mask_blur_x": b, "mask_blur_y": b}
    return None


def padding_search(result: InitResult, which: str, image_size: tuple[int, int] | None) -> dict | None:
    """The padding search: p = padding + 8, + 16, … while p ≤ padding + 256 and p ≤ the init
    image's larger side; the first p with which the condition of ``which`` holds
    ("crop-magnified": scale < 4; "little-context": context_share ≥ 0.25) gives
    ``{"inpaint_full_res_padding": p}``; None when no p does."""
    params = result.params
    W, H = params.width, params.height
    blurred = np.asarray(result.blurred_mask)
    bh, bw = blurred.shape
    zero = blurred == 0
    limit = min(params.inpaint_full_res_padding + 256, max(image_size) if image_size else max(bw, bh))
    for pad in range(params.inpaint_full_res_padding + 8, limit + 1, 8):
        box = get_crop_region(blurred, pad)
        x1, y1, x2, y2 = expand_crop_region(box, W, H, bw, bh)
        if which == "crop-magnified":
            ok = min(W / (x2 - x1), H / (y2 - y1)) < 4
        else:
            ok = np.count_nonzero(zero[y1:y2, x1:x2]) / ((x2 - x1) * (y2 - y1)) >= 0.25
        if ok:
            return {"inpaint_full_res_padding": pad}
    return None

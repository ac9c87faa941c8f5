"""Colour correction (spec §7): calibrate on the init image, apply after sampling."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from .cache import stage

__all__ = ["setup_color_correction", "apply_color_correction", "luminosity_blend"]


def setup_color_correction(image: Image.Image) -> np.ndarray:
    """The calibration target: the (filled) init image as H×W×3 uint8 CIE LAB (OpenCV's 8-bit
    encoding: L scaled to [0, 255], a and b offset by 128)."""
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2LAB)


def _lum(c: np.ndarray) -> np.ndarray:
    return c[..., 0] * 0.299 + c[..., 1] * 0.587 + c[..., 2] * 0.114


def luminosity_blend(background: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Luminosity blend of two opaque H×W×3 uint8 images: ``background``'s colour with
    ``foreground``'s luminosity, as the webui's pinned ``blendmodes==2022`` computes it.

    In float [0, 1]: shift every channel by ``Lum(fg) − Lum(bg)`` (Lum = 0.299 R + 0.587 G +
    0.114 B), pull a colour that left [0, 1] back towards its luminosity, clip, and convert
    with ``(255·x).astype(uint8)`` — truncation. Later blendmodes releases round differently
    (±1 on about half the pixels), and 2022 needs Pillow < 10 and NumPy < 2, so this is our own
    vectorised code of that arithmetic, checked against outputs of blendmodes 2022 itself
    (tests/data/luminosity_blendmodes_2022.npz).
    """
    b = background.astype(np.float64) / 255
    f = foreground.astype(np.float64) / 255
    c = b + (_lum(f) - _lum(b))[..., None]
    l = _lum(c)[..., None]
    lo, hi = c.min(axis=2, keepdims=True), c.max(axis=2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(lo < 0, l + (c - l) * l / (l - lo), c)
        c = np.where(hi > 1, l + (c - l) * (1 - l) / (hi - l), c)
    return (np.clip(c, 0, 1) * 255).astype(np.uint8)


def apply_color_correction(correction: np.ndarray, image: Image.Image) -> Image.Image:
    """Match ``image``'s LAB histograms per channel to ``correction``, convert back, and blend in
    luminosity mode so that only chroma changes: the luminosity stays the sample's.

    Uses scikit-image's ``match_histograms`` (as the webui) and :func:`luminosity_blend` (the
    webui's blendmodes arithmetic).
    """
    from skimage import exposure

    rgb = np.asarray(image.convert("RGB"))
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    matched = exposure.match_histograms(lab, correction, channel_axis=2)
    corrected = cv2.cvtColor(matched.astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.uint8)
    return Image.fromarray(luminosity_blend(corrected, rgb))


@stage("color_correction", returns="color_corrections")
def color_stage(filled_images: list[Image.Image]) -> list[np.ndarray]:
    """§7: the colour-correction target (LAB) of each image that will be encoded."""
    return [setup_color_correction(image) for image in filled_images]

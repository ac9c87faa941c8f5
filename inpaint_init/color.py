"""Colour correction (spec §7): calibrate on the init image, apply after sampling."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

__all__ = ["setup_color_correction", "apply_color_correction"]


def setup_color_correction(image: Image.Image) -> np.ndarray:
    """The calibration target: the (filled) init image as H×W×3 uint8 CIE LAB (OpenCV's 8-bit
    encoding: L scaled to [0, 255], a and b offset by 128)."""
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2LAB)


def apply_color_correction(correction: np.ndarray, image: Image.Image) -> Image.Image:
    """Match ``image``'s LAB histograms per channel to ``correction``, convert back, and blend in
    luminosity mode so that only chroma changes: the luminosity stays the sample's.

    Uses scikit-image's ``match_histograms`` and the ``blendmodes`` package, as the webui does.
    """
    from blendmodes.blend import BlendType, blendLayers
    from skimage import exposure

    rgb = image.convert("RGB")
    lab = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2LAB)
    matched = exposure.match_histograms(lab, correction, channel_axis=2)
    corrected = Image.fromarray(cv2.cvtColor(matched.astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.uint8))
    return blendLayers(corrected, rgb, BlendType.LUMINOSITY).convert("RGB")

"""The ImageEditor's value: the picture and the painted layers, to and from what init gets."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from inpaint_init import create_binary_mask

from .state import as_file


def editor_value(image: Image.Image, mask: Image.Image | None) -> dict:
    """An ImageEditor value: the image as background and a painted mask as one layer."""
    layers = []
    if mask is not None and mask.mode == "RGBA":
        layers = [mask]
    return {"background": image.convert("RGBA"), "layers": layers, "composite": None}


def mask_from_editor(editor: dict | None) -> tuple[Image.Image | None, Image.Image | None]:
    """(image, painted mask) from an ImageEditor value.

    Brush layers become one RGBA mask (white, alpha = the strongest stroke), then go through
    ``create_binary_mask`` with rounding, as the webui's inpaint tab does before init.
    """
    if not editor or editor.get("background") is None:
        return None, None
    background = editor["background"]
    if not isinstance(background, Image.Image):
        background = Image.fromarray(np.asarray(background))
    # The browser shows (and the user paints on) the picture turned by its EXIF orientation; the
    # webui turns uploads the same way (and so does its API, and so does our mask upload).
    background = ImageOps.exif_transpose(background)
    alpha = np.zeros((background.height, background.width), np.uint8)
    for layer in editor.get("layers") or []:
        if layer is None:
            continue
        layer = layer if isinstance(layer, Image.Image) else Image.fromarray(np.asarray(layer))
        if layer.size != background.size:
            layer = layer.resize(background.size, Image.Resampling.NEAREST)
        a = np.asarray(layer.convert("RGBA"))[..., 3]
        alpha = np.maximum(alpha, a)
    rgba = Image.merge("RGBA", (*Image.new("RGB", background.size, (255, 255, 255)).split(), Image.fromarray(alpha)))
    return background, create_binary_mask(rgba, round=True)


def editor_file_value(image: Image.Image) -> dict:
    return {"background": as_file(image.convert("RGBA")), "layers": [], "composite": None}

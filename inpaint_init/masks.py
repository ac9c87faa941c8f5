"""Mask stage: binary mask, invert, separable Gaussian blur (spec §2).

Masks are PIL images in mode ``L`` with values in ``[0, 255]``; 255 means "repaint".
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageOps

from .cache import stage
from ._roi import blur_roi, invert_roi

__all__ = [
    "create_binary_mask",
    "invert_mask",
    "blur_kernel_size",
    "blur_mask",
    "to_mask_image",
]


def to_mask_image(mask) -> Image.Image:
    """Accept a PIL image or a NumPy array (H×W or H×W×C, uint8 or bool) and return a PIL image.

    Arrays keep their channel count (H×W×4 becomes RGBA) so that :func:`create_binary_mask`
    sees the same image the webui would.
    """
    if isinstance(mask, Image.Image):
        return mask
    arr = np.asarray(mask)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise TypeError(f"mask array must be uint8 or bool, got {arr.dtype}")
    return Image.fromarray(arr)


def create_binary_mask(image: Image.Image, round: bool = True) -> Image.Image:
    """The webui's ``create_binary_mask``: mask image → mode ``L``.

    Only an RGBA image whose alpha is not entirely 255 is treated as an alpha mask: its alpha
    channel becomes the mask and, with ``round``, is thresholded ``255 if a > 128 else 0``
    (strictly greater). Every other image is only converted to ``L``: a grey RGB mask stays
    grey here, and it is the latent stage's rounding that later decides what is repainted.

    >>> m = Image.new("RGBA", (2, 1)); m.putpixel((0, 0), (0, 0, 0, 129))
    >>> np.asarray(create_binary_mask(m)).tolist()
    [[255, 0]]
    """
    # getextrema on RGBA gives one (min, max) per band; the last is alpha.
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        alpha = image.getchannel("A")
        if round:
            return alpha.point(lambda a: 255 if a > 128 else 0)
        return alpha
    return image.convert("L")


def invert_mask(mask: Image.Image) -> Image.Image:
    """``255 - v`` on an ``L`` mask ("Inpaint not masked")."""
    return ImageOps.invert(mask.convert("L"))


def blur_kernel_size(sigma: float) -> int:
    """The webui's Gaussian kernel length for a blur radius: ``2 * int(2.5 * sigma + 0.5) + 1``.

    >>> blur_kernel_size(4)
    21
    """
    return 2 * int(2.5 * sigma + 0.5) + 1


def blur_mask(mask: Image.Image, blur_x: float, blur_y: float) -> Image.Image:
    """Blur an ``L`` mask with two one-dimensional OpenCV Gaussian passes, x first.

    Each pass is ``cv2.GaussianBlur`` on the uint8 array with a (k, 1) or (1, k) kernel and
    sigma equal to the radius; a pass with radius 0 (or less) is skipped. OpenCV's default
    border (reflect-101) applies, and the result stays uint8 after each pass, as in the webui.
    """
    arr = np.asarray(mask.convert("L"))
    if blur_x > 0:
        arr = cv2.GaussianBlur(arr, (blur_kernel_size(blur_x), 1), blur_x)
    if blur_y > 0:
        # sigmaY is left unset on purpose: OpenCV copies sigmaX into it, and the size-1 width
        # makes the pass purely vertical with sigma blur_y (what the webui gets).
        arr = cv2.GaussianBlur(arr, (1, blur_kernel_size(blur_y)), blur_y)
    return Image.fromarray(np.ascontiguousarray(arr))


# ----------------------------------------------------------------------------- stages (§2)
@stage("binary_mask", returns="binary_mask")
def binary_mask_stage(mask_image: Image.Image, round_mask: bool) -> Image.Image:
    """§2: the mask as init gets it, made binary (``round_mask``: init's mask_round, which soft
    inpainting turns off)."""
    return create_binary_mask(mask_image, round=round_mask)


@stage("blur", returns="blurred_mask")
def blur_stage(binary_mask: Image.Image, inpainting_mask_invert: int, mask_blur_x: float, mask_blur_y: float) -> Image.Image:
    """§2: invert ("Inpaint not masked"), then the per-axis OpenCV Gaussian blur."""
    # The same bytes as blur_mask(invert_mask(...)), worked out on the mask's box only (_roi.py).
    mask = invert_roi(binary_mask) if inpainting_mask_invert else binary_mask
    return blur_roi(mask, mask_blur_x, mask_blur_y)

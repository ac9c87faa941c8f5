"""The webui's ``resize_image`` (spec §4), used for images and masks alike.

All resampling is Lanczos, as in the webui with no upscaler configured.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from PIL import Image

from .cache import stage
from ._roi import crop_known, doubled_roi, lanczos_roi

__all__ = ["ResizeMode", "RESIZE_MODE_LABELS", "resize_image", "interpolate_latent"]

LANCZOS = Image.Resampling.LANCZOS


class ResizeMode(IntEnum):
    JUST_RESIZE = 0
    CROP_AND_RESIZE = 1
    RESIZE_AND_FILL = 2
    LATENT_UPSCALE = 3


RESIZE_MODE_LABELS = {
    ResizeMode.JUST_RESIZE: "Just resize",
    ResizeMode.CROP_AND_RESIZE: "Crop and resize",
    ResizeMode.RESIZE_AND_FILL: "Resize and fill",
    ResizeMode.LATENT_UPSCALE: "Just resize (latent upscale)",
}


def _centred_canvas(resized: Image.Image, width: int, height: int) -> Image.Image:
    # A new RGB canvas, whatever the input mode: an L mask comes back RGB from modes 1-3.
    canvas = Image.new("RGB", (width, height))
    canvas.paste(resized, box=(width // 2 - resized.width // 2, height // 2 - resized.height // 2))
    return canvas


def _plain_lanczos(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, resample=LANCZOS)


def resize_image(resize_mode: int, image: Image.Image, width: int, height: int, _lanczos=_plain_lanczos) -> Image.Image:
    """Resize ``image`` to ``width``×``height`` the way the webui's img2img does.

    - 0 "Just resize": plain Lanczos resize (keeps the mode).
    - 1 "Crop and resize": scale to cover, centre, crop; result is RGB.
    - 2 "Resize and fill" (and 3 for masks): scale to fit, centre on black, then stretch the
      first/last row (column) into the empty bands with a zero-height (zero-width) box resize,
      PIL's default bicubic. That is *not* a copy of the edge row: bicubic weights reach past
      the box, so a band comes out near ``1.125·edge − 0.125·next``. When the leftover is odd,
      the last row (column) stays black, as in the webui.

    Sizes follow integer arithmetic: the scaled side is ``iw * h // ih`` (or ``ih * w // iw``).
    ``_lanczos(image, size)`` is the main resize (the stages pass :func:`._roi.lanczos_roi`,
    which gives the same bytes).
    """
    if resize_mode == ResizeMode.JUST_RESIZE:
        return _lanczos(image, (width, height))

    ratio = width / height
    src_ratio = image.width / image.height
    if resize_mode == ResizeMode.CROP_AND_RESIZE:
        src_w = width if ratio > src_ratio else image.width * height // image.height
        src_h = height if ratio <= src_ratio else image.height * width // image.width
        _check_scaled(image, src_w, src_h, resize_mode)
        return _centred_canvas(_lanczos(image, (src_w, src_h)), width, height)

    # Modes 2 and 3 (mode 3 only reaches here for masks: its images are resized in latent space).
    src_w = width if ratio < src_ratio else image.width * height // image.height
    src_h = height if ratio >= src_ratio else image.height * width // image.width
    _check_scaled(image, src_w, src_h, resize_mode)
    resized = _lanczos(image, (src_w, src_h))
    res = _centred_canvas(resized, width, height)
    if ratio < src_ratio:
        band = height // 2 - src_h // 2
        if band > 0:
            top = resized.resize((width, band), box=(0, 0, width, 0))
            bottom = resized.resize((width, band), box=(0, resized.height, width, resized.height))
            res.paste(top, box=(0, 0))
            res.paste(bottom, box=(0, band + src_h))
    elif ratio > src_ratio:
        band = width // 2 - src_w // 2
        if band > 0:
            left = resized.resize((band, height), box=(0, 0, 0, height))
            right = resized.resize((band, height), box=(resized.width, 0, resized.width, height))
            res.paste(left, box=(0, 0))
            res.paste(right, box=(band + src_w, 0))
    return res


#: The largest intermediate a resize may make (mode 1 scales a very thin image to cover the
#: target: a 3000×1 image at 512×512 would become 1,536,000×512).
MAX_SCALED_PIXELS = 8192 * 8192


def _check_scaled(image: Image.Image, src_w: int, src_h: int, mode: int) -> None:
    """A ValueError in words where the webui's own resize would fail (a side scaled to 0) or
    would exhaust memory."""
    label = RESIZE_MODE_LABELS[ResizeMode(mode)]
    if src_w < 1 or src_h < 1:
        raise ValueError(
            f"'{label}' would scale the {image.width}×{image.height} image to {src_w}×{src_h}: it is too thin for "
            "this size (the webui fails here too). Use 'Just resize' or a less extreme image."
        )
    if src_w * src_h > MAX_SCALED_PIXELS:
        raise ValueError(
            f"'{label}' would scale the {image.width}×{image.height} image to {src_w}×{src_h} before cropping, more than "
            f"{MAX_SCALED_PIXELS // 2**20} MP. Use 'Just resize' or a less extreme image."
        )


def interpolate_latent(latent, height: int, width: int):
    """Mode 3's latent resize: bilinear ``F.interpolate`` (align_corners False) of a
    B×C×h×w latent to ``(height // 8, width // 8)``."""
    import torch.nn.functional as F

    return F.interpolate(latent, size=(height // 8, width // 8), mode="bilinear")


# ----------------------------------------------------------------------------- stages (§3/§4, the mask)
def resize_or_error(resize_mode: int, image: Image.Image, width: int, height: int, roi: bool = False) -> Image.Image:
    """:func:`resize_image`, its refusals as :class:`~inpaint_init.errors.InitError`; ``roi``:
    a mask, resized on its non-zero box only (same bytes)."""
    from .errors import InitError

    try:
        return resize_image(resize_mode, image, width, height, lanczos_roi if roi else _plain_lanczos)
    except ValueError as e:
        raise InitError(str(e)) from e


@stage("mask_resize", returns="image_mask")
def crop_mask_stage(blurred_mask: Image.Image, crop_region, width: int, height: int) -> Image.Image:
    """§3: "Only masked": the crop of the blurred mask, brought to the processing size by
    "Resize and fill" (the webui's fixed mode 2 for the crop)."""
    return resize_or_error(ResizeMode.RESIZE_AND_FILL, crop_known(blurred_mask, crop_region), width, height, roi=True)


@stage("mask_resize", returns=("image_mask", "overlay_mask"))
def whole_mask_stage(blurred_mask: Image.Image, resize_mode: int, width: int, height: int):
    """§4 whole picture: the blurred mask at the processing size by the resize mode, and the
    overlay's mask, twice as hard (``clip(2·m, 0, 255)``)."""
    resized = resize_or_error(resize_mode, blurred_mask, width, height, roi=True)
    return resized, doubled_roi(resized)

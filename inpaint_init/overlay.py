"""Overlay (spec §5) and the paste-back it is made for (spec "After sampling")."""

from __future__ import annotations

from PIL import Image, ImageOps

from .cache import stage
from .resize import ResizeMode, resize_image, resize_or_error
from ._roi import overlay_roi, rgba_of

__all__ = ["flatten", "make_overlay", "apply_overlay", "DEFAULT_BACKGROUND"]

#: The webui's ``img2img_background_color`` default, used to flatten RGBA init images.
DEFAULT_BACKGROUND = "#ffffff"


def flatten(image: Image.Image, background: str = DEFAULT_BACKGROUND) -> Image.Image:
    """RGBA → RGB over ``background``; every other mode is just converted to RGB (so an LA or
    a transparent P image loses its transparency without a background, as in the webui)."""
    if image.mode == "RGBA":
        canvas = Image.new("RGBA", image.size, background)
        canvas.paste(image, mask=image)
        image = canvas
    return image.convert("RGB")


def make_overlay(image: Image.Image, mask_for_overlay: Image.Image) -> Image.Image:
    """RGBA overlay: the original where the mask is 0, transparent where 255, partly in between.

    ``image`` and ``mask_for_overlay`` have the same size. The image is pasted through the
    inverted mask onto an empty *premultiplied* canvas, then converted to RGBA — the same
    rounding path as the webui.
    """
    canvas = Image.new("RGBa", image.size)
    canvas.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask_for_overlay.convert("L")))
    return canvas.convert("RGBA")


def apply_overlay(
    sample: Image.Image, overlay: Image.Image, paste_to: tuple[int, int, int, int] | None = None
) -> Image.Image:
    """What the webui does with a sampled image: un-crop and composite the overlay on top.

    In "Only masked" mode (``paste_to`` given) the sample is resized with mode 1 to the
    region's size and pasted at ``(x, y)`` on a transparent canvas of the overlay's size; the
    overlay then restores the original wherever the mask was 0. Returns RGB.
    """
    if paste_to is not None:
        x, y, w, h = paste_to
        base = Image.new("RGBA", overlay.size)
        base.paste(resize_image(ResizeMode.CROP_AND_RESIZE, sample, w, h), (x, y))
        sample = base
    out = sample.convert("RGBA")
    out.alpha_composite(overlay)
    return out.convert("RGB")


# ----------------------------------------------------------------------------- stage (§5)
@stage("overlay", returns=("overlay_images", "mask_for_overlay"))
def overlay_stage(base_images: list[Image.Image], overlay_mask: Image.Image, resize_mode: int):
    """§5: per image, the RGBA paste-back layer. A mask of another size than the image is
    resized to it by the resize mode first and, as in the webui, replaces the overlay mask for
    the images after it (the last one is ``mask_for_overlay``)."""
    overlays, mask = [], overlay_mask
    for image in base_images:
        if mask.size != image.size:
            mask = resize_or_error(resize_mode, mask, *image.size, roi=True)
        # make_overlay's bytes, made on the mask's box only (_roi.py)
        overlays.append(overlay_roi(image, mask, rgba_of(image)))
    return overlays, mask

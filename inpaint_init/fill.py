"""Masked content "fill" (spec §6): replace the masked area by a blur pyramid of its surroundings.

Two implementations with identical output:

- :func:`fill_reference` — the straightforward path over the whole image, one-to-one with the spec.
- :func:`fill` — the same PIL operations restricted to the mask's bounding box plus the reach
  of each blur. Outside the mask the result is exactly the original (the last, radius-0 layer
  is opaque there), so only pixels under a non-zero mask need the pyramid, and a blur of radius
  r only sees pixels within its reach. ``tests/test_fill_overlay_color.py`` compares both with
  zero tolerance.
"""

from __future__ import annotations

import math
from functools import lru_cache

from PIL import Image, ImageFilter, ImageOps

from .cache import stage
from .crop import mask_bbox

__all__ = ["FILL_PYRAMID", "fill", "fill_reference", "pil_blur_reach"]

#: (radius, repeats) of the webui's fill, coarse to fine.
FILL_PYRAMID: tuple[tuple[int, int], ...] = ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1))


def _masked_premultiplied(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Premultiplied RGBa image whose alpha is ``255 - mask``: the masked part removed."""
    out = Image.new("RGBa", image.size)
    out.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    return out


def fill_reference(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Plain fill over the whole image. ``mask`` is ``L`` (or RGB), 255 = masked; returns RGB."""
    acc = Image.new("RGBA", image.size)
    masked = _masked_premultiplied(image, mask)
    for radius, repeats in FILL_PYRAMID:
        layer = masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            acc.alpha_composite(layer)
    return acc.convert("RGB")


def pil_blur_reach(radius: float) -> int:
    """How far (pixels, per axis) a Pillow ``GaussianBlur(radius)`` can move a value.

    Pillow approximates the Gaussian by three box blurs of fractional radius
    ``l + a`` (Gwosdek et al., as in its BoxBlur.c); each pass reaches ``floor(l + a) + 1``.
    One pixel of slack guards against the float arithmetic.
    """
    if radius <= 0:
        return 0
    passes = 3
    sigma2 = radius * radius / passes
    box_len = math.sqrt(12.0 * sigma2 + 1.0)
    l = math.floor((box_len - 1.0) / 2.0)
    a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2) / (6 * (sigma2 - (l + 1) * (l + 1)))
    return passes * (math.floor(l + a) + 1) + 1


@lru_cache(maxsize=1)
def _per_axis_blur() -> bool:
    """Whether this Pillow blurs with separate x/y radii (Pillow ≥ 10.1; the webui pins 9.5)."""
    try:
        Image.new("RGBa", (2, 2)).filter(ImageFilter.GaussianBlur((1, 0)))
        return True
    except TypeError:
        return False


def fill(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Fast fill, identical to :func:`fill_reference`.

    ``image``: any PIL mode convertible to RGBA; ``mask``: same size, ``L`` (or RGB), 255 = masked.
    Returns an RGB image with the masked area filled from its surroundings.

    Work is limited three ways, none of which changes a pixel: only the mask's bounding box is
    filled (elsewhere the opaque radius-0 layer restores the original); each blur reads only
    the box plus its reach; and Pillow's Gaussian blur is an x pass then a y pass (exactly: the
    tests compare both), so the y pass runs only over the box's columns.
    """
    if mask.size != image.size:
        raise ValueError(f"fill: mask size {mask.size} differs from image size {image.size}")
    mask_l = mask.convert("L")
    box = mask_bbox(mask_l)
    result = image.convert("RGB")
    if box is None:
        return result
    bx1, by1, bx2, by2 = box
    w, h = image.size

    def region(reach: int) -> tuple[int, int, int, int]:
        return max(bx1 - reach, 0), max(by1 - reach, 0), min(bx2 + reach, w), min(by2 + reach, h)

    # Premultiplying is per pixel, so one crop at the widest reach serves every radius.
    outer = region(max(pil_blur_reach(r) for r, _ in FILL_PYRAMID))
    masked = _masked_premultiplied(image.crop(outer), mask_l.crop(outer))
    acc = Image.new("RGBA", (bx2 - bx1, by2 - by1))
    for radius, repeats in FILL_PYRAMID:
        rx1, ry1, rx2, ry2 = region(pil_blur_reach(radius))
        layer = masked.crop((rx1 - outer[0], ry1 - outer[1], rx2 - outer[0], ry2 - outer[1]))
        if radius and _per_axis_blur():
            layer = layer.filter(ImageFilter.GaussianBlur((radius, 0)))
            layer = layer.crop((bx1 - rx1, 0, bx2 - rx1, layer.height))
            layer = layer.filter(ImageFilter.GaussianBlur((0, radius)))
            layer = layer.crop((0, by1 - ry1, layer.width, by2 - ry1))
        else:
            layer = layer.filter(ImageFilter.GaussianBlur(radius))
            layer = layer.crop((bx1 - rx1, by1 - ry1, bx2 - rx1, by2 - ry1))
        layer = layer.convert("RGBA")
        for _ in range(repeats):
            acc.alpha_composite(layer)
    result.paste(acc.convert("RGB"), box=(bx1, by1))
    return result


# ----------------------------------------------------------------------------- stage (§6)
def check_fill_sizes(images: list[Image.Image], mask: Image.Image, inpainting_fill: int, resize_mode: int, inpaint_full_res: bool) -> None:
    """The webui's fill needs the mask and each image at one size; say why they are not."""
    from .errors import InitError

    for image in images:
        if mask.size == image.size:
            continue
        if resize_mode == 3 and not inpaint_full_res:
            raise InitError(
                f"Masked content '{['fill', 'original', 'latent noise', 'latent nothing'][inpainting_fill]}' with resize "
                f"mode 3 (latent upscale) in whole-picture mode: the image stays {image.width}×{image.height} while the mask "
                f"is resized to {mask.width}×{mask.height}, so the webui's fill fails on this input. Use Masked content "
                "'original', another resize mode, or an image of the processing size."
            )
        raise InitError(f"the latent mask is {mask.width}×{mask.height} but the image to fill is {image.width}×{image.height}")


@stage("fill", returns="filled_images")
def fill_stage(processed_images: list[Image.Image], latent_mask_source: Image.Image) -> list[Image.Image]:
    """§6 (Masked content "fill", and modes 2/3 before their latent fill): each image with the
    masked part replaced by the blurred surroundings."""
    return [fill(image, latent_mask_source) for image in processed_images]

"""A plain, straight-line implementation of the reference init's mask-side and pixel stages.

Written one-to-one from ``reference-init.md`` with no caching, no fast paths and no shared
helpers from ``inpaint_init`` beyond what the spec names as the operation itself (PIL, OpenCV).
It is the oracle the tests compare ``run_init`` with, and the baseline the benchmark times.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

LANCZOS = Image.Resampling.LANCZOS


def binary_mask(image, round=True):
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        a = image.split()[-1].convert("L")
        return a.point(lambda x: 255 if x > 128 else 0) if round else a
    return image.convert("L")


def blur(mask, bx, by):
    if bx > 0:
        k = 2 * int(2.5 * bx + 0.5) + 1
        mask = Image.fromarray(cv2.GaussianBlur(np.array(mask), (k, 1), bx))
    if by > 0:
        k = 2 * int(2.5 * by + 0.5) + 1
        mask = Image.fromarray(cv2.GaussianBlur(np.array(mask), (1, k), by))
    return mask


def crop_region(mask, pad):
    box = mask.getbbox()
    if not box:
        return None
    x1, y1, x2, y2 = box
    return (max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, mask.width), min(y2 + pad, mask.height))


def expand(box, width, height, iw, ih):
    x1, y1, x2, y2 = box
    ratio_p = width / height
    if (x2 - x1) / (y2 - y1) > ratio_p:
        diff = int((x2 - x1) / ratio_p - (y2 - y1))
        y1 -= diff // 2
        y2 += diff - diff // 2
        if y2 >= ih:
            d = y2 - ih
            y2 -= d
            y1 -= d
        if y1 < 0:
            y2 -= y1
            y1 -= y1
        if y2 >= ih:
            y2 = ih
    else:
        diff = int((y2 - y1) * ratio_p - (x2 - x1))
        x1 -= diff // 2
        x2 += diff - diff // 2
        if x2 >= iw:
            d = x2 - iw
            x2 -= d
            x1 -= d
        if x1 < 0:
            x2 -= x1
            x1 -= x1
        if x2 >= iw:
            x2 = iw
    return x1, y1, x2, y2


def resize(mode, im, w, h):
    if mode == 0:
        return im.resize((w, h), resample=LANCZOS)
    ratio, src_ratio = w / h, im.width / im.height
    if mode == 1:
        sw = w if ratio > src_ratio else im.width * h // im.height
        sh = h if ratio <= src_ratio else im.height * w // im.width
        r = im.resize((sw, sh), resample=LANCZOS)
        out = Image.new("RGB", (w, h))
        out.paste(r, box=(w // 2 - sw // 2, h // 2 - sh // 2))
        return out
    sw = w if ratio < src_ratio else im.width * h // im.height
    sh = h if ratio >= src_ratio else im.height * w // im.width
    r = im.resize((sw, sh), resample=LANCZOS)
    out = Image.new("RGB", (w, h))
    out.paste(r, box=(w // 2 - sw // 2, h // 2 - sh // 2))
    if ratio < src_ratio:
        fh = h // 2 - sh // 2
        if fh > 0:
            out.paste(r.resize((w, fh), box=(0, 0, w, 0)), box=(0, 0))
            out.paste(r.resize((w, fh), box=(0, r.height, w, r.height)), box=(0, fh + sh))
    elif ratio > src_ratio:
        fw = w // 2 - sw // 2
        if fw > 0:
            out.paste(r.resize((fw, h), box=(0, 0, 0, h)), box=(0, 0))
            out.paste(r.resize((fw, h), box=(r.width, 0, r.width, h)), box=(fw + sw, 0))
    return out


def fill(image, mask):
    acc = Image.new("RGBA", image.size)
    masked = Image.new("RGBa", image.size)
    masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        layer = masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            acc.alpha_composite(layer)
    return acc.convert("RGB")


def flatten(img, bg="#ffffff"):
    if img.mode == "RGBA":
        b = Image.new("RGBA", img.size, bg)
        b.paste(img, mask=img)
        img = b
    return img.convert("RGB")


def plain_init(image, mask, p):
    """Mask-side and pixel stages for one init image; ``p`` is an ``InitParams``-like object.

    Returns a dict of the spec's intermediates: binary, blurred, crop_region, paste_to,
    image_mask, mask_for_overlay, overlay, processed, filled, latmask (h×w float, rounded or not).
    """
    out = {}
    m = binary_mask(mask, p.mask_round)
    out["binary"] = m
    if p.inpainting_mask_invert:
        m = ImageOps.invert(m)
    m = blur(m, p.mask_blur_x, p.mask_blur_y)
    out["blurred"] = m
    region = None
    if p.inpaint_full_res:
        mfo = m
        region = crop_region(m.convert("L"), p.inpaint_full_res_padding)
        if region:
            region = expand(region, p.width, p.height, m.width, m.height)
            image_mask = resize(2, m.crop(region), p.width, p.height)
            out["paste_to"] = (region[0], region[1], region[2] - region[0], region[3] - region[1])
        else:
            image_mask = mfo = None
    else:
        image_mask = resize(p.resize_mode, m, p.width, p.height)
        mfo = Image.fromarray(np.clip(np.array(image_mask).astype(np.float32) * 2, 0, 255).astype(np.uint8))
    out["crop_region"] = region
    out["image_mask"] = image_mask
    img = flatten(image, p.background_color)
    if region is None and p.resize_mode != 3:
        img = resize(p.resize_mode, img, p.width, p.height)
    if image_mask is not None:
        if mfo.size != img.size:
            mfo = resize(p.resize_mode, mfo, img.width, img.height)
        canvas = Image.new("RGBa", img.size)
        canvas.paste(img.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mfo.convert("L")))
        out["overlay"] = canvas.convert("RGBA")
    out["mask_for_overlay"] = mfo
    if region is not None:
        img = resize(2, img.crop(region), p.width, p.height)
    out["processed"] = img
    lm = p.latent_mask if p.latent_mask is not None else image_mask
    if image_mask is not None and p.inpainting_fill != 1:
        img = fill(img, lm)
    out["filled"] = img
    if image_mask is not None:
        small = lm.convert("RGB").resize((p.width // 8, p.height // 8))
        lat = np.array(small, dtype=np.float32)[..., 0] / 255
        out["latmask"] = np.around(lat) if p.mask_round else lat
    return out

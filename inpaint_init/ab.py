"""A/B: what changed between two results of :func:`~inpaint_init.pipeline.run_init`.

>>> from PIL import Image
>>> from inpaint_init import InitParams, run_init
>>> image = Image.new("RGB", (64, 64), "gray"); mask = Image.new("L", (64, 64)); mask.paste(255, (16, 16, 48, 48))
>>> a = run_init(image, mask, InitParams(width=64, height=64, seed=1, mask_blur_x=0, mask_blur_y=0))
>>> b = run_init(image, mask, InitParams(width=64, height=64, seed=1, mask_blur_x=8, mask_blur_y=0))
>>> d = compare_results(a, b)
>>> d["binary_mask"].changed, d["blurred_mask"].changed > 0, d["crop_region"].unit
(0, True, 'box')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

__all__ = ["Difference", "compare_results", "PIXEL_FIELDS", "LATENT_FIELDS"]

#: InitResult pictures compared pixel by pixel (first image of a batch).
PIXEL_FIELDS = {
    "binary_mask": lambda r: r.binary_mask,
    "blurred_mask": lambda r: r.blurred_mask,
    "image_mask": lambda r: r.image_mask,
    "mask_for_overlay": lambda r: r.mask_for_overlay,
    "overlay": lambda r: r.overlay_images[0] if r.overlay_images else None,
    "processed": lambda r: r.processed_images[0],
    "filled": lambda r: r.filled_images[0],
    "decoded_init_latent": lambda r: r.decoded_init_latent,
}
#: InitResult tensors compared per latent cell (a cell changed if any channel did).
LATENT_FIELDS = {
    "init_latent": lambda r: r.init_latent[0],
    "nmask": lambda r: r.nmask,
    "image_conditioning": lambda r: r.image_conditioning[0],
    "start_latent": lambda r: None if r.start_latent is None else r.start_latent[0],
}


@dataclass
class Difference:
    """``changed`` of ``total`` units differ; ``image``: where (red on a grey copy of B), or None
    when there is nothing to draw (no change, sizes differ, or a box)."""

    changed: int
    total: int
    unit: str
    image: Image.Image | None = None


def _pixels(a: Image.Image | None, b: Image.Image | None) -> Difference:
    if a is None and b is None:
        return Difference(0, 0, "pixels")
    if a is None or b is None or a.size != b.size or a.mode != b.mode:
        size_a = "none" if a is None else f"{a.width}×{a.height}"
        size_b = "none" if b is None else f"{b.width}×{b.height}"
        total = max(0 if a is None else a.width * a.height, 0 if b is None else b.width * b.height)
        return Difference(total, total, f"pixels (not comparable: {size_a} {getattr(a, 'mode', '')} → {size_b} {getattr(b, 'mode', '')})")
    x, y = np.asarray(a), np.asarray(b)
    diff = x != y
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    n = int(diff.sum())
    image = None
    if n:
        grey = np.asarray(b.convert("L"), dtype=np.float32) * 0.5 + 64
        rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
        rgb[diff] = (255, 0, 0)
        image = Image.fromarray(rgb)
    return Difference(n, diff.size, "pixels", image)


def _cells(a: torch.Tensor | None, b: torch.Tensor | None) -> Difference:
    if a is None and b is None:
        return Difference(0, 0, "latent cells")
    if a is None or b is None or a.shape != b.shape:
        shape_a = "none" if a is None else "×".join(map(str, a.shape))
        shape_b = "none" if b is None else "×".join(map(str, b.shape))
        total = max(0 if t is None else int(np.prod(t.shape[-2:])) for t in (a, b))
        return Difference(total, total, f"latent cells (not comparable: {shape_a} → {shape_b})")
    diff = (a.detach().cpu() != b.detach().cpu()).any(dim=0).numpy()
    n = int(diff.sum())
    image = None
    if n and diff.shape[-1] > 1:
        cells = np.where(diff, 255, 40).astype(np.uint8)
        image = Image.fromarray(cells).resize((diff.shape[1] * 8, diff.shape[0] * 8), Image.Resampling.NEAREST)
        rgb = np.zeros((*np.asarray(image).shape, 3), np.uint8)
        rgb[..., 0] = np.asarray(image)
        rgb[..., 1] = rgb[..., 2] = np.where(np.asarray(image) == 255, 0, 40)
        image = Image.fromarray(rgb)
    return Difference(n, int(diff.size), "latent cells", image)


def compare_results(a, b) -> dict[str, Difference]:
    """Per stage, how much changed from result ``a`` to result ``b``: pixels for pictures, latent
    cells for tensors (a cell differs when any channel does), 0/1 for the crop boxes."""
    out: dict[str, Difference] = {}
    for name, get in PIXEL_FIELDS.items():
        out[name] = _pixels(get(a), get(b))
    for name in ("crop_region", "paste_to"):
        out[name] = Difference(int(getattr(a, name) != getattr(b, name)), 1, "box")
    for name, get in LATENT_FIELDS.items():
        out[name] = _cells(get(a), get(b))
    return out

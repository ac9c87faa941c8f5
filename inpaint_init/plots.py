"""Pictures of the intermediates, for the app and the export: all return RGB PIL images.

Rendered with NumPy and matplotlib's colormaps (no figures), so one refresh of every view
costs milliseconds, not the ~100 ms a matplotlib figure takes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw

from .crop import mask_bbox

__all__ = [
    "mask_with_contour",
    "draw_legend",
    "colour_bar_ticks",
    "checkerboard",
    "on_checkerboard",
    "draw_crop_boxes",
    "CROP_BOX_COLOURS",
    "heatmap_grid",
    "lab_histograms",
    "upscale_nearest",
    "tint_cells",
]

#: Outline colours of the three boxes drawn by :func:`draw_crop_boxes`.
CROP_BOX_COLOURS = {"mask": (255, 48, 48), "padded": (255, 210, 0), "expanded": (0, 220, 255)}


@lru_cache(maxsize=8)
def checkerboard(size: tuple[int, int], cell: int = 8) -> Image.Image:
    """Grey checkerboard of ``size`` (w, h), the usual picture of transparency. Cached: treat
    the result as read-only."""
    w, h = size
    tile = np.full((2 * cell, 2 * cell), 153, np.uint8)
    tile[:cell, :cell] = tile[cell:, cell:] = 204
    board = np.tile(tile, (-(-h // (2 * cell)), -(-w // (2 * cell))))[:h, :w]
    return Image.fromarray(board).convert("RGB")


def on_checkerboard(rgba: Image.Image, cell: int = 8) -> Image.Image:
    """Composite an RGBA image over a checkerboard so transparent parts are visible."""
    base = checkerboard(rgba.size, cell).convert("RGBA")
    base.alpha_composite(rgba.convert("RGBA"))
    return base.convert("RGB")


def draw_crop_boxes(
    image: Image.Image,
    mask: Image.Image | None,
    padded: tuple[int, int, int, int] | None,
    expanded: tuple[int, int, int, int] | None,
) -> Image.Image:
    """The image with the mask's bounding box (red), the box after padding (yellow) and the box
    after aspect expansion (cyan: the region that is cropped). Boxes use exclusive ends; the
    outline is drawn inside them."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    width = max(1, round(max(out.size) / 256))
    boxes = [("mask", mask_bbox(mask) if mask is not None else None), ("padded", padded), ("expanded", expanded)]
    for name, box in boxes:
        if box is None:
            continue
        x1, y1, x2, y2 = box
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), outline=CROP_BOX_COLOURS[name], width=width)
    return out


def mask_with_contour(mask: Image.Image, colour=(255, 40, 40)) -> Image.Image:
    """A grey mask (L) as RGB with its 0.5 line drawn in ``colour``: the pixels at or above 128
    that touch (4-neighbourhood) a pixel below 128, i.e. the inner edge of what rounding keeps.

    >>> m = Image.new("L", (5, 5)); m.paste(255, (1, 1, 4, 4))
    >>> int((np.asarray(mask_with_contour(m))[..., 1] == 40).sum())  # the 3×3 square's 8 edge pixels
    8
    """
    a = np.asarray(mask.convert("L"))
    inside = a >= 128
    padded = np.pad(inside, 1, mode="edge")
    border = inside & ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    rgb = np.repeat(a[..., None], 3, axis=2)
    rgb[border] = colour
    return Image.fromarray(rgb)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def draw_legend(image: Image.Image, entries: list[tuple[tuple[int, int, int], str]]) -> Image.Image:
    """``image`` with a legend box in its top-left corner: one coloured swatch and label per
    entry, sized to the image so it stays readable when the view is scaled down."""
    out = image.convert("RGB").copy()
    size = max(11, round(min(out.size) / 28))
    font = _font(size)
    draw = ImageDraw.Draw(out)
    pad, swatch = size // 2, size
    widths = [draw.textlength(text, font=font) for _, text in entries]
    box_w = int(pad * 3 + swatch + max(widths, default=0))
    box_h = int(pad + len(entries) * (size + pad))
    draw.rectangle((0, 0, box_w, box_h), fill=(255, 255, 255), outline=(120, 120, 120))
    for i, (colour, text) in enumerate(entries):
        y = pad + i * (size + pad)
        draw.rectangle((pad, y, pad + swatch, y + size - 1), outline=colour, width=max(2, size // 6))
        draw.text((pad * 2 + swatch, y + size // 2), text, fill=(0, 0, 0), font=font, anchor="lm")
    return out


def colour_bar_ticks(image: Image.Image, vmin: float, vmax: float, label: str, bar_height: int) -> Image.Image:
    """A :func:`heatmap_grid` picture with tick values (min, middle, max) and a label under its
    colour bar."""
    size = max(10, min(14, image.width // 24))
    font = _font(size)
    out = Image.new("RGB", (image.width, image.height + 2 * size + 8), "white")
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    y0 = image.height - bar_height
    y = image.height + 2
    for frac, anchor in ((0.0, "la"), (0.5, "ma"), (1.0, "ra")):
        x = round(frac * (image.width - 1))
        draw.line((x, y0, x, image.height + 1), fill=(0, 0, 0))
        draw.text((x, y), f"{vmin + frac * (vmax - vmin):.3g}", fill=(0, 0, 0), font=font, anchor=anchor)
    draw.text((image.width // 2, y + size + 3), label, fill=(60, 60, 60), font=font, anchor="ma")
    return out


def upscale_nearest(array: np.ndarray, factor: int) -> np.ndarray:
    """Repeat each pixel ``factor`` times along both axes (H×W or H×W×C)."""
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def _upscale_image(array: np.ndarray, factor: int) -> Image.Image:
    """uint8 H×W(×3) → PIL image with each pixel repeated ``factor`` times (PIL, in C)."""
    img = Image.fromarray(array)
    return img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)


def tint_cells(image: Image.Image, cells: np.ndarray, colour=(255, 0, 0), strength: float = 0.55, cell: int = 8) -> Image.Image:
    """``image`` with each latent cell where ``cells`` (h×w in [0, 1]) is set tinted by ``colour``."""
    alpha = _upscale_image((np.clip(cells, 0, 1) * 255 * strength).astype(np.uint8), cell)
    out = image.convert("RGB").copy()
    w, h = min(out.width, alpha.width), min(out.height, alpha.height)
    out.paste(Image.new("RGB", (w, h), colour), (0, 0), alpha.crop((0, 0, w, h)))
    return out


def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def heatmap_grid(
    x: torch.Tensor | np.ndarray,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "RdBu_r",
    cell: int = 8,
    gap: int = 4,
    bar_height: int = 10,
    columns: int | None = None,
) -> tuple[Image.Image, float, float]:
    """Channels of a C×h×w array in a grid (``columns`` per row, default all in one row), one
    shared colour scale, and a colour bar below.

    Each value becomes a ``cell``×``cell`` block (8 = one latent cell per image pixel at
    processing size). Default scale: symmetric ±max|x| (0 is white with ``RdBu_r``); pass
    ``vmin``/``vmax`` to fix it (e.g. 0..1 for masks). Returns (image, vmin, vmax).

    >>> img, lo, hi = heatmap_grid(np.array([[[0.0, 2.0]], [[-1.0, 1.0]]]), cell=1, gap=1, bar_height=1)
    >>> img.size, lo, hi
    ((5, 3), -2.0, 2.0)
    """
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if vmin is None or vmax is None:
        m = float(np.nanmax(np.abs(a))) if a.size else 1.0
        m = m if m > 0 else 1.0
        vmin = -m if vmin is None else vmin
        vmax = m if vmax is None else vmax
    span = vmax - vmin if vmax > vmin else 1.0
    lut = (_colormap(cmap)(np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    c, h, w = a.shape
    cols = min(columns or c, c)
    rows = -(-c // cols)
    tile_w, tile_h = w * cell, h * cell
    total_w = cols * tile_w + (cols - 1) * gap
    grid_h = rows * tile_h + (rows - 1) * gap
    canvas = np.full((grid_h + gap + bar_height, total_w, 3), 255, np.uint8)
    for ch in range(c):
        idx = np.clip((a[ch] - vmin) / span * 255, 0, 255).astype(np.uint8)
        x0 = (ch % cols) * (tile_w + gap)
        y0 = (ch // cols) * (tile_h + gap)
        canvas[y0 : y0 + tile_h, x0 : x0 + tile_w] = np.asarray(_upscale_image(lut[idx], cell))
    bar = lut[np.linspace(0, 255, total_w).astype(np.uint8)]
    canvas[grid_h + gap :, :] = bar[None]
    return Image.fromarray(canvas), float(vmin), float(vmax)


def lab_histograms(target_lab: np.ndarray, compare_lab: np.ndarray | None = None, size: tuple[int, int] = (256, 96)) -> Image.Image:
    """Histograms of the L, a and b channels of an H×W×3 uint8 LAB image (OpenCV's encoding),
    three panels side by side; ``compare_lab`` is drawn as an outline on top (e.g. a sample)."""
    pw, ph = size
    gap = 6
    out = Image.new("RGB", (3 * pw + 2 * gap, ph), "white")
    draw = ImageDraw.Draw(out)
    fills = [(90, 90, 90), (200, 60, 120), (60, 120, 200)]
    for ch in range(3):
        x0 = ch * (pw + gap)
        draw.rectangle((x0, 0, x0 + pw - 1, ph - 1), outline=(220, 220, 220))
        hist = np.bincount(target_lab[..., ch].ravel(), minlength=256)[:256].astype(float)
        top = hist.max() or 1.0
        for v in range(256):
            if hist[v]:
                x = x0 + v * pw // 256
                draw.line((x, ph - 1, x, ph - 1 - round(hist[v] / top * (ph - 4))), fill=fills[ch])
        if compare_lab is not None:
            other = np.bincount(compare_lab[..., ch].ravel(), minlength=256)[:256].astype(float)
            other_top = other.max() or 1.0
            pts = [(x0 + v * pw // 256, ph - 1 - round(other[v] / other_top * (ph - 4))) for v in range(256)]
            draw.line(pts, fill=(0, 0, 0), width=1)
        draw.text((x0 + 4, 2), "Lab"[ch], fill=(0, 0, 0))
    return out

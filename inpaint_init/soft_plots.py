"""Pictures of soft inpainting's preview (:class:`~inpaint_init.soft_inpainting.SoftPreview`).

Drawn with NumPy and PIL, like the other views: a matplotlib figure cost ~100 ms each, more
than a whole refresh of the page is allowed to take.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from .plots import _colormap, _font, colour_bar_ticks, heatmap_grid
from .soft_inpainting import SIMULATED, SoftPreview, difference_to_mask, soft_blend

__all__ = ["edge_row", "blend_lines", "blend_figure", "overlay_figure"]

INK = (40, 40, 40)
GRID = (225, 225, 225)


def edge_row(nmask0: np.ndarray) -> int:
    """The latent row the line plot follows: through the middle of the mask's rows, where it
    crosses the mask's left and right edges (the middle row without a mask)."""
    rows = np.flatnonzero((np.asarray(nmask0) > 0).any(axis=1))
    return int((rows[0] + rows[-1]) // 2) if rows.size else nmask0.shape[0] // 2


def blend_lines(
    preview: SoftPreview, init_latent: torch.Tensor, noise: torch.Tensor, contrast_boost: float, row: int
) -> tuple[np.ndarray, np.ndarray]:
    """(|soft blend|, |plain lerp|) along latent ``row`` (two length-w float32 arrays) at the
    last call, with a = ``init_latent`` (C×h×w), b = the preview's current latent (the
    original plus ``noise`` for a simulated result, else the result latent) and t = the last
    call's weight in the preview's dtype (fp16 on a usual GPU run), as the extension gets it:
    ``1 − t`` is then rounded in fp16 before it meets the float32 latents."""
    a = init_latent.float().cpu()
    b = a + noise.float().cpu() if preview.result_source == SIMULATED else preview.result_latent.float().cpu()
    if len(preview.weights):
        t = preview.weights[-1].cpu().expand_as(a)
    else:
        t = torch.ones_like(a, dtype=preview.weights.dtype)
    soft = torch.linalg.vector_norm(soft_blend(a, b, t, contrast_boost), dim=0)[row]
    plain = torch.linalg.vector_norm(a * (1 - t) + b * t, dim=0)[row]
    return soft.float().numpy(), plain.float().numpy()


def _call_label(preview: SoftPreview, i: int) -> str:
    value = preview.sigmas[i]
    # The default font has no Greek letters or arrows: these labels are spelled out.
    return f"call {i + 1}: t = {value:.0f}" if preview.timestep_sampler else f"call {i + 1}: sigma = {value:.3g}"


class _Axes:
    """A plotting box: data (x0…x1, y0…y1) → pixels inside ``box`` (left, top, right, bottom)."""

    def __init__(self, draw, box, x_range, y_range, font):
        self.draw, self.box, self.font = draw, box, font
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        left, top, right, bottom = box
        draw.rectangle(box, outline=(150, 150, 150))
        for frac in (0.25, 0.5, 0.75):
            y = bottom - frac * (bottom - top)
            draw.line((left + 1, y, right - 1, y), fill=GRID)

    def xy(self, x, y):
        left, top, right, bottom = self.box
        span_x = (self.x1 - self.x0) or 1.0
        span_y = (self.y1 - self.y0) or 1.0
        return left + (x - self.x0) / span_x * (right - left), bottom - (y - self.y0) / span_y * (bottom - top)

    def line(self, xs, ys, fill, width=1, dashed=False):
        points = [self.xy(x, y) for x, y in zip(xs, ys)]
        if dashed:
            for a, b in zip(points[::2], points[1::2]):
                self.draw.line((a, b), fill=fill, width=width)
        elif len(points) > 1:
            self.draw.line(points, fill=fill, width=width)

    def y_ticks(self, values, fmt="{:g}", right=False):
        left, _, r, _ = self.box
        for v in values:
            x, y = self.xy(self.x0, v)
            if right:
                self.draw.text((r + 4, y), fmt.format(v), fill=INK, font=self.font, anchor="lm")
            else:
                self.draw.text((left - 4, y), fmt.format(v), fill=INK, font=self.font, anchor="rm")

    def x_ticks(self, values):
        _, _, _, bottom = self.box
        for v in values:
            x, _ = self.xy(v, self.y0)
            self.draw.text((x, bottom + 3), f"{v:g}", fill=INK, font=self.font, anchor="ma")


def blend_figure(preview: SoftPreview, nmask0: np.ndarray, blended_norm: tuple[np.ndarray, np.ndarray] | None = None, size=(760, 540)) -> Image.Image:
    """Top: the weight w of every denoiser call along one latent row through the mask edge
    (early calls dark, late calls yellow), nmask dashed; with ``blended_norm`` = (|soft blend|,
    |plain lerp|) along the row, drawn on the right-hand scale, what the contrast boost keeps.
    Bottom: w at four calls as small multiples, with a 0–1 colour bar."""
    width, height = size
    out = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(out)
    font, small = _font(13), _font(11)
    w = preview.weights.float().cpu().numpy()
    n = len(w)
    row = edge_row(nmask0)
    cols = np.arange(nmask0.shape[1])
    draw.text((width // 2, 6), f"Blend weight w = nmask^(sigma^P * K) at each of {n} denoiser calls", fill=INK, font=font, anchor="ma")
    ax = _Axes(draw, (56, 28, width - 56, 268), (0, max(len(cols) - 1, 1)), (0.0, 1.0), small)
    lut = (_colormap("viridis")(np.linspace(0, 1, 256))[:, :3] * 255).astype(int)
    for i in range(n):
        colour = tuple(int(c) for c in lut[int(round(255 * i / max(n - 1, 1)))])
        ax.line(cols, w[i, row], colour)
    ax.line(cols, nmask0[row], (0, 0, 0), width=2, dashed=True)
    if blended_norm is not None:
        top = float(max(np.max(blended_norm[0]), np.max(blended_norm[1]), 1e-6))
        norm_ax = _Axes(draw, ax.box, (ax.x0, ax.x1), (0.0, top), small)
        norm_ax.line(cols, blended_norm[0], (214, 39, 40))
        norm_ax.line(cols, blended_norm[1], (31, 119, 180), dashed=True)
        norm_ax.y_ticks([0, top / 2, top], "{:.2g}", right=True)
    ax.y_ticks([0, 0.5, 1])
    ax.x_ticks([0, len(cols) // 2, len(cols) - 1])
    draw.text((width // 2, 286), f"latent column (row {row}) · left scale: w (1 = sampled, 0 = original)", fill=INK, font=small, anchor="ma")
    legend = [((0, 0, 0), "nmask (latent mask), dashed")]
    if n:
        legend += [(tuple(int(c) for c in lut[0]), _call_label(preview, 0)), (tuple(int(c) for c in lut[255]), _call_label(preview, n - 1))]
    if blended_norm is not None:
        legend += [((214, 39, 40), "|soft blend|, last call (right scale)"), ((31, 119, 180), "|plain lerp| (right scale)")]
    for i, (colour, text) in enumerate(legend):
        y = 34 + i * 15
        draw.line((64, y, 84, y), fill=colour, width=3)
        draw.text((90, y), text, fill=INK, font=small, anchor="lm")
    picks = sorted({0, n // 3, 2 * n // 3, n - 1}) if n else []
    if picks:
        panels = np.stack([w[i] for i in picks])
        cell = max(1, min(6, 150 // max(panels.shape[1:])))
        grid, lo, hi = heatmap_grid(panels, vmin=0.0, vmax=1.0, cmap="gray", cell=cell, gap=16)
        grid = colour_bar_ticks(grid, lo, hi, "w: 0 original … 1 sampled", 10)
        x0 = (width - grid.width) // 2
        panel_w = panels.shape[2] * cell
        for k, i in enumerate(picks):
            draw.text((x0 + k * (panel_w + 16) + panel_w // 2, 312), _call_label(preview, i), fill=INK, font=small, anchor="ma")
        out.paste(grid, (x0, 330))
    return out


def _thumb(picture: Image.Image | None, box: tuple[int, int]) -> Image.Image | None:
    if picture is None:
        return None
    thumb = picture.convert("RGB").copy()
    thumb.thumbnail(box, Image.Resampling.LANCZOS)
    return thumb


def overlay_figure(
    preview: SoftPreview,
    threshold: float,
    contrast: float,
    soft_paste: Image.Image | None,
    stock_paste: Image.Image | None,
    size=(760, 300),
) -> Image.Image:
    """The overlay soft inpainting would build: filtered distance f (with its colour bar), the
    transfer curve from f to overlay value at the mean half-distance h, the overlay mask, and the
    paste-back next to the stock one."""
    width, height = size
    out = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(out)
    font, small = _font(13), _font(11)
    panel = (width - 5 * 12) // 5
    top = 24
    # 1. f
    f = preview.filtered
    cell = max(1, panel // max(f.shape))
    grid, lo, hi = heatmap_grid(f[None], vmin=0.0, vmax=max(float(f.max()), 1e-6), cmap="magma", cell=cell)
    grid = colour_bar_ticks(grid, lo, hi, "f: filtered |z - z0|", 10)
    grid.thumbnail((panel, height - top - 4))
    out.paste(grid, (6, top))
    draw.text((6 + panel // 2, 6), "f (latent distance, filtered)", fill=INK, font=font, anchor="ma")
    # 2. transfer curve
    h = float(np.mean(preview.half_distance))
    top_f = max(float(f.max()), 2 * h, 1e-3)
    xs = np.linspace(0, top_f, 120, dtype=np.float32)
    ys = difference_to_mask(xs, np.full_like(xs, h), contrast).astype(float)
    left = 12 + panel + 40
    ax = _Axes(draw, (left, top + 6, left + panel - 40, height - 40), (0.0, top_f), (0.0, 255.0), small)
    ax.line(xs, ys, (148, 103, 189), width=2)
    hx, _ = ax.xy(h, 0)
    draw.line((hx, top + 6, hx, height - 40), fill=(150, 150, 150))
    ax.y_ticks([0, 127, 255], "{:.0f}")
    ax.x_ticks([0.0, round(top_f / 2, 2), round(top_f, 2)])
    draw.text((left + (panel - 40) // 2, 6), f"f -> overlay (h = T*s = {h:.3g}, C = {contrast:g})", fill=INK, font=font, anchor="ma")
    draw.text((left + (panel - 40) // 2, height - 20), "f; grey line: h (half opacity)", fill=INK, font=small, anchor="ma")
    # 3–5. pictures
    for k, (picture, title) in enumerate(
        [(preview.overlay_mask, "overlay mask (255 = result)"), (soft_paste, "soft paste-back"), (stock_paste, "stock paste-back")]
    ):
        x = 6 + (k + 2) * (panel + 12)
        draw.text((x + panel // 2, 6), title, fill=INK, font=font, anchor="ma")
        thumb = _thumb(picture, (panel, height - top - 4))
        if thumb is not None:
            out.paste(thumb, (x + (panel - thumb.width) // 2, top))
        else:
            draw.text((x + panel // 2, height // 2), "not shown (see notes)", fill=(120, 120, 120), font=small, anchor="mm")
    return out

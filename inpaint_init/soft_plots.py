"""Pictures of soft inpainting's preview (:class:`~inpaint_init.soft_inpainting.SoftPreview`).

matplotlib figures (axes, ticks, legends are the point here), drawn under the sampler
module's lock: matplotlib's text layout is not thread-safe and the app renders from several
worker threads.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .soft_inpainting import SoftPreview, difference_to_mask

__all__ = ["edge_row", "blend_figure", "overlay_figure"]


def edge_row(nmask0: np.ndarray) -> int:
    """The latent row the line plot follows: through the middle of the mask's rows, where it
    crosses the mask's left and right edges (the middle row without a mask)."""
    rows = np.flatnonzero((np.asarray(nmask0) > 0).any(axis=1))
    return int((rows[0] + rows[-1]) // 2) if rows.size else nmask0.shape[0] // 2


def _figure(size: tuple[int, int]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    return fig, FigureCanvasAgg(fig)


def _to_image(fig, canvas) -> Image.Image:
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _call_label(preview: SoftPreview, i: int) -> str:
    value = preview.sigmas[i]
    return f"call {i + 1}: t = {value:.0f}" if preview.timestep_sampler else f"call {i + 1}: σ = {value:.3g}"


def blend_figure(preview: SoftPreview, nmask0: np.ndarray, blended_norm: tuple[np.ndarray, np.ndarray] | None = None, size=(760, 520)) -> Image.Image:
    """Top: the weight w of every denoiser call along one latent row through the mask edge
    (early calls dark, late calls yellow), nmask dashed; with ``blended_norm`` = (|soft blend|,
    |plain lerp|) along the row, a second axis shows what the contrast boost keeps. Bottom:
    w at four calls as small multiples with a 0–1 colour bar."""
    from .sampler import _MATPLOTLIB

    with _MATPLOTLIB:
        fig, canvas = _figure(size)
        grid = fig.add_gridspec(2, 4, height_ratios=[1.15, 1])
        ax = fig.add_subplot(grid[0, :])
        row = edge_row(nmask0)
        w = preview.weights.float().cpu().numpy()
        n = len(w)
        import matplotlib

        cmap = matplotlib.colormaps["viridis"]
        cols = np.arange(nmask0.shape[1])
        for i in range(n):
            ax.plot(cols, w[i, row], color=cmap(i / max(n - 1, 1)), lw=1)
        ax.plot(cols, nmask0[row], "k--", lw=1.2, label="nmask (latent mask)")
        if n:
            ax.plot([], [], color=cmap(0.0), label=_call_label(preview, 0))
            ax.plot([], [], color=cmap(1.0), label=_call_label(preview, n - 1))
        if blended_norm is not None:
            ax2 = ax.twinx()
            ax2.plot(cols, blended_norm[0], color="tab:red", lw=0.8, alpha=0.7, label="|soft blend| (last call)")
            ax2.plot(cols, blended_norm[1], color="tab:blue", lw=0.8, alpha=0.7, ls=":", label="|plain lerp|")
            ax2.set_ylabel("latent length", fontsize=7)
            ax2.tick_params(labelsize=7)
            ax2.legend(fontsize=6, loc="lower right", frameon=False)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(f"latent column (row {row})", fontsize=8)
        ax.set_ylabel("w: share of the sampled latent", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper left", frameon=False)
        ax.set_title(f"Blend weight w = nmask^(σ^P·K) at each of {n} denoiser calls", fontsize=9)
        picks = sorted({0, n // 3, 2 * n // 3, n - 1}) if n else []
        image = None
        for k, i in enumerate(picks[:4]):
            sub = fig.add_subplot(grid[1, k])
            image = sub.imshow(w[i], vmin=0, vmax=1, cmap="gray", interpolation="nearest")
            sub.set_title(_call_label(preview, i), fontsize=7)
            sub.set_xticks([])
            sub.set_yticks([])
        if image is not None:
            bar = fig.colorbar(image, ax=fig.axes[-len(picks[:4]) :], fraction=0.03, pad=0.02)
            bar.set_label("w (1 = sampled, 0 = original)", fontsize=7)
            bar.ax.tick_params(labelsize=6)
        fig.subplots_adjust(left=0.08, right=0.9, top=0.93, bottom=0.04, hspace=0.35, wspace=0.1)
        return _to_image(fig, canvas)


def overlay_figure(
    preview: SoftPreview,
    threshold: float,
    contrast: float,
    soft_paste: Image.Image | None,
    stock_paste: Image.Image | None,
    size=(960, 300),
) -> Image.Image:
    """The overlay soft inpainting would build: filtered distance f, the transfer curve from f
    to overlay value at the mean half-distance h, the overlay mask, and the paste-back next to
    the stock one."""
    from .sampler import _MATPLOTLIB

    with _MATPLOTLIB:
        fig, canvas = _figure(size)
        axes = fig.subplots(1, 5, gridspec_kw=dict(width_ratios=[1, 1.1, 1, 1, 1]))
        im = axes[0].imshow(preview.filtered, cmap="magma", interpolation="nearest")
        axes[0].set_title("f: filtered ‖z − z₀‖", fontsize=8)
        bar = fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=6)
        h = float(np.mean(preview.half_distance))
        top = max(float(preview.filtered.max()), 2 * h, 1e-3)
        f = np.linspace(0, top, 200, dtype=np.float32)
        axes[1].plot(f, difference_to_mask(f, np.full_like(f, h), contrast), color="tab:purple")
        axes[1].axvline(h, color="grey", lw=0.8, ls=":")
        axes[1].set_title(f"f → overlay (h = T·s = {h:.3g}, C = {contrast:g})", fontsize=8)
        axes[1].set_xlabel("f", fontsize=7)
        axes[1].set_ylim(-5, 260)
        axes[1].tick_params(labelsize=6)
        panels = [
            (preview.overlay_mask, "overlay mask (255 = result)"),
            (soft_paste, "soft paste-back"),
            (stock_paste, "stock paste-back (same result)"),
        ]
        for ax, (picture, title) in zip(axes[2:], panels):
            if picture is not None:
                ax.imshow(np.asarray(picture), cmap="gray" if picture.mode == "L" else None, vmin=0, vmax=255)
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0].set_xticks([])
        axes[0].set_yticks([])
        fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.12, wspace=0.25)
        return _to_image(fig, canvas)

"""From an :class:`~inpaint_init.pipeline.InitResult` to captioned pictures and tables.

The app shows these; the export writes them. Nothing here computes a stage: it only draws.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from .cache import tensor_digest
from .crop import get_crop_region
from .overlay import apply_overlay
from .pipeline import STAGES, InitResult
from .plots import (
    CROP_BOX_COLOURS,
    colour_bar_ticks,
    draw_crop_boxes,
    draw_legend,
    heatmap_grid,
    lab_histograms,
    mask_with_contour,
    on_checkerboard,
    tint_cells,
)
from .resize import RESIZE_MODE_LABELS
from .sampler import plan_img2img, sigma_schedule_plot
from .soft_inpainting import SIMULATED
from .soft_plots import blend_figure, blend_lines, edge_row, overlay_figure

__all__ = ["VIEW_NAMES", "WHY", "View", "render_views", "summary_markdown", "timings_markdown", "notes_markdown"]

#: Views in display order, with their titles.
VIEW_NAMES = {
    "binary_mask": "Binary mask",
    "blurred_mask": "Blurred mask",
    "crop": "Crop box",
    "overlay": "Overlay (paste-back layer)",
    "processed": "Image at processing size",
    "filled": "Filled image (what is encoded)",
    "decoded": "Decoded latent",
    "decoded_init": "Decoded init latent (after latent fill)",
    "decoded_approx": "Init latent, weightless approximation",
    "latent_mask_overlay": "Latent mask over the image",
    "latent_mask": "Latent mask (nmask) per channel",
    "init_latent": "Init latent per channel",
    "conditioning": "Image conditioning",
    "sampler_start": "Sampler start (decoded)",
    "sigma_plot": "Sigma schedule",
    "paste_back": "Paste-back preview",
    "lab": "Colour-correction target (LAB histograms)",
    "soft_blend": "Soft inpainting: per-step blend",
    "soft_overlay": "Soft inpainting: overlay from the difference",
}

#: Plain-words explanation of each view, for learners.
WHY = {
    "binary_mask": "The mask as init receives it. A painted mask (RGBA) is cut at alpha > 128; any other "
    "image (grey, RGB) is only converted to grey, so a soft mask stays soft here.",
    "blurred_mask": "After 'Inpaint not masked' inversion and the Mask blur: two one-dimensional Gaussian passes "
    "(x, then y). The blur spreads both ways, so it eats into the area you wanted to keep. Later, the latent "
    "mask is rounded at 0.5: the 0.5 line of this picture is where repainting really stops.",
    "crop": "Only masked: red = every non-zero pixel of the blurred mask (faint blur tails count), yellow = "
    "plus the padding, cyan = grown to the width:height ratio, the region that is cut out, resized to the "
    "processing size and pasted back later (paste_to).",
    "overlay": "The layer laid over the result after sampling: the original where the mask is 0, transparent "
    "where it is 255 (checkerboard). In whole-picture mode it uses twice the blurred mask, so the original never "
    "shows inside the 0.5 line; in Only masked mode the blurred mask as is, so the original ghosts over the "
    "inner half of the blur.",
    "processed": "The init image resized with the resize mode (whole picture) or cut to the crop box and "
    "resized with 'resize and fill' (Only masked). 'Resize and fill' stretches the edge rows into empty bands.",
    "filled": "Masked content 'fill' (and the two latent modes) first replace the masked pixels with a blur of "
    "their surroundings. 'original' keeps them. This is exactly what the VAE encodes.",
    "decoded": "The VAE latent of the filled image, decoded again: what the sampler starts from before noise. "
    "With the weightless approximation each 8×8 cell is one flat colour.",
    "decoded_init": "After 'latent noise' (random latent where repainting) or 'latent nothing' (zeros). Same as "
    "the decoded latent for 'fill' and 'original'.",
    "decoded_approx": "The same init latent decoded with the weightless 4→3 linear map (the webui's 'Approx "
    "cheap' preview): one colour per latent cell. Next to a real VAE's decode it shows what the latent itself "
    "holds, without the decoder's detail.",
    "latent_mask_overlay": "Red cells are regenerated (nmask = 1). The latent mask is the mask downsampled to 1/8 "
    "with bicubic and rounded: each cell is all or nothing, so the edge moves in 8-pixel steps.",
    "latent_mask": "nmask, one panel per latent channel (all equal): white = regenerate, black = keep. "
    "mask = 1 - nmask.",
    "init_latent": "The 4 latent channels with one shared colour scale (blue negative, red positive).",
    "conditioning": "For inpainting models: channel 0 is the mask downsampled with *nearest* (not bicubic), "
    "channels 1-4 the latent of the image with the masked part set to grey (0 in [-1, 1]). Standard models get "
    "zeros of shape B×5×1×1.",
    "sampler_start": "What the first sampling step sees: init latent + noise × σ_start, decoded (DDIM: "
    "√ᾱ·latent + √(1−ᾱ)·noise). Lower denoising strength starts later in the schedule (smaller σ), so more of the "
    "image survives. The noise is the seeds' first draw from the chosen random source (GPU, CPU or NV), blended "
    "with the variation seed and pasted from the 'resize seed from' size when those are set, times the noise "
    "multiplier; extra noise adds it once more. Without those it equals the 'latent noise' fill.",
    "sigma_plot": "The noise levels of the chosen sampler's schedule. img2img skips the first steps: "
    "t_enc = int(min(strength, 0.999) × steps), and sampling starts at step steps − t_enc − 1 (red).",
    "paste_back": "What the webui does with a sample, using the decoded init latent as a stand-in for it: "
    "un-crop (Only masked) and lay the overlay on top. A seam here is a seam in your result.",
    "lab": "With colour correction, the filled init image in LAB is kept; after sampling, the result's "
    "histograms are matched to these per channel and only the chroma is taken.",
    "soft_blend": "With soft inpainting the latent mask is not rounded, and at every denoiser call the sampled latent "
    "is mixed with the original by w = nmask^(σ^P·K): P is Schedule bias, K Preservation strength. Early calls (large "
    "σ) pin the soft edge to the original; late calls (small σ) let it change, so the edge is repainted only at the "
    "end, a little. Where nmask is 0 the original always wins, where it is 1 the sample always does. The mix keeps "
    "the latent's length (Transition contrast boost D) instead of the shorter plain average, which would fade detail "
    "at the seam. DDIM passes timesteps (hundreds) instead of σ, so its edge stays pinned until the very end.",
    "soft_overlay": "After sampling, soft inpainting throws the stock overlay away and builds a new one from where the "
    "result differs from the original: the latent distance, smoothed by two weighted percentile filters (f), "
    "compared with the Difference threshold T (scaled by Mask influence I), sharpened by the Difference contrast C. "
    "Where the result did not change, the original is pasted back, even inside the mask; where it changed, the result "
    "is kept, even outside it. Here the result is a stand-in: a simulated one (the original plus the job's noise "
    "where the last call frees it) or a result image you upload (re-encoded, so approximate). With Mask influence above 0 "
    "the overlay depends on nmask's stored values: the caption says which run is shown (fp16 on a usual GPU run, "
    "float32 on CPU or with --no-half). In whole picture with resize mode 3 the webui's soft inpainting fails after "
    "sampling (\"images do not match\"): no overlay is shown then.",
}


@lru_cache(maxsize=32)
def _sigma_plot(sampler: str, steps: int, strength: float, fix_steps: bool) -> Image.Image:
    # A matplotlib render costs ~100 ms; it depends on these four settings only.
    return sigma_schedule_plot(plan_img2img(sampler, steps, strength, fix_steps))


@dataclass
class View:
    image: Image.Image | None
    caption: str


def _range(t: torch.Tensor | None) -> str:
    if t is None:
        return "–"
    t = t.detach().float()
    return f"{t.min().item():.3g} … {t.max().item():.3g}"


def _shape(t) -> str:
    return "–" if t is None else "×".join(str(s) for s in t.shape)


def _mask_values(mask: Image.Image | None) -> str:
    if mask is None:
        return ""
    hist = mask.convert("L").histogram()
    levels = [v for v, count in enumerate(hist) if count]
    if set(levels) <= {0, 255}:
        return "binary (0/255)"
    return f"{len(levels)} grey levels"


_HEATMAPS: OrderedDict = OrderedDict()
_HEATMAPS_LOCK = threading.Lock()


def _heatmap(x: torch.Tensor, **kwargs):
    """:func:`heatmap_grid`, memoised by the tensor's content: most refreshes leave the latent
    unchanged, and drawing it costs several milliseconds."""
    # A channel panel stays ≤ 320 px (a 2-column grid fits a view cell at full resolution):
    # 5 px per latent cell at 512², 2 px at 1024².
    kwargs.setdefault("cell", max(1, min(8, 320 // max(x.shape[-2:]))))
    key = (tensor_digest(x), tuple(sorted(kwargs.items())))
    label = kwargs.pop("label", None)
    with _HEATMAPS_LOCK:
        if key in _HEATMAPS:
            _HEATMAPS.move_to_end(key)
            return _HEATMAPS[key]
    value = heatmap_grid(x, **kwargs)
    if label is not None:
        image, lo, hi = value
        value = (colour_bar_ticks(image, lo, hi, label, kwargs.get("bar_height", 10)), lo, hi)
    with _HEATMAPS_LOCK:  # the app's worker threads share it
        _HEATMAPS[key] = value
        while len(_HEATMAPS) > 32:
            _HEATMAPS.popitem(last=False)
    return value


class SameInputs:
    """Memoise drawings by the identity of their inputs: the stage cache hands back the very
    same objects for stages that did not change, so most views of a refresh are found here
    instead of being drawn again. Weak references make sure an entry is used only while its
    inputs are alive (an ``id`` alone could be reused by a new object)."""

    def __init__(self, size: int = 48):
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, fn, *objects, extra=()):
        key = (fn.__name__, tuple(id(o) for o in objects), extra)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and all(ref() is obj for ref, obj in zip(hit[0], objects)):
                self._entries.move_to_end(key)
                return hit[1]
        value = fn(*objects, *extra)
        refs = tuple(weakref.ref(o) if o is not None else (lambda: None) for o in objects)
        with self._lock:
            self._entries[key] = (refs, value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value


_SAME = SameInputs()


def _crop_picture(image, blurred, unexpanded, region):
    x1, y1, x2, y2 = region
    boxes = draw_crop_boxes(image, blurred, unexpanded, region)
    return draw_legend(
        boxes,
        [
            (CROP_BOX_COLOURS["mask"], "mask bbox (every pixel > 0)"),
            (CROP_BOX_COLOURS["padded"], "+ padding"),
            (CROP_BOX_COLOURS["expanded"], f"grown to W:H = crop, paste_to {x2 - x1}×{y2 - y1} at ({x1}, {y1})"),
        ],
    )


def _latent_cells(base, nmask0_bytes_shape):
    data, shape = nmask0_bytes_shape
    return tint_cells(base, np.frombuffer(data, np.float32).reshape(shape))


def render_views(result: InitResult, image: Image.Image) -> dict[str, View]:
    """All views of a result. ``image`` is the first init image as given (for the crop box)."""
    r, p = result, result.params
    views: dict[str, View] = {}
    views["binary_mask"] = View(r.binary_mask, f"binary mask · {_mask_values(r.binary_mask)}" if r.binary_mask else "no mask")
    views["blurred_mask"] = View(
        None if r.blurred_mask is None else _SAME(mask_with_contour, r.blurred_mask),
        f"blur x {p.mask_blur_x}, y {p.mask_blur_y}"
        + (" · inverted" if p.inpainting_mask_invert else "")
        + (f" · {_mask_values(r.blurred_mask)} · red: the 0.5 line, where repainting stops after rounding" if r.blurred_mask else ""),
    )
    if r.crop_region is not None:
        boxes = _SAME(_crop_picture, image, r.blurred_mask, extra=(r.crop_region_unexpanded, r.crop_region))
        x, y, w, h = r.paste_to
        views["crop"] = View(
            boxes,
            f"crop {r.crop_region} · paste_to x={x} y={y} w={w} h={h} · ratio {w / h:.3f} vs {p.width / p.height:.3f}",
        )
    else:
        why = "blank mask: fell back to whole picture" if p.inpaint_full_res and r.blurred_mask is not None else "whole picture: no crop"
        views["crop"] = View(image.convert("RGB"), why)
    if r.overlay_images:
        ov = r.overlay_images[0]
        source = "blurred mask" if r.inpaint_full_res else "2 × blurred mask"
        views["overlay"] = View(_SAME(on_checkerboard, ov), f"overlay {ov.width}×{ov.height} · mask_for_overlay = {source}")
    else:
        views["overlay"] = View(None, "no overlay (no mask)")
    views["processed"] = View(
        r.processed_images[0],
        f"{r.processed_images[0].width}×{r.processed_images[0].height} · "
        + ("crop + resize and fill" if r.crop_region is not None else RESIZE_MODE_LABELS[p.resize_mode]),
    )
    fill_label = ["fill", "original", "latent noise", "latent nothing"][p.inpainting_fill]
    views["filled"] = View(r.filled_images[0], f"masked content: {fill_label}")
    views["decoded"] = View(r.decoded_latent, f"decoded with {r.vae_name}")
    views["decoded_init"] = View(r.decoded_init_latent, f"after '{fill_label}'")
    views["decoded_approx"] = View(r.decoded_init_latent_approx, "init latent through the cheap 4→3 map")
    if r.nmask is not None:
        cells = int(r.nmask[0].sum().item())
        total = r.nmask[0].numel()
        base = r.processed_images[0] if r.processed_images[0].size == (p.width, p.height) else r.filled_images[0]
        nmask0 = r.nmask[0].float().cpu().numpy()
        views["latent_mask_overlay"] = View(
            _SAME(_latent_cells, base, extra=((nmask0.tobytes(), nmask0.shape),)),
            f"{cells} of {total} latent cells regenerated" + ("" if p.effective_mask_round else " (soft: mask_round off)"),
        )
        grid = _heatmap(r.nmask, vmin=0.0, vmax=1.0, cmap="gray", columns=2, label="nmask: 0 keep … 1 regenerate")[0]
        views["latent_mask"] = View(grid, f"nmask {_shape(r.nmask)} · values {_range(r.nmask)}")
    else:
        views["latent_mask_overlay"] = View(None, "no mask: everything is regenerated")
        views["latent_mask"] = View(None, "no mask")
    grid, lo, hi = _heatmap(r.init_latent[0], columns=2, label="latent value (blue −, red +)")
    inside = ""
    if r.nmask is not None:
        # > 0.5: a soft (unrounded) mask can have cells above 0 and none above one half
        regenerated = r.init_latent[0][r.nmask.to(r.init_latent.device) > 0.5]
        if regenerated.numel():
            inside = f" · max |z| in regenerated cells {regenerated.abs().max().item():.3g}"
    views["init_latent"] = View(grid, f"init_latent[0] {_shape(r.init_latent[0])} · colour scale {lo:.3g} … {hi:.3g}{inside}")
    if r.image_conditioning.shape[-1] > 1:
        cond = r.image_conditioning[0]
        mask_grid, _, _ = _heatmap(cond[:1], vmin=0.0, vmax=1.0, cmap="gray", label="mask 0 … 1")
        lat_grid, lo, hi = _heatmap(cond[1:], columns=2, label="masked-image latent")
        combined = Image.new("RGB", (mask_grid.width + 12 + lat_grid.width, max(mask_grid.height, lat_grid.height)), "white")
        combined.paste(mask_grid, (0, 0))
        combined.paste(lat_grid, (mask_grid.width + 12, 0))
        differs = ""
        if r.nmask is not None and cond[0].shape == r.nmask[0].shape:
            n = int((cond[0].cpu() != r.nmask[0].cpu()).sum().item())
            differs = f" · {n} cells differ from the latent mask" if n else " · same cells as the latent mask"
        views["conditioning"] = View(combined, f"mask (nearest) + masked-image latent ({lo:.3g} … {hi:.3g}){differs}")
    else:
        views["conditioning"] = View(None, f"standard model: zeros {_shape(r.image_conditioning)}")
    plan = r.sampler_plan
    variation = _variation(r)
    views["sampler_start"] = View(
        r.decoded_start_latent,
        f"{plan.sampler}: σ_start {plan.sigma_start:.3g} · t_enc {plan.t_enc} · {plan.steps_run} of {plan.schedule_steps} steps run"
        f" · noise {r.randn_source}" + ("" if variation == "none" else f" · {variation}")
        if r.start_latent is not None
        else f"not computed: a {r.family.upper()} flow model starts at σ·noise + (1 − σ)·x on its own shifted schedule, "
        "which this project does not model (the init latent and the noise are exact)",
    )
    views["sigma_plot"] = View(_sigma_plot(plan.sampler, plan.steps, plan.denoising_strength, plan.fix_steps), f"start at step {plan.start_index} of {plan.schedule_steps}")
    if r.overlay_images and r.decoded_init_latent is not None:
        views["paste_back"] = View(
            _SAME(apply_overlay, r.decoded_init_latent, r.overlay_images[0], extra=(r.paste_to,)), "decoded init latent pasted back"
        )
    else:
        views["paste_back"] = View(None, "no overlay: the result is used as is")
    if r.color_corrections:
        views["lab"] = View(_SAME(lab_histograms, r.color_corrections[0]), "L, a, b of the correction target")
    else:
        views["lab"] = View(None, "colour correction off")
    views.update(_soft_views(r))
    return views


def _soft_views(r: InitResult) -> dict[str, View]:
    p, soft = r.params, r.soft
    if soft is None:
        why = "soft inpainting is off" if not p.soft_inpainting else "no mask: soft inpainting acts only with one"
        return {"soft_blend": View(None, why), "soft_overlay": View(None, why)}
    # The nmask the preview's run uses (fp16 on a usual GPU run), as its weights and overlay do.
    nmask0 = soft.nmask0 if soft.nmask0 is not None else r.nmask[0].float().cpu().numpy()
    row = edge_row(nmask0)
    norms = blend_lines(soft, r.init_latent[0], r.start_noise[0], p.inpaint_detail_preservation, row)
    calls = len(soft.sigmas)
    edge = (nmask0 > 0) & (nmask0 < 1)
    pinned = ""
    if calls and edge.any():
        share = float(soft.weights[:, torch.from_numpy(edge)].float().mean())
        pinned = f" · soft-edge cells keep {share:.0%} of the sample on average over the run"
    blend = View(
        blend_figure(soft, nmask0, norms),
        f"P {p.mask_blend_power:g} · K {p.mask_blend_scale:g} · D {p.inpaint_detail_preservation:g} · {calls} calls of "
        f"{r.sampler_plan.sampler}{pinned} · {soft.run}",
    )
    soft_paste = stock_paste = None
    if r.decoded_soft_result is not None and soft.overlay is not None:
        soft_paste = apply_overlay(r.decoded_soft_result, soft.overlay, r.paste_to)
        stock_paste = apply_overlay(r.decoded_soft_result, r.overlay_images[0], r.paste_to)
    taken = ""
    if soft.overlay_mask is not None:
        m = np.asarray(soft.overlay_mask)
        taken = f" · result taken (> 127) at {int((m > 127).sum())} px, the stock overlay at {int((np.asarray(r.overlay_images[0])[..., 3] < 128).sum())} px"
    source = "simulated result" if soft.result_source == SIMULATED else f"{soft.result_source} (re-encoded: approximate)"
    overlay = View(
        overlay_figure(soft, p.composite_difference_threshold, p.composite_difference_contrast, soft_paste, stock_paste),
        f"{source} · T {p.composite_difference_threshold:g} · C {p.composite_difference_contrast:g} · I {p.composite_mask_influence:g}{taken}"
        f" · {soft.run}" + (" · no overlay: the webui fails here with \"images do not match\" (see notes)" if soft.failure else ""),
    )
    return {"soft_blend": blend, "soft_overlay": overlay}


def _variation(r: InitResult) -> str:
    p = r.params
    parts = []
    if p.subseed_strength != 0:
        parts.append(f"{', '.join(map(str, r.subseeds))} at strength {p.subseed_strength:g}")
    if p.seed_resize_from_w > 0 and p.seed_resize_from_h > 0:
        parts.append(f"seed resized from {p.seed_resize_from_w}×{p.seed_resize_from_h}")
    if p.eta_noise_seed_delta:
        parts.append(f"ENSD {p.eta_noise_seed_delta} (later sampler draws only)")
    return " · ".join(parts) or "none"


def summary_markdown(result: InitResult, timings: bool = True) -> str:
    """Shapes, ranges, crop numbers and (with ``timings``) the stage timings as Markdown tables."""
    r, p = result, result.params
    rows = [
        ("init_latent", _shape(r.init_latent), _range(r.init_latent)),
        ("mask (1 = keep)", _shape(r.mask), _range(r.mask)),
        ("nmask (1 = regenerate)", _shape(r.nmask), _range(r.nmask)),
        ("image_conditioning", _shape(r.image_conditioning), _range(r.image_conditioning)),
    ]
    lines = ["| tensor | shape | range |", "|---|---|---|", *[f"| {a} | {b} | {c} |" for a, b, c in rows]]
    info = [
        ("Inpaint area", "Only masked" if r.inpaint_full_res else "Whole picture"),
        ("mask bbox", str(get_crop_region(np.asarray(r.blurred_mask), 0)) if r.blurred_mask is not None else "–"),
        ("+ padding", str(r.crop_region_unexpanded) if r.crop_region_unexpanded else "–"),
        ("expanded crop_region", str(r.crop_region) if r.crop_region else "–"),
        ("paste_to", str(r.paste_to) if r.paste_to else "–"),
        ("batch size · seeds", f"{r.batch_size} · {', '.join(map(str, r.seeds))}"),
        ("noise source", r.noise_source),
        ("variation seed", _variation(r)),
        ("noise multiplier · extra noise", f"{p.initial_noise_multiplier:g} · {p.img2img_extra_noise:g}"),
        ("VAE", r.vae_name),
        ("program", f"{'Forge (dfdcbab6)' if r.flavour == 'forge' else 'webui v1.10.1'} · latent family {r.family}"),
        ("webui vs Forge here", "; ".join(r.differences) if r.differences else "the same init"),
    ]
    lines += ["", "| | |", "|---|---|", *[f"| {a} | {b} |" for a, b in info]]
    if timings:
        lines += ["", timings_markdown(r)]
    legend = " · ".join(f"{name}: {'#%02x%02x%02x' % c}" for name, c in CROP_BOX_COLOURS.items())
    lines += ["", f"<small>crop box colours: {legend}</small>"]
    return "\n".join(lines)


def timings_markdown(result: InitResult) -> str:
    """The time of each stage this run, and which came from the cache."""
    r = result
    lines = ["| stage | ms | |", "|---|---:|---|"]
    for stage in STAGES:
        if stage in r.timings:
            cached = "cached" if stage in r.cached_stages else ""
            lines.append(f"| {stage.replace('_', ' ')} | {r.timings[stage] * 1000:.1f} | {cached} |")
    lines.append(f"| **total** | **{r.total_time * 1000:.1f}** | |")
    return "\n".join(lines)


def notes_markdown(result: InitResult | None, error: str | None = None) -> str:
    parts = []
    if error:
        parts.append(f"**⛔ {error}**")
    if result is not None:
        parts += [f"⚠️ {n}" for n in result.notes]
    return "\n\n".join(parts) if parts else "No warnings."

"""The webui's preparation next to diffusers' and ComfyUI's, for the same image and mask.

For each tool: what it encodes, where it repaints (mapped into the original image by the
tool's own geometry) against the webui, and where its *output* can differ from the original
outside the mask (:func:`change_map`). Every "why" line comes from the rules that applied in
this case (:attr:`PeerPrep.why`), with the counts that make it concrete.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .peers import COMFY_NODES, DIFFUSERS_PIPELINES, LATENT_RULES, PeerPrep, comfy_prepare, diffusers_prepare, latent_mask_rules, repaint_map
from .pipeline import InitResult
from .plots import heatmap_grid
from .views import View

__all__ = ["Comparison", "PeerSettings", "compare", "repaint_in_image", "difference_image", "change_map", "CHANGE_LEVELS"]

#: Levels of :func:`change_map`, with the colour each is drawn in.
CHANGE_LEVELS = {
    0: ("the original, exactly", (0, 0, 0)),
    1: ("through the VAE only (latent pinned): round-trip loss", (110, 110, 110)),
    2: ("may be repainted or blended", (255, 255, 255)),
    3: ("not in the output (cropped off)", (255, 60, 60)),
}


@dataclass(frozen=True)
class PeerSettings:
    """How the user of each tool would run it."""

    diffusers_pipeline: str = "sd"  # "sd" | "sdxl"
    unet_channels: int = 4  # 4: a standard model; 9: an inpainting model (both tools)
    diffusers_strength: float | None = None  # None: the pipeline's default (1.0 SD, 0.9999 SDXL)
    #: The caller's ``mask_processor.blur`` radius (one radius, PIL); None: the webui's Mask blur x.
    blur_factor: float | None = None
    comfy_node: str = "vae_encode_for_inpaint"
    grow_mask_by: int = 6
    noise_mask: bool = True
    grow_mask: int = 0  # the GrowMask node's expand (0: no node)
    tapered_corners: bool = True
    comfy_denoise: float = 1.0
    differential_diffusion: bool = False


@dataclass
class Comparison:
    views: dict[str, View]
    table: str


def _to_pil(x: torch.Tensor) -> Image.Image:
    # Rounded, not truncated like the webui's decode (pipeline._tensor_to_pil): these tensors
    # came from uint8 pixels, and rounding gives those pixels back exactly.
    return Image.fromarray(((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy())


def repaint_in_image(latent_mask: np.ndarray, processing_size: tuple[int, int], image_size: tuple[int, int], region=None) -> np.ndarray:
    """The webui's latent mask (h×w, [0, 1]) mapped onto the original image (H×W float): each
    cell covers 8×8 processing pixels, which cover ``region`` of the image (Only masked: the
    crop is resized into it, as the paste-back does) or all of it (whole picture)."""
    cells = Image.fromarray(np.clip(latent_mask, 0, 1).astype(np.float32), mode="F")  # exact: 0.5 stays 0.5
    pw, ph = processing_size
    big = cells.resize((pw, ph), Image.Resampling.NEAREST)
    if region is None:
        return np.asarray(big.resize(image_size, Image.Resampling.NEAREST), dtype=np.float32)
    out = Image.new("F", image_size, 0.0)
    x1, y1, x2, y2 = region
    out.paste(big.resize((x2 - x1, y2 - y1), Image.Resampling.NEAREST), (x1, y1))
    return np.asarray(out, dtype=np.float32)


def difference_image(ours: np.ndarray, theirs: np.ndarray, threshold: float = 0.5, margin: int = 16) -> tuple[Image.Image, int]:
    """White: both repaint; red: only the webui; cyan: only the other; black: neither. Cropped
    to where either repaints (plus ``margin``) so thin differences stay visible. Returns the
    image and the number of pixels that differ."""
    a, b = ours > threshold, theirs > threshold
    rgb = np.zeros((*a.shape, 3), np.uint8)
    rgb[a & b] = 255
    rgb[a & ~b] = (255, 40, 40)
    rgb[~a & b] = (0, 220, 255)
    img = Image.fromarray(rgb)
    box = Image.fromarray(((a | b) * 255).astype(np.uint8)).getbbox()
    if box:
        x1, y1, x2, y2 = box
        img = img.crop((max(x1 - margin, 0), max(y1 - margin, 0), min(x2 + margin, img.width), min(y2 + margin, img.height)))
    return img, int((a ^ b).sum())


def change_map(prep: PeerPrep, image_size: tuple[int, int]) -> np.ndarray:
    """Where a tool's output can differ from the original, H×W uint8 levels of
    :data:`CHANGE_LEVELS` (peers.md, "What each tool's user sees change outside the mask").

    - pasted back (diffusers with ``padding_mask_crop``): the original exactly where the mask as
      passed is 0, the result elsewhere (also where 0 < m < 0.5, which was not repainted in
      latent space);
    - no paste-back: the whole image went through the VAE. Latents pinned each step (4-channel
      diffusers, ComfyUI with a noise mask) change only by the round trip where the latent mask
      is 0; unpinned ones (9-channel diffusers, ComfyUI's noise_mask off) may change anywhere.
      ComfyUI's output loses the centre-cropped border.
    """
    w, h = image_size
    if prep.pasted_back:
        return np.where(prep.paste_mask > 0, 2, 0).astype(np.uint8)
    if not prep.latents_pinned:
        out = np.full((h, w), 2, np.uint8)
    else:
        free = repaint_map(prep, image_size, np.ceil(np.clip(prep.latent_mask[0, 0].numpy(), 0, 1)))
        out = np.where(free > 0, 2, 1).astype(np.uint8)
    if prep.placement[0] == "offset":
        ph, pw = prep.pixel_mask.shape[-2:]
        ox, oy = prep.placement[1]
        inside = np.zeros((h, w), bool)
        inside[oy : oy + ph, ox : ox + pw] = True
        out[~inside] = 3
    return out


def webui_change_map(result: InitResult, image_size: tuple[int, int]) -> np.ndarray:
    """The webui: the overlay restores the original wherever its alpha is 255 (the mask for
    overlay was 0); elsewhere the result shows, partly or fully. In whole-picture mode the
    output is W×H, mapped here onto the image."""
    alpha = np.asarray(result.overlay_images[0])[..., 3]
    levels = np.where(alpha < 255, 2, 0).astype(np.uint8)
    if levels.shape[::-1] != tuple(image_size):
        levels = np.asarray(Image.fromarray(levels).resize(image_size, Image.Resampling.NEAREST))
    return levels


def _draw_levels(levels: np.ndarray) -> Image.Image:
    lut = np.zeros((4, 3), np.uint8)
    for level, (_, colour) in CHANGE_LEVELS.items():
        lut[level] = colour
    return Image.fromarray(lut[levels])


def _outside_counts(levels: np.ndarray, user_mask: np.ndarray) -> str:
    outside = user_mask == 0
    free = int(((levels == 2) & outside).sum())
    vae = int(((levels == 1) & outside).sum())
    lost = int((levels == 3).sum())
    return f"{free} may change · {vae} VAE round trip" + (f" · {lost} cropped off" if lost else "")


def compare(result: InitResult, image: Image.Image, grow_mask_by: int | None = None, settings: PeerSettings | None = None) -> Comparison:
    """Prepare ``image`` with the mask the user gave (after the webui's binary/invert step,
    before its blur) the way diffusers and ComfyUI would, and compare with ``result``.

    diffusers gets the webui's W×H (floored to multiples of 8) and, in Only masked mode,
    ``padding_mask_crop`` = the webui's padding.
    """
    s = settings or PeerSettings()
    if grow_mask_by is not None:
        from dataclasses import replace

        s = replace(s, grow_mask_by=int(grow_mask_by))
    r, p = result, result.params
    if r.binary_mask is None or r.nmask is None:
        return Comparison({}, "No mask (or a blank one in Only masked mode): nothing to compare.")
    image = image.convert("RGB")
    user_mask = r.binary_mask if not p.inpainting_mask_invert else Image.eval(r.binary_mask, lambda v: 255 - v)
    if user_mask.size != image.size:
        user_mask = user_mask.resize(image.size, Image.Resampling.NEAREST)
    user = np.asarray(user_mask.convert("L"))
    blur = p.mask_blur_x if s.blur_factor is None else s.blur_factor
    kwargs = dict(
        padding_mask_crop=p.inpaint_full_res_padding if p.inpaint_full_res else None,
        pipeline=s.diffusers_pipeline,
        unet_channels=s.unet_channels,
        strength=s.diffusers_strength,
    )
    diff_prep = diffusers_prepare(image, user_mask, p.width, p.height, blur_factor=blur or None, **kwargs)
    if blur:
        sharp = diffusers_prepare(image, user_mask, p.width, p.height, **kwargs)
        before, after = int((sharp.latent_mask > 0.5).sum()), int((diff_prep.latent_mask > 0.5).sum())
        lost = int(((sharp.latent_mask > 0.5) & (diff_prep.latent_mask < 0.5)).sum())
        diff_prep.why[0] += f" (here {lost} of {before} latent cells lost, {after} left)"
    if s.blur_factor is None and blur and p.mask_blur_x != p.mask_blur_y:
        diff_prep.notes.append(f"diffusers' blur takes one radius: Mask blur x ({p.mask_blur_x:g}) is used, y ({p.mask_blur_y:g}) is not.")
    comfy = comfy_prepare(
        image,
        user_mask,
        s.comfy_node,
        grow_mask_by=s.grow_mask_by,
        noise_mask=s.noise_mask,
        grow_mask=s.grow_mask,
        tapered_corners=s.tapered_corners,
        unet_channels=s.unet_channels,
        denoise=s.comfy_denoise,
        differential_diffusion=s.differential_diffusion,
    )

    size = image.size
    webui_map = repaint_in_image(r.nmask[0].cpu().numpy(), (p.width, p.height), size, region=r.crop_region if r.inpaint_full_res else None)
    views: dict[str, View] = {}
    rows = [
        "| system | pixels encoded | repaint pixels | differs from webui | outside the mask | why |",
        "|---|---|---:|---:|---|---|",
    ]
    webui_levels = webui_change_map(r, size)
    rows.append(
        f"| webui | {p.width}×{p.height} | {int((webui_map > 0.5).sum())} | – | {_outside_counts(webui_levels, user)} | "
        "bicubic + round of the blurred mask; the original pasted back through the overlay |"
    )
    views["webui_encoded"] = View(r.filled_images[0], "webui: what is encoded (after the masked-content fill)")
    views["webui_change"] = View(_draw_levels(webui_levels), f"webui: where the output can differ from the original · outside the mask: {_outside_counts(webui_levels, user)}")
    for name, prep in (("diffusers", diff_prep), ("ComfyUI", comfy)):
        key = name.lower()
        their_map = repaint_map(prep, size)
        diff_img, n = difference_image(webui_map, their_map)
        h, w = prep.image.shape[-2:]
        views[f"{key}_encoded"] = View(_to_pil(prep.image), f"{name}: what is encoded ({w}×{h}; init latent from {prep.init_latent_from} pixels)")
        if prep.masked_image is not None:
            views[f"{key}_masked"] = View(_to_pil(prep.masked_image), f"{name}: the 9-channel model's masked image")
        views[f"{key}_difference"] = View(diff_img, f"where it repaints vs the webui: red only webui, cyan only {name} · {n} px differ")
        levels = change_map(prep, size)
        views[f"{key}_change"] = View(_draw_levels(levels), f"{name}: where the output can differ from the original · outside the mask: {_outside_counts(levels, user)}")
        rows.append(
            f"| {name} | {w}×{h} | {int((their_map > 0.5).sum())} | {n} | {_outside_counts(levels, user)} | {'; '.join(prep.why)} |"
        )
    if s.differential_diffusion:
        from .peers import differential_diffusion_masks

        steps = max(int(p.steps * s.comfy_denoise), 1)
        masks = differential_diffusion_masks(comfy.latent_mask[0, 0], steps)
        free_steps = masks.sum(0).numpy()
        grid, _, _ = heatmap_grid(free_steps[None], vmin=0.0, vmax=float(steps), cmap="viridis")
        views["comfyui_differential"] = View(grid, f"ComfyUI Differential Diffusion: steps each latent cell is free, of {steps} (colour bar 0 … {steps})")
    rule_masks = latent_mask_rules(r.image_mask if r.image_mask is not None else user_mask)
    stacked = np.stack(list(rule_masks.values()))
    grid, _, _ = heatmap_grid(stacked, vmin=0.0, vmax=1.0, cmap="gray", columns=4)
    base = rule_masks["bicubic + round"]
    counts = ", ".join(f"{k}: {int((np.round(v) != base).sum())}" for k, v in rule_masks.items() if k != "bicubic + round")
    views["latent_rules"] = View(grid, f"{' | '.join(LATENT_RULES)} · cells that differ from bicubic + round: {counts}")
    notes = [f"- {n}" for n in diff_prep.notes + comfy.notes]
    rules = "\n".join(f"- **{k}** — {v}" for k, v in LATENT_RULES.items())
    legend = "\n".join(f"- {'black grey white red'.split()[k]}: {label}" for k, (label, _) in CHANGE_LEVELS.items())
    table = (
        "\n".join(rows)
        + "\n\n"
        + "\n".join(notes)
        + "\n\nChange maps (where the output can differ from the original):\n"
        + legend
        + "\n\nLatent-mask rules, left to right:\n"
        + rules
    )
    return Comparison(views, table)


__all__ += ["webui_change_map", "COMFY_NODES", "DIFFUSERS_PIPELINES"]

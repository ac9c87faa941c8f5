"""The webui's preparation next to diffusers' and ComfyUI's, for the same image and mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .peers import LATENT_RULES, comfy_vae_encode_for_inpaint, diffusers_prepare, latent_mask_rules
from .pipeline import InitResult
from .plots import heatmap_grid
from .views import View

__all__ = ["Comparison", "compare", "repaint_in_image", "difference_image"]

WHY = {
    "diffusers": "binarises at 0.5 first (blur never moves the repainted area), nearest latent mask (top-left "
    "pixel of each cell), keeps the original pixels for the init latent and zeroes the masked ones for a 9-channel UNet",
    "ComfyUI": "no blur: the mask is rounded and grown by a box (grow_mask_by), pixels under it become grey "
    "before encoding, sizes are centre-cropped to multiples of 8, and the latent mask is bilinear (soft)",
}


@dataclass
class Comparison:
    views: dict[str, View]
    table: str


def _to_pil(x: torch.Tensor) -> Image.Image:
    # Rounded, not truncated like the webui's decode (pipeline._tensor_to_pil): these tensors
    # came from uint8 pixels, and rounding gives those pixels back exactly.
    return Image.fromarray(((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy())


def repaint_in_image(latent_mask: np.ndarray, processing_size: tuple[int, int], image_size: tuple[int, int], region=None, offset=(0, 0)) -> np.ndarray:
    """A latent mask (h×w, [0, 1]) mapped back onto the original image (H×W float): each cell
    covers 8×8 processing pixels, which cover ``region`` of the image (or all of it, less a crop
    ``offset``). Nearest resampling: a map of where repainting happens, not a paste-back."""
    cells = Image.fromarray((np.clip(latent_mask, 0, 1) * 255).astype(np.uint8))
    pw, ph = processing_size
    big = cells.resize((pw, ph), Image.Resampling.NEAREST)
    out = Image.new("L", image_size, 0)
    if region is not None:
        x1, y1, x2, y2 = region
        out.paste(big.resize((x2 - x1, y2 - y1), Image.Resampling.NEAREST), (x1, y1))
    elif offset != (0, 0):
        out.paste(big, offset)
    else:
        out = big.resize(image_size, Image.Resampling.NEAREST)
    return np.asarray(out, dtype=np.float32) / 255


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


def compare(result: InitResult, image: Image.Image, grow_mask_by: int = 6) -> Comparison:
    """Prepare ``image`` with the mask the user gave (after the webui's binary/invert step, before
    its blur) the way diffusers and ComfyUI would, and compare with ``result``."""
    r, p = result, result.params
    if r.binary_mask is None or r.nmask is None:
        return Comparison({}, "No mask (or a blank one in Only masked mode): nothing to compare.")
    image = image.convert("RGB")
    user_mask = r.binary_mask if not p.inpainting_mask_invert else Image.eval(r.binary_mask, lambda v: 255 - v)
    if user_mask.size != image.size:
        user_mask = user_mask.resize(image.size, Image.Resampling.NEAREST)
    diff_prep = diffusers_prepare(
        image, user_mask, p.width, p.height, blur_factor=p.mask_blur_x or None,
        padding_mask_crop=p.inpaint_full_res_padding if p.inpaint_full_res else None,
    )  # fmt: skip
    comfy = comfy_vae_encode_for_inpaint(image, user_mask, grow_mask_by)

    size = image.size
    webui_map = repaint_in_image(
        r.nmask[0].cpu().numpy(), (p.width, p.height), size, region=r.crop_region if r.inpaint_full_res else None
    )
    diff_map = repaint_in_image(diff_prep.latent_mask[0, 0].numpy(), (p.width, p.height), size, region=diff_prep.crop_region)
    ch, cw = comfy.pixel_mask.shape[-2:]
    comfy_map = repaint_in_image(
        comfy.latent_mask[0, 0].numpy(), (cw, ch), size, offset=((size[0] % 8) // 2, (size[1] % 8) // 2)
    )
    views: dict[str, View] = {}
    rows = ["| system | pixels encoded | repaint pixels | differs from webui | why |", "|---|---|---:|---:|---|"]
    rows.append(f"| webui | {p.width}×{p.height} | {int((webui_map > 0.5).sum())} | – | bicubic + round of the blurred mask |")
    views["webui_encoded"] = View(r.filled_images[0], "webui: what is encoded (after the masked-content fill)")
    for name, prep, their_map in (("diffusers", diff_prep, diff_map), ("ComfyUI", comfy, comfy_map)):
        key = name.lower()
        diff_img, n = difference_image(webui_map, their_map)
        views[f"{key}_encoded"] = View(_to_pil(prep.image), f"{name}: what is encoded ({prep.image.shape[-1]}×{prep.image.shape[-2]})")
        if name == "diffusers":
            views["diffusers_masked"] = View(_to_pil(prep.masked_image), "diffusers: masked image for a 9-channel UNet (masked → 0 = grey)")
        views[f"{key}_difference"] = View(diff_img, f"where it repaints vs the webui: red only webui, cyan only {name} · {n} px differ")
        h, w = prep.image.shape[-2:]
        rows.append(f"| {name} | {w}×{h} | {int((their_map > 0.5).sum())} | {n} | {WHY[name]} |")
    rule_masks = latent_mask_rules(r.image_mask if r.image_mask is not None else user_mask)
    stacked = np.stack(list(rule_masks.values()))
    grid, _, _ = heatmap_grid(stacked, vmin=0.0, vmax=1.0, cmap="gray", columns=4)
    base = rule_masks["bicubic + round"]
    counts = ", ".join(f"{k}: {int((np.round(v) != base).sum())}" for k, v in rule_masks.items() if k != "bicubic + round")
    views["latent_rules"] = View(grid, f"{' | '.join(LATENT_RULES)} · cells that differ from bicubic + round: {counts}")
    notes = [f"- {n}" for n in diff_prep.notes + comfy.notes]
    rules = "\n".join(f"- **{k}** — {v}" for k, v in LATENT_RULES.items())
    table = "\n".join(rows) + "\n\n" + "\n".join(notes) + "\n\nLatent-mask rules, left to right:\n" + rules
    return Comparison(views, table)

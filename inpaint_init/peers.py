"""How other tools prepare the same inpainting inputs, for the comparison view.

All masks here follow the webui's convention: 255 (or 1) = repaint.

- :func:`diffusers_prepare` — ``StableDiffusionInpaintPipeline``'s preparation, in its order,
  through diffusers' public ``VaeImageProcessor`` (installed with the project). Read off the
  installed source: the pipeline's mask processor always binarises (``do_binarize=True``:
  ``< 0.5 → 0``, else 1), so a ``blur()`` applied by the caller before it never changes what is
  repainted; with ``padding_mask_crop`` image and mask are cropped with ``get_crop_region`` and
  resized in "fill" mode, otherwise plainly (Lanczos); the 9-channel masked image is
  ``image · (mask < 0.5)``; the latent mask is ``F.interpolate`` with its default, nearest.
- :func:`comfy_vae_encode_for_inpaint` — ComfyUI's "VAE Encode (for Inpainting)" from its
  documented behaviour, in our code: bilinear mask to pixel size, centre crop to multiples of 8,
  pixels under ``round(mask)`` set to 0.5 grey, the noise mask grown by a ``g×g`` box
  (``grow_mask_by``, default 6) and rounded. During sampling ComfyUI resizes that noise mask to
  latent size bilinearly, so its edge stays soft.
- :func:`latent_mask_rules` — one mask downsampled to latent size by each rule in use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._deps import diffusers

__all__ = ["PeerPrep", "diffusers_prepare", "comfy_vae_encode_for_inpaint", "latent_mask_rules", "LATENT_RULES"]


@dataclass
class PeerPrep:
    """What a tool hands its VAE and sampler, in that tool's own pixel size."""

    name: str
    image: torch.Tensor  # 1×3×H×W in [-1, 1]: the pixels whose latent becomes the init latent
    masked_image: torch.Tensor | None  # 1×3×H×W in [-1, 1]: what a 9-channel UNet's conditioning encodes
    pixel_mask: torch.Tensor  # 1×1×H×W in [0, 1], 1 = repaint
    latent_mask: torch.Tensor  # 1×1×h×w in [0, 1] as the sampler uses it
    crop_region: tuple[int, int, int, int] | None = None
    notes: list[str] = field(default_factory=list)


def diffusers_prepare(
    image: Image.Image,
    mask: Image.Image,
    width: int | None = None,
    height: int | None = None,
    *,
    blur_factor: float | None = None,
    padding_mask_crop: int | None = None,
) -> PeerPrep:
    """diffusers' inpaint preparation. ``width``/``height`` default to the image's, floored to
    multiples of 8 (``get_default_height_width``)."""
    VaeImageProcessor = diffusers().image_processor.VaeImageProcessor
    image_processor = VaeImageProcessor(vae_scale_factor=8)
    mask_processor = VaeImageProcessor(vae_scale_factor=8, do_normalize=False, do_binarize=True, do_convert_grayscale=True)
    notes = []
    image = image.convert("RGB")
    mask = mask.convert("L")
    if blur_factor:
        mask = mask_processor.blur(mask, blur_factor)
        notes.append(f"blur({blur_factor:g}) is applied by the caller, then the mask processor binarises it again.")
    height, width = image_processor.get_default_height_width(image, height, width)
    crops = None
    resize_mode = "default"
    if padding_mask_crop is not None:
        if mask.getbbox() is None:
            notes.append("padding_mask_crop with a blank mask: diffusers' crop box would be inverted; shown without the crop.")
        else:
            crops = mask_processor.get_crop_region(mask, width, height, pad=padding_mask_crop)
            resize_mode = "fill"
    init = image_processor.preprocess(image, height=height, width=width, crops_coords=crops, resize_mode=resize_mode).float()
    cond = mask_processor.preprocess(mask, height=height, width=width, resize_mode=resize_mode, crops_coords=crops).float()
    masked = init * (cond < 0.5)
    latent = F.interpolate(cond, size=(height // 8, width // 8))
    return PeerPrep("diffusers", init, masked, cond, latent, crops, notes)


def comfy_vae_encode_for_inpaint(image: Image.Image, mask: Image.Image, grow_mask_by: int = 6) -> PeerPrep:
    """ComfyUI's "VAE Encode (for Inpainting)" on an RGB image and a mask (255 = repaint)."""
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)[None]  # 1×H×W×3
    m = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)[None, None]
    h, w = pixels.shape[1], pixels.shape[2]
    m = F.interpolate(m, size=(h, w), mode="bilinear")
    h8, w8 = (h // 8) * 8, (w // 8) * 8
    notes = []
    if (h8, w8) != (h, w):
        oy, ox = (h % 8) // 2, (w % 8) // 2
        pixels = pixels[:, oy : oy + h8, ox : ox + w8, :]
        m = m[:, :, oy : oy + h8, ox : ox + w8]
        notes.append(f"{w}×{h} is centre-cropped to {w8}×{h8} (multiples of 8): {w - w8} columns and {h - h8} rows are lost.")
    if grow_mask_by == 0:
        grown = m
    else:
        kernel = torch.ones(1, 1, grow_mask_by, grow_mask_by)
        grown = torch.clamp(F.conv2d(m.round(), kernel, padding=math.ceil((grow_mask_by - 1) / 2)), 0, 1)
    keep = (1.0 - m.round())[:, 0, :, :, None]  # 1×H×W×1
    grey = (pixels - 0.5) * keep + 0.5
    noise_mask = grown[:, :, :h8, :w8].round()
    image_t = grey.permute(0, 3, 1, 2) * 2 - 1
    latent = F.interpolate(noise_mask, size=(h8 // 8, w8 // 8), mode="bilinear")
    notes.append("Pixels under the mask are set to 0.5 grey before encoding: the original content there is gone.")
    return PeerPrep("ComfyUI", image_t, image_t, noise_mask, latent, None, notes)


#: (name, one line on where it is used)
LATENT_RULES = {
    "bicubic + round": "webui: PIL bicubic to 1/8, then rounded at 0.5",
    "nearest": "diffusers: F.interpolate default, the top-left pixel of each 8×8 cell",
    "bilinear": "ComfyUI at sampling: soft, the centre of each cell",
    "max over cell": "Fooocus-style: any masked pixel marks the whole cell",
}


def latent_mask_rules(mask: Image.Image) -> dict[str, np.ndarray]:
    """One mask (processing size, 255 = repaint) at latent size under each rule, h×w in [0, 1]."""
    w, h = mask.width // 8, mask.height // 8
    l = mask.convert("L")
    t = torch.from_numpy(np.asarray(l, dtype=np.float32) / 255.0)[None, None]
    return {
        "bicubic + round": np.around(np.asarray(l.convert("RGB").resize((w, h)), dtype=np.float32)[..., 0] / 255),
        "nearest": F.interpolate(t, size=(h, w))[0, 0].numpy(),
        "bilinear": F.interpolate(t, size=(h, w), mode="bilinear")[0, 0].numpy(),
        "max over cell": F.max_pool2d(t[..., : h * 8, : w * 8], 8)[0, 0].numpy(),
    }

"""Image conditioning (spec §10): what the UNet gets besides the latent."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["MODEL_KINDS", "standard_conditioning", "conditioning_mask_tensor", "inpainting_conditioning"]

#: Model kinds that decide the conditioning. "inpainting" is an SD1.x/2.x 9-channel UNet,
#: "inpainting-sdxl" the SDXL inpainting model (always rounds its conditioning mask).
MODEL_KINDS = ("standard", "inpainting", "inpainting-sdxl")


def standard_conditioning(batch_size: int) -> torch.Tensor:
    """A standard model's dummy conditioning: zeros of shape B×5×1×1."""
    return torch.zeros(batch_size, 5, 1, 1)


def conditioning_mask_tensor(image_mask: Image.Image | None, size: tuple[int, int], round_mask: bool) -> torch.Tensor:
    """1×1×H×W float mask in ``[0, 1]`` from the (cropped/resized) blurred mask.

    Rounded half-to-even with ``round_mask``. Without a mask: all ones (repaint everything).
    ``size`` is (height, width) of the source image.
    """
    if image_mask is None:
        return torch.ones(1, 1, *size)
    m = torch.from_numpy(np.asarray(image_mask.convert("L")).astype(np.float32) / 255.0)[None, None]
    return torch.round(m) if round_mask else m


def inpainting_conditioning(
    source: torch.Tensor,
    latent_hw: tuple[int, int],
    conditioning_mask: torch.Tensor,
    inpainting_mask_weight: float,
    encode: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """B×5×h×w conditioning of a 9-channel inpainting UNet, and the masked image that was encoded.

    ``source``: B×3×H×W in ``[-1, 1]`` (the filled init batch). The masked image is
    ``lerp(x, x·(1−m), inpainting_mask_weight)`` — masked pixels go to 0, i.e. mid-grey — and is
    encoded like the init image; the mask is downsampled to latent size with *nearest*
    (F.interpolate's default), so its edge can sit a cell away from the bicubic-and-round
    latent mask. Result: ``cat([mask, masked_latent], dim=1)``.
    """
    m = conditioning_mask.to(device=source.device, dtype=source.dtype)
    if m.shape[-2:] != source.shape[-2:]:
        raise ValueError(
            f"conditioning mask is {tuple(m.shape[-2:])} but the image is {tuple(source.shape[-2:])} (H, W)"
        )
    masked_image = torch.lerp(source, source * (1.0 - m), float(inpainting_mask_weight))
    masked_latent = encode(masked_image)
    small = F.interpolate(m, size=latent_hw).to(masked_latent)
    small = small.expand(masked_latent.shape[0], -1, -1, -1)
    return torch.cat([small, masked_latent], dim=1), masked_image

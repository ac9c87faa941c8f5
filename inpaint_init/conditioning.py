"""Image conditioning (spec §10): what the UNet gets besides the latent."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .cache import stage

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


# ----------------------------------------------------------------------------- stage (§10)
@stage("conditioning", returns=("image_conditioning", "conditioning_mask", "conditioning_masked_image"))
def conditioning_stage(
    filled_images, batch_size, image_mask, model_kind, conditioning_round, inpainting_mask_weight, latent_size, conditioning_vae
):
    """§10: a standard model's B×5×1×1 zeros; an inpainting model's mask (rounded iff
    ``conditioning_round``) and masked image, encoded by ``conditioning_vae`` (the backend with
    the posterior seed the program's generator holds at that point): B×5×h×w."""
    from .encode import encode_checked, per_batch, pictures_to_batch
    from .errors import InitError

    if model_kind == "standard":
        return standard_conditioning(batch_size), None, None
    batch = per_batch(filled_images, batch_size)
    hw = (batch[0].height, batch[0].width)
    cond_mask = conditioning_mask_tensor(image_mask, hw, conditioning_round)
    if tuple(cond_mask.shape[-2:]) != hw:
        raise InitError(
            f"the inpainting conditioning needs the mask ({cond_mask.shape[-1]}×{cond_mask.shape[-2]}) and the image "
            f"({hw[1]}×{hw[0]}) at the same size; with resize mode 3 in whole-picture mode the "
            "webui fails here too. Use another resize mode or make the image the processing size."
        )
    vae = conditioning_vae
    source = pictures_to_batch(batch, vae) * 2 - 1
    try:
        conditioning, masked = inpainting_conditioning(source, latent_size, cond_mask, inpainting_mask_weight, lambda x: encode_checked(vae, x))
    except RuntimeError as e:  # the masked image's latent and the init latent disagree in size
        raise InitError(
            f"the inpainting conditioning encodes the {hw[1]}×{hw[0]} picture, whose latent is not the init latent's "
            f"{latent_size[1]}×{latent_size[0]} cells (resize mode 3 resizes only the init latent): the webui fails here "
            "too. Use another resize mode or a picture of the processing size."
        ) from e
    return conditioning, cond_mask, masked

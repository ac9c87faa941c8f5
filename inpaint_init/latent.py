"""Latent mask (``mask`` / ``nmask``) and the latent fills (spec §9)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .noise import first_draws

__all__ = ["latent_mask_image", "latent_masks", "create_noise", "apply_latent_fill"]


def latent_mask_image(latent_mask: Image.Image, latent_width: int, latent_height: int) -> Image.Image:
    """The latent mask downsampled to latent size: RGB, PIL's default resample (bicubic).

    The reference converts to RGB first. For an ``L`` mask the three channels are copies and
    PIL resamples each channel alike, so resizing the one channel and converting afterwards
    gives the same pixels with a third of the work (tests/test_latent_conditioning.py).
    """
    if latent_mask.mode == "L":
        return latent_mask.resize((latent_width, latent_height), Image.Resampling.BICUBIC).convert("RGB")
    return latent_mask.convert("RGB").resize((latent_width, latent_height))


def latent_masks(small_mask: Image.Image, channels: int, mask_round: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mask, nmask)`` as C×h×w float32 tensors from the latent-size mask image.

    ``nmask`` is the first channel / 255 (1 = regenerate), rounded half-to-even with
    ``mask_round``; ``mask = 1 - nmask`` (1 = keep).
    """
    lat = np.asarray(small_mask, dtype=np.float32)[..., 0] / 255
    if mask_round:
        lat = np.around(lat)
    lat = np.tile(lat[None], (channels, 1, 1))
    return torch.from_numpy(1.0 - lat), torch.from_numpy(lat)


def create_noise(shape: tuple[int, ...], seeds: list[int], source: str = "CPU") -> torch.Tensor:
    """The latent-noise fill's noise: B×shape, the first ``randn(shape)`` of each seed from the
    webui's random ``source`` ("CPU": ``torch.manual_seed(seed); torch.randn(shape)``; "GPU",
    "NV": see :mod:`inpaint_init.noise`). The caller's global torch RNG state is untouched."""
    return first_draws(shape, seeds, source)


def apply_latent_fill(
    init_latent: torch.Tensor, mask: torch.Tensor, nmask: torch.Tensor, inpainting_fill: int, noise: torch.Tensor | None
) -> torch.Tensor:
    """Fill 2 (latent noise): ``latent·mask + noise·nmask``; fill 3 (latent nothing):
    ``latent·mask``; other modes leave the latent unchanged. Returns a new tensor."""
    if inpainting_fill == 2:
        return init_latent * mask + noise.to(init_latent) * nmask
    if inpainting_fill == 3:
        return init_latent * mask
    return init_latent

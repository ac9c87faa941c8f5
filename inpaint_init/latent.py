"""Latent mask (``mask`` / ``nmask``) and the latent fills (spec §9)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .cache import stage
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


# ----------------------------------------------------------------------------- stages (§9)
@stage("latent_mask", returns="latent_mask_image")
def latent_mask_stage(latent_mask_source: Image.Image, latent_size: tuple[int, int]) -> Image.Image:
    """§9: the mask at latent size (``latent_size`` = (h, w)), RGB, bicubic."""
    return latent_mask_image(latent_mask_source, latent_size[1], latent_size[0])


@stage("latent_mask", returns=("mask", "nmask"), cached=False)
def latent_masks_stage(latent_mask_image: Image.Image, latent_channels: int, round_mask: bool):
    """§9: ``mask``/``nmask`` C×h×w, repeated over the latent's channels."""
    return latent_masks(latent_mask_image, latent_channels, round_mask)


@stage("noise", returns="latent_noise")
def latent_noise_stage(noise_seeds: list[int], latent_shape: tuple[int, ...], randn_source: str, noise_device) -> torch.Tensor:
    """§9/§11: the latent-noise fill's noise, the plain first draw of each seed (B×C×h×w);
    ``noise_device`` tells which generator "GPU" means here (it is part of the key)."""
    return first_draws(latent_shape, noise_seeds, randn_source)


@stage("latent_fill", returns="init_latent", cached=False)
def latent_fill_stage(encoded_latent: torch.Tensor, mask: torch.Tensor, nmask: torch.Tensor, inpainting_fill: int, latent_noise) -> torch.Tensor:
    """§9: fill 2 ``z·mask + noise·nmask``, fill 3 ``z·mask``; other modes hand ``z`` on."""
    return apply_latent_fill(encoded_latent, mask.to(encoded_latent), nmask.to(encoded_latent), inpainting_fill, latent_noise)

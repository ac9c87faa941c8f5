"""VAE encode and decode as stages (spec §8): the pictures to the latent, and latents back to
pictures for the views.

A backend follows the protocol of :mod:`inpaint_init.vae`; its ``encode`` takes B×3×H×W in
``[-1, 1]`` and returns the latent as the program puts it in ``init_latent`` (scaled).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .cache import stage
from .errors import InitError
from .overlay import flatten
from .resize import ResizeMode, interpolate_latent, resize_or_error
from .vae import CheapApproxVAE

__all__ = ["to_batch_array", "pictures_to_batch", "tensor_to_pil", "encode_checked", "per_batch", "encode_stage", "decode_stage"]


def to_batch_array(image: Image.Image) -> np.ndarray:
    """RGB PIL → float32 3×H×W in ``[0, 1]``, as the webui builds its batch."""
    return np.moveaxis(np.asarray(image, dtype=np.float32) / 255.0, 2, 0)


def pictures_to_batch(images: list[Image.Image], vae) -> torch.Tensor:
    """B×3×H×W in ``[0, 1]`` on the backend's device and dtype."""
    stacked = np.stack([to_batch_array(im) for im in images])
    return torch.from_numpy(stacked).to(device=getattr(vae, "device", torch.device("cpu")), dtype=getattr(vae, "dtype", torch.float32))


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """3×H×W in ``[-1, 1]`` → RGB PIL, with the webui's truncation ``(255·x).astype(uint8)``."""
    x = ((x.detach().float().cpu() + 1) / 2).clamp(0, 1)
    return Image.fromarray((255.0 * x.permute(1, 2, 0).numpy()).astype(np.uint8))


def encode_checked(vae, x: torch.Tensor) -> torch.Tensor:
    """``vae.encode(x)``; a picture the VAE cannot take (smaller than one 8×8 cell) and NaN or
    infinite latents are an InitError naming the VAE."""
    try:
        z = vae.encode(x)
    except RuntimeError as e:
        raise InitError(
            f"the VAE ({getattr(vae, 'name', type(vae).__name__)}) cannot encode a {x.shape[-1]}×{x.shape[-2]} picture "
            f"({str(e).splitlines()[0][:120]}); a side of fewer than 8 pixels has no latent cell. The webui fails here too."
        ) from e
    if not torch.isfinite(z).all():
        raise InitError(f"the VAE ({getattr(vae, 'name', type(vae).__name__)}) produced NaN or infinite latents")
    return z


def per_batch(values: list, batch_size: int) -> list:
    """One init image stands for the whole batch: its per-image values repeated ``batch_size``
    times (the same objects); a list of several images is the batch already."""
    return list(values) * batch_size if len(values) == 1 else list(values)


@stage("encode", returns="encoded_latent")
def encode_stage(filled_images: list[Image.Image], batch_size: int, vae, resize_mode: int, width: int, height: int) -> torch.Tensor:
    """§8: B×C×h×w, image by image as the webui encodes (a deterministic backend encodes a
    picture repeated over the batch once); resize mode 3 then resizes the latent."""
    batch = per_batch(filled_images, batch_size)
    if len({im.size for im in batch}) > 1:
        raise InitError(f"the init images have different sizes {sorted({im.size for im in batch})} after resizing; they cannot share a batch")
    x = pictures_to_batch(batch, vae)
    done: dict[int, torch.Tensor] = {}
    latents = []
    for i, image in enumerate(batch):
        z = done.get(id(image)) if getattr(vae, "deterministic", False) else None
        if z is None:
            z = done[id(image)] = encode_checked(vae, x[i : i + 1] * 2 - 1)
        latents.append(z)
    encoded = torch.cat(latents)
    if resize_mode == ResizeMode.LATENT_UPSCALE:
        encoded = interpolate_latent(encoded, height, width)
    latent_hw = tuple(encoded.shape[-2:])
    if latent_hw != (height // 8, width // 8):
        # A full VAE floors each halving, so its latent is (H//8, W//8) like the noise and the mask;
        # TAESD's padding rounds up instead (spec §12, unverified against the webui).
        raise InitError(
            f"the VAE ({getattr(vae, 'name', type(vae).__name__)}) made a {latent_hw[1]}×{latent_hw[0]} latent from "
            f"{batch[0].width}×{batch[0].height} pixels, but the noise and the mask are {width // 8}×{height // 8} "
            "(width // 8 × height // 8): the webui fails here too. Use a size that is a multiple of 8 with this VAE."
        )
    return encoded


@stage("encode", returns="soft_result_latent")
def result_latent_stage(result_image: Image.Image, background_color: str, crop_region, resize_mode: int, width: int, height: int, vae) -> torch.Tensor:
    """Soft inpainting's result image (C×h×w): cut and resized as the init image is, encoded."""
    image = flatten(result_image, background_color)
    if crop_region is not None:
        image = resize_or_error(ResizeMode.RESIZE_AND_FILL, image.crop(crop_region), width, height)
    elif resize_mode != ResizeMode.LATENT_UPSCALE:
        image = resize_or_error(resize_mode, image, width, height)
    z = encode_checked(vae, pictures_to_batch([image], vae) * 2 - 1)
    if resize_mode == ResizeMode.LATENT_UPSCALE and crop_region is None:
        z = interpolate_latent(z, height, width)
    if tuple(z.shape[-2:]) != (height // 8, width // 8):
        raise InitError(f"the result image's latent is {z.shape[-1]}×{z.shape[-2]}, not {width // 8}×{height // 8}")
    return z[0]


@stage("decode", returns="decoded")
def decode_stage(latent: torch.Tensor, vae) -> Image.Image:
    """A 1×C×h×w latent as a picture, by the backend's own decode (for the views)."""
    if hasattr(vae, "decode_image"):
        return vae.decode_image(latent)
    return tensor_to_pil(vae.decode(latent)[0])


@stage("decode", returns="decoded_approx")
def approx_decode_stage(latent: torch.Tensor, family: str) -> Image.Image:
    """The weightless approximation's decode of a latent of ``family`` ("sd1", "sdxl", "sd3",
    "flux"), to compare a real VAE's decode with."""
    return CheapApproxVAE(family).decode_image(latent.float().cpu())

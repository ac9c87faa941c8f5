"""VAE backends behind one small protocol (spec §8).

A backend is any object with

- ``encode(x)``: float B×3×H×W in ``[-1, 1]`` → *scaled* latent B×C×H/8×W/8 (what the UNet sees);
- ``decode(z)``: scaled latent → B×3×H×W in ``[-1, 1]``;
- ``latent_channels`` (int) and ``name`` (str, shown to the user).

Optional attributes the pipeline reads when present: ``deterministic`` (bool; True means
encoding the same pixels twice gives the same latent, so results may be cached),
``cache_identity`` (hashable; what decides the outputs, when object identity is not the right
key), ``device`` and ``dtype`` (where the input batch is sent), ``scaling_factor``.

The default, :class:`CheapApproxVAE`, needs no weights. It is **our own approximation**, not
what the webui encodes with: the webui's "Approx cheap" decoder is a fixed linear map from the
4 latent channels to RGB; we encode with that map's least-squares inverse on 8×8-averaged
pixels. Decoding gives one flat colour per latent cell.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

__all__ = ["VAEBackend", "CheapApproxVAE", "default_device"]


@runtime_checkable
class VAEBackend(Protocol):
    latent_channels: int
    name: str

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


def default_device() -> torch.device:
    """CUDA when present, CPU otherwise."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


# Latent → RGB coefficients of the webui's "cheap approximation" preview (rows: latent
# channels, columns: R, G, B). They are the community's least-squares fit published on the
# Hugging Face forum ("decoding latents to RGB without upscaling"), used by every SD UI.
_CHEAP_COEFFS = {
    "sd1": (
        (0.298, 0.207, 0.208),
        (0.187, 0.286, 0.173),
        (-0.158, 0.189, 0.264),
        (-0.184, -0.271, -0.473),
    ),
    "sdxl": (
        (0.3448, 0.4168, 0.4395),
        (-0.1953, -0.0290, 0.0250),
        (0.1074, 0.0886, -0.0163),
        (-0.3730, -0.2499, -0.2088),
    ),
}


class CheapApproxVAE:
    """Weightless latent approximation (SD1.x/2.x or SDXL coefficients).

    ``decode``: ``rgb = z · C`` per latent cell (C is 4×3), upsampled ×8 nearest, clamped to
    ``[-1, 1]``. ``encode``: 8×8 average pool, then ``z = rgb · pinv(C)`` — the smallest latent
    whose cheap decode is that average colour. Deterministic, so encode results can be cached.

    >>> vae = CheapApproxVAE()
    >>> vae.encode(torch.zeros(1, 3, 16, 24)).shape
    torch.Size([1, 4, 2, 3])
    >>> vae.encode(torch.zeros(1, 3, 300, 451)).shape  # any size: floor(side / 8), like a full VAE
    torch.Size([1, 4, 37, 56])
    """

    latent_channels = 4
    deterministic = True
    scaling_factor = 1.0
    dtype = torch.float32

    def __init__(self, kind: str = "sd1", device: torch.device | str | None = None):
        if kind not in _CHEAP_COEFFS:
            raise ValueError(f"unknown cheap approximation kind {kind!r}; expected one of {sorted(_CHEAP_COEFFS)}")
        self.kind = kind
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.coeffs = torch.tensor(_CHEAP_COEFFS[kind], dtype=torch.float32)
        self.inverse = torch.linalg.pinv(self.coeffs)  # 3×4
        self.name = f"weightless approximation ({'SDXL' if kind == 'sdxl' else 'SD1.x/2.x'} cheap-approx coefficients; not a real VAE)"

    @property
    def cache_identity(self):
        # Stateless: two instances of the same kind give the same outputs.
        return ("cheap-approx", self.kind)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        # avg_pool2d drops the last W mod 8 columns and H mod 8 rows: the latent is (H//8, W//8),
        # as a full VAE's stride-2 convolutions give (spec §12).
        pooled = F.avg_pool2d(x.float(), 8)
        return torch.einsum("brhw,rc->bchw", pooled, self.inverse.to(pooled.device))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self._cells(z), scale_factor=8, mode="nearest")

    def _cells(self, z: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,cr->brhw", z.float(), self.coeffs.to(z.device)).clamp(-1, 1)

    def decode_image(self, z: torch.Tensor):
        """The first decoded image as RGB PIL, as ``(255 * (x + 1) / 2).astype(uint8)`` of
        :meth:`decode` — computed per latent cell, then replicated: the per-pixel conversion
        commutes with nearest upsampling, so this is exact and 64× less work."""
        from PIL import Image

        x = ((self._cells(z[:1])[0].cpu() + 1) / 2).clamp(0, 1)
        cells = Image.fromarray((255.0 * x.permute(1, 2, 0).numpy()).astype("uint8"))
        return cells.resize((cells.width * 8, cells.height * 8), Image.Resampling.NEAREST)

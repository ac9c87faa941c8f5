"""VAE backends behind one small protocol (spec §8).

A backend is any object with

- ``encode(x)``: float B×3×H×W in ``[-1, 1]`` → *scaled* latent B×C×H/8×W/8 (what the UNet sees);
- ``decode(z)``: scaled latent → B×3×H×W in ``[-1, 1]``;
- ``latent_channels`` (int) and ``name`` (str, shown to the user).

``encode`` returns the latent exactly as the program mirrored puts it in ``init_latent``: the
backend applies ``(z − shift_factor) × scaling_factor`` itself and ``decode`` inverts it
(forge.md §4); the pipeline never scales again.

Optional attributes the pipeline reads when present: ``deterministic`` (bool; True means
encoding the same pixels twice gives the same latent, so results may be cached),
``cache_identity`` (hashable; what decides the outputs, when object identity is not the right
key), ``device`` and ``dtype`` (where the input batch is sent), ``scaling_factor``,
``shift_factor`` (0.0 when absent) and ``family`` (one of :data:`FAMILIES`; when absent,
:func:`vae_family` infers it from the channel count, scale and shift of forge.md §4).

The default, :class:`CheapApproxVAE`, needs no weights. It is **our own approximation**, not
what the webui encodes with: the webui's "Approx cheap" decoder is a fixed linear map from the
4 latent channels to RGB; we encode with that map's least-squares inverse on 8×8-averaged
pixels. Decoding gives one flat colour per latent cell. For the 16-channel families (SD3, Flux)
no such published preview map is used here: :data:`_CHEAP16` is a linear map of our own design
(documented there), with the same least-squares inverse.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

__all__ = ["VAEBackend", "CheapApproxVAE", "FAMILIES", "FAMILY_NUMBERS", "FAMILY_LABELS", "default_device", "family_from_numbers", "vae_family", "cheap_approx_for"]


#: The latent families (forge.md §4): SD1.x/2.x, SDXL, SD3 (Forge's sd35 engine), Flux.
FAMILIES = ("sd1", "sdxl", "sd3", "flux")
FAMILY_LABELS = {"sd1": "SD1.x/2.x", "sdxl": "SDXL", "sd3": "SD3", "flux": "Flux"}
#: (latent channels, scaling_factor, shift_factor) of each family, read from the programs' own VAE
#: configs (forge.md §4 table; a missing shift is 0.0).
FAMILY_NUMBERS = {
    "sd1": (4, 0.18215, 0.0),
    "sdxl": (4, 0.13025, 0.0),
    "sd3": (16, 1.5305, 0.0609),
    "flux": (16, 0.3611, 0.1159),
}


def _init_error(message: str) -> ValueError:
    # pipeline imports this module, so InitError is looked up only when an error is raised.
    from .errors import InitError

    return InitError(message)


def family_from_numbers(channels: int, scaling_factor: float | None, shift_factor: float | None) -> str | None:
    """The family whose (channels, scale, shift) these are, or None when none fits.

    Four channels: SDXL when the scale is 0.13025, else SD1.x/2.x (their VAEs share the
    architecture; a scale of 1, e.g. TAESD's, counts as SD1.x/2.x). Sixteen channels: the family
    whose scale *or* shift matches (to 1e-4); anything else is None.

    >>> family_from_numbers(4, 0.13025, 0.0), family_from_numbers(4, 0.18215, None)
    ('sdxl', 'sd1')
    >>> family_from_numbers(16, 0.3611, 0.1159), family_from_numbers(16, 1.5305, 0.0609), family_from_numbers(16, 1.0, 0.0)
    ('flux', 'sd3', None)
    """
    scale = 0.0 if scaling_factor is None else float(scaling_factor)
    shift = 0.0 if shift_factor is None else float(shift_factor)
    if channels == 4:
        return "sdxl" if abs(scale - FAMILY_NUMBERS["sdxl"][1]) < 1e-6 else "sd1"
    if channels == 16:
        for fam in ("sd3", "flux"):
            _, s, t = FAMILY_NUMBERS[fam]
            if abs(scale - s) < 1e-4 or abs(shift - t) < 1e-4:
                return fam
    return None


def vae_family(backend) -> str:
    """The backend's family: its ``family`` attribute, else inferred by :func:`family_from_numbers`.

    Raises:
        InitError: ``family`` is not one of :data:`FAMILIES`, it contradicts the channel count, or
            it is absent and the numbers fit no family (e.g. a 16-channel latent with scale 1).
    """
    channels = int(getattr(backend, "latent_channels", 0))
    fam = getattr(backend, "family", None)
    if fam is not None:
        if fam not in FAMILIES:
            raise _init_error(f"the VAE's family must be one of {FAMILIES}, got {fam!r}")
        if FAMILY_NUMBERS[fam][0] != channels:
            raise _init_error(f"the VAE says family {fam!r} ({FAMILY_NUMBERS[fam][0]} latent channels) but has {channels} latent channels")
        return fam
    fam = family_from_numbers(channels, getattr(backend, "scaling_factor", None), getattr(backend, "shift_factor", None))
    if fam is None:
        raise _init_error(
            f"cannot tell the VAE's family from {channels} latent channels, scale {getattr(backend, 'scaling_factor', None)!r} "
            f"and shift {getattr(backend, 'shift_factor', None)!r}; give the backend a family attribute, one of {FAMILIES}"
        )
    return fam


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


def _cheap16() -> tuple[tuple[float, ...], ...]:
    """Our own 16×3 latent → RGB map for the 16-channel families (not fitted to any real VAE).

    ``C = s · D · A``: D (16×3) holds the first three orthonormal DCT-II vectors over the 16
    channels (constant, one half-cosine, one full cosine), A (3×3) the orthonormal colour axes
    grey (1,1,1)/√3, red–blue (1,0,−1)/√2 and magenta–green (1,−2,1)/√6, and s = 0.5. So
    CᵀC = s²·I: the least-squares inverse is Cᵀ/s², a cell colour survives encode → decode
    exactly, and unit-variance latent noise decodes to RGB noise of standard deviation 0.5;
    white (1,1,1) encodes to 0.87 in every channel, roughly the unit range of a real
    scaled-and-shifted SD3/Flux latent. SD3 and Flux share it: the families differ in their
    rules, not in this picture.
    """
    n, s = 16, 0.5
    dct = [[math.sqrt((1 if k == 0 else 2) / n) * math.cos(math.pi * (c + 0.5) * k / n) for k in range(3)] for c in range(n)]
    axes = ((1 / math.sqrt(3),) * 3, (1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)), (1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)))
    return tuple(tuple(s * sum(dct[c][k] * axes[k][r] for k in range(3)) for r in range(3)) for c in range(n))


_CHEAP_COEFFS["sd3"] = _CHEAP_COEFFS["flux"] = _cheap16()


class CheapApproxVAE:
    """Weightless latent approximation: a fixed linear map between latent cells and RGB.

    ``kind``: "sd1" or "sdxl" (4 channels, the published cheap-preview coefficients) or "sd3" or
    "flux" (16 channels, our own map, see :func:`_cheap16`). ``decode``: ``rgb = z · C`` per
    latent cell (C is C×3), upsampled ×8 nearest, clamped to ``[-1, 1]``. ``encode``: 8×8 average
    pool, then ``z = rgb · pinv(C)`` — the smallest latent whose cheap decode is that average
    colour. The latent is what the pipeline uses as is (scale 1, shift 0: there is no posterior
    to scale). Deterministic, so encode results can be cached.

    >>> vae = CheapApproxVAE()
    >>> vae.encode(torch.zeros(1, 3, 16, 24)).shape
    torch.Size([1, 4, 2, 3])
    >>> vae.encode(torch.zeros(1, 3, 300, 451)).shape  # any size: floor(side / 8), like a full VAE
    torch.Size([1, 4, 37, 56])
    >>> CheapApproxVAE("flux").encode(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 16, 8, 8])
    """

    deterministic = True
    scaling_factor = 1.0
    shift_factor = 0.0
    dtype = torch.float32

    def __init__(self, kind: str = "sd1", device: torch.device | str | None = None):
        if kind not in _CHEAP_COEFFS:
            raise _init_error(f"the weightless VAE's kind must be one of {FAMILIES}, got {kind!r}")
        self.kind = self.family = kind
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.coeffs = torch.tensor(_CHEAP_COEFFS[kind], dtype=torch.float32)
        self.latent_channels = int(self.coeffs.shape[0])
        self.inverse = torch.linalg.pinv(self.coeffs)  # 3×C
        what = " cheap-approx coefficients" if self.latent_channels == 4 else "; a 16-channel linear map of our own"
        self.name = f"weightless approximation ({FAMILY_LABELS[kind]}{what}; not a real VAE)"

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
        if z.ndim != 4 or z.shape[1] != self.latent_channels:
            raise _init_error(
                f"the {FAMILY_LABELS[self.kind]} weightless decode takes B×{self.latent_channels}×h×w latents, got shape {tuple(z.shape)}"
            )
        return torch.einsum("bchw,cr->brhw", z.float(), self.coeffs.to(z.device)).clamp(-1, 1)

    def decode_image(self, z: torch.Tensor):
        """The first decoded image as RGB PIL, as ``(255 * (x + 1) / 2).astype(uint8)`` of
        :meth:`decode` — computed per latent cell, then replicated: the per-pixel conversion
        commutes with nearest upsampling, so this is exact and 64× less work."""
        from PIL import Image

        x = ((self._cells(z[:1])[0].cpu() + 1) / 2).clamp(0, 1)
        cells = Image.fromarray((255.0 * x.permute(1, 2, 0).numpy()).astype("uint8"))
        return cells.resize((cells.width * 8, cells.height * 8), Image.Resampling.NEAREST)


def cheap_approx_for(backend) -> CheapApproxVAE:
    """The weightless approximation of ``backend``'s family (:func:`vae_family`), e.g. for the
    "approximate decode" view of a real VAE's latent; ``backend`` itself when it is one."""
    if isinstance(backend, CheapApproxVAE):
        return backend
    return CheapApproxVAE(vae_family(backend))

"""The webui's img2img parameters that matter before sampling (:class:`InitParams`), and their
checks: every value from a caller is of the right kind and in range before it reaches PIL,
OpenCV or torch."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Hashable

import numpy as np
from PIL import Image

from .conditioning import MODEL_KINDS
from .errors import InitError
from .flavour import FLAVOURS, FORGE_TRY_REPRODUCE
from .noise import RANDN_SOURCES, seed_in_range
from .overlay import DEFAULT_BACKGROUND
from .sampler import SAMPLERS

__all__ = ["InitParams", "MAX_SIDE", "MAX_BLUR", "MAX_PIXELS"]

MAX_SIDE = 8192
#: Largest mask blur accepted. The webui's slider stops at 64, its API takes any number, and
#: OpenCV's cost grows with the kernel (2·int(2.5·blur + 0.5) + 1 taps): blur 512 takes ~0.65 s
#: at 512² and ~7 s at 2048² on 2 cores; 20000 would take minutes for a mask that is flat anyway.
MAX_BLUR = 512
#: Largest input image accepted, in pixels (a decompression bomb is refused, not decoded).
MAX_PIXELS = 8192 * 8192


def _integer(p, name: str) -> int:
    """The parameter as an int (bools and NumPy integers count), or an InitError naming it."""
    v = getattr(p, name)
    if not isinstance(v, (int, np.integer, np.bool_)):
        raise InitError(f"{name} must be a whole number, got {v!r} ({type(v).__name__})")
    return int(v)


def _real(p, name: str) -> float:
    """The parameter as a finite float, or an InitError naming it."""
    v = getattr(p, name)
    if not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
        raise InitError(f"{name} must be a finite number, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class InitParams:
    """The webui's img2img parameters that matter before sampling, with the webui's names and
    defaults (``inpaint_full_res`` follows the UI's "Whole picture"; the API's processing object
    defaults to True instead)."""

    width: int = 512
    height: int = 512
    mask_blur_x: float = 4
    mask_blur_y: float = 4
    inpainting_mask_invert: int = 0
    inpainting_fill: int = 1
    inpaint_full_res: bool = False
    inpaint_full_res_padding: int = 32
    resize_mode: int = 0
    mask_round: bool = True
    inpainting_mask_weight: float = 1.0
    batch_size: int = 1
    seed: int = -1
    denoising_strength: float = 0.75
    steps: int = 20
    #: For the sampler's view only (init itself does not depend on it). The webui's default.
    sampler_name: str = "DPM++ 2M"
    #: The webui option "img2img_fix_steps": run exactly ``steps`` whatever the strength.
    img2img_fix_steps: bool = False
    color_correction: bool = False
    model_kind: str = "standard"
    background_color: str = DEFAULT_BACKGROUND
    #: The webui's "Random number generator source" option: "GPU" (its default), "CPU" or "NV".
    randn_source: str = "GPU"
    #: Variation seed (-1: random) and its strength; 0 strength means no variation.
    subseed: int = -1
    subseed_strength: float = 0.0
    #: "Seed resize from" width/height; off unless both are > 0 (the UI's 0, the API's -1).
    seed_resize_from_w: int = 0
    seed_resize_from_h: int = 0
    #: "Eta noise seed delta": changes only the sampler's later draws, kept for the infotext.
    eta_noise_seed_delta: int = 0
    #: "Noise multiplier for img2img" (initial_noise_multiplier) and "Extra noise multiplier for
    #: img2img and hires fix" (img2img_extra_noise): both act on the sampler's start only.
    initial_noise_multiplier: float = 1.0
    img2img_extra_noise: float = 0.0
    #: Soft inpainting (the webui's built-in extension): the switch and its six sliders, under the
    #: extension's names (labels and ranges in :data:`inpaint_init.soft_inpainting.SOFT_PARAMS`).
    #: Before sampling it only turns mask rounding off; the rest is shown as a preview.
    soft_inpainting: bool = False
    mask_blend_power: float = 1.0
    mask_blend_scale: float = 0.5
    inpaint_detail_preservation: float = 4.0
    composite_mask_influence: float = 0.0
    composite_difference_threshold: float = 0.5
    composite_difference_contrast: float = 2.0
    #: Which program's rules: "webui" (v1.10.1) or "forge" (Forge at dfdcbab6; forge.md), and
    #: Forge's "Try to reproduce the results from external software" (only "None" in the webui).
    flavour: str = "webui"
    forge_try_reproduce: str = "None"
    #: A caller-supplied mask that replaces the blurred mask for the fill and the latent mask
    #: only (no invert, blur or crop). Compared by content in cache keys, not by identity.
    latent_mask: Image.Image | None = field(default=None, compare=False, repr=False)

    def validate(self) -> None:
        """Raise :class:`InitError` naming the first parameter that is of the wrong kind or out of
        range."""
        for name in ("width", "height"):
            v = _integer(self, name)
            if not 8 <= v <= MAX_SIDE:
                raise InitError(
                    f"{name} must be between 8 and {MAX_SIDE} (the latent is {name} // 8 cells), got {v!r}"
                )
        for name in ("mask_blur_x", "mask_blur_y"):
            v = _real(self, name)
            if not 0 <= v <= MAX_BLUR:
                raise InitError(
                    f"{name} must be between 0 and {MAX_BLUR} (the webui's slider stops at 64; wider blurs only "
                    f"cost time), got {v!r}"
                )
        v = _integer(self, "inpaint_full_res_padding")
        if not 0 <= v <= 2 * MAX_SIDE:
            raise InitError(f"inpaint_full_res_padding must be between 0 and {2 * MAX_SIDE}, got {v!r}")
        choices = {
            "inpainting_fill": (0, 1, 2, 3),
            "resize_mode": (0, 1, 2, 3),
            "inpainting_mask_invert": (0, 1),
            "model_kind": MODEL_KINDS,
            "sampler_name": SAMPLERS,
            "randn_source": RANDN_SOURCES,
            "flavour": tuple(FLAVOURS),
            "forge_try_reproduce": FORGE_TRY_REPRODUCE,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            try:
                ok = isinstance(value, Hashable) and value in allowed
            except TypeError:
                ok = False
            if not ok:
                raise InitError(f"{name} must be one of {allowed}, got {value!r}")
        if not 1 <= _integer(self, "batch_size") <= 64:
            raise InitError(f"batch_size must be between 1 and 64, got {self.batch_size!r}")
        for name in ("seed", "subseed"):
            v = _integer(self, name)
            if not seed_in_range(v):
                raise InitError(
                    f"{name} {v} is outside what torch.manual_seed accepts (-2^63 … 2^64-1); the webui fails on it too"
                )
        for name in ("seed_resize_from_w", "seed_resize_from_h"):
            if _integer(self, name) > MAX_SIDE:
                raise InitError(f"{name} must be at most {MAX_SIDE} (0 or less: off), got {getattr(self, name)!r}")
        _integer(self, "eta_noise_seed_delta")
        for name in ("inpainting_mask_weight", "subseed_strength", "initial_noise_multiplier", "img2img_extra_noise"):
            _real(self, name)
        if not 0 <= _real(self, "denoising_strength") <= 1:
            raise InitError(f"denoising_strength must be between 0 and 1, got {self.denoising_strength!r}")
        if not 1 <= _integer(self, "steps") <= 1000:
            raise InitError(f"steps must be between 1 and 1000, got {self.steps!r}")
        for name in ("mask_blend_power", "mask_blend_scale", "composite_difference_threshold", "composite_difference_contrast"):
            if _real(self, name) < 0:
                raise InitError(f"{name} must not be negative (the webui's slider starts at 0), got {getattr(self, name)!r}")
        if _real(self, "inpaint_detail_preservation") <= 0:
            raise InitError(
                f"inpaint_detail_preservation must be above 0 (the blend takes its 1/D-th root; the slider starts at 1), "
                f"got {self.inpaint_detail_preservation!r}"
            )
        if not 0 <= _real(self, "composite_mask_influence") <= 1:
            raise InitError(f"composite_mask_influence must be between 0 and 1, got {self.composite_mask_influence!r}")
        if not isinstance(self.soft_inpainting, (bool, np.bool_)):
            raise InitError(f"soft_inpainting must be True or False, got {self.soft_inpainting!r}")
        if self.forge_try_reproduce != "None" and self.flavour != "forge":
            raise InitError(f"forge_try_reproduce {self.forge_try_reproduce!r} is a Forge option; choose the Forge flavour or 'None'")
        if self.img2img_fix_steps and self.denoising_strength == 0:
            raise InitError("denoising strength 0 with 'fix steps' leaves no schedule to run")

    @property
    def effective_mask_round(self) -> bool:
        """``mask_round`` as init sees it: soft inpainting's process hook turns it off."""
        return bool(self.mask_round) and not self.soft_inpainting

    def replace(self, **changes) -> "InitParams":
        from dataclasses import replace

        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "latent_mask"} | {
            "latent_mask": None if self.latent_mask is None else f"<{self.latent_mask.mode} {self.latent_mask.size}>"
        }

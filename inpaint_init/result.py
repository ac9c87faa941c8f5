"""What init produces (:class:`InitResult`): the webui's names, plus every intermediate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .params import InitParams
from .sampler import SamplerPlan
from .soft_inpainting import SoftPreview

__all__ = ["InitResult"]


@dataclass
class InitResult:
    """Everything init produces, with the webui's names, plus every intermediate.

    Shapes: ``init_latent`` B×C×H/8×W/8; ``mask``/``nmask`` C×H/8×W/8 (None without a mask);
    ``image_conditioning`` B×5×H/8×W/8 (inpainting) or B×5×1×1 (standard).
    """

    params: InitParams
    init_latent: torch.Tensor
    encoded_latent: torch.Tensor  # the VAE's latent before the latent-noise/nothing fill
    mask: torch.Tensor | None
    nmask: torch.Tensor | None
    image_conditioning: torch.Tensor
    overlay_images: list[Image.Image]
    mask_for_overlay: Image.Image | None
    paste_to: tuple[int, int, int, int] | None
    color_corrections: list[np.ndarray] | None
    binary_mask: Image.Image | None
    blurred_mask: Image.Image | None
    crop_region: tuple[int, int, int, int] | None
    crop_region_unexpanded: tuple[int, int, int, int] | None
    image_mask: Image.Image | None  # the mask at processing size (cropped/resized), as the webui keeps it
    processed_images: list[Image.Image]
    filled_images: list[Image.Image]
    latent_mask_image: Image.Image | None
    latent_noise: torch.Tensor | None
    conditioning_mask: torch.Tensor | None
    conditioning_masked_image: torch.Tensor | None
    decoded_latent: Image.Image | None
    decoded_init_latent: Image.Image | None
    decoded_init_latent_approx: Image.Image | None  # the weightless approximation's decode, for comparison
    sampler_plan: SamplerPlan
    start_latent: torch.Tensor  # what the first sampling step sees (init latent + scaled noise)
    start_noise: torch.Tensor  # the sampler's first noise (ImageRNG's first draw), before the multiplier
    decoded_start_latent: Image.Image | None
    soft: SoftPreview | None  # soft inpainting's per-step blend and overlay preview (None: off or no mask)
    decoded_soft_result: Image.Image | None  # the preview's stand-in result, decoded
    seeds: list[int]  # the batch's all_seeds (all equal to the seed when a variation strength is set)
    subseeds: list[int]
    noise_source: str  # which generator drew the noise here, and how exactly it is the webui's
    batch_size: int
    inpaint_full_res: bool
    vae_name: str
    timings: dict[str, float]
    cached_stages: set[str]
    notes: list[str]
    #: The program whose rules ran ("webui" / "forge"), the VAE's latent family, and where the
    #: other program would differ for this job (sentences; empty: the same init).
    flavour: str = "webui"
    family: str = "sd1"
    randn_source: str = "GPU"  # the source every draw used (Forge's "Try to reproduce" can change it)
    differences: list = field(default_factory=list)
    #: The first init image's size as given, and the mask as given (decoded): what diagnosis reads.
    init_image_size: tuple | None = None
    mask_input: Image.Image | None = None
    #: Every stage call of this run, in order: which stage, from which inputs, cache hit or not.
    calls: list = field(default_factory=list)

    @property
    def total_time(self) -> float:
        return sum(self.timings.values())

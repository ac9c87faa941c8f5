"""inpaint_init: the AUTOMATIC1111 webui's img2img/inpaint initialisation, stage by stage.

>>> from PIL import Image
>>> from inpaint_init import InitParams, run_init
>>> image = Image.new("RGB", (64, 64), "gray")
>>> mask = Image.new("L", (64, 64)); mask.paste(255, (16, 16, 48, 48))
>>> result = run_init(image, mask, InitParams(width=64, height=64, seed=1))
>>> tuple(result.init_latent.shape), tuple(result.nmask.shape)
((1, 4, 8, 8), (4, 8, 8))
"""

from .cache import StageCache
from .color import apply_color_correction, setup_color_correction
from .conditioning import MODEL_KINDS
from .crop import expand_crop_region, get_crop_region, mask_bbox, paste_to_from_region
from .fill import fill, fill_reference
from .latent import apply_latent_fill, create_noise, latent_mask_image, latent_masks
from .masks import blur_kernel_size, blur_mask, create_binary_mask, invert_mask
from .overlay import apply_overlay, flatten, make_overlay
from .pipeline import BLANK_MASK_NOTE, STAGES, InitError, InitParams, InitResult, run_init
from .resize import RESIZE_MODE_LABELS, ResizeMode, interpolate_latent, resize_image
from .vae import CheapApproxVAE, VAEBackend, default_device
from .vae_loaders import VAELoadError, load_vae
from .sampler import SAMPLERS, SamplerPlan, plan_img2img
from .webui_io import parse_api_payload, params_from_infotext, read_png_infotext
from .export import export_result
from .compare import compare
from .ab import compare_results
from .findings import FINDINGS, Finding, diagnose

__all__ = [
    "FINDINGS",
    "Finding",
    "diagnose",
    "SAMPLERS",
    "SamplerPlan",
    "VAELoadError",
    "compare",
    "compare_results",
    "export_result",
    "load_vae",
    "params_from_infotext",
    "parse_api_payload",
    "plan_img2img",
    "read_png_infotext",
    "BLANK_MASK_NOTE",
    "CheapApproxVAE",
    "InitError",
    "InitParams",
    "InitResult",
    "MODEL_KINDS",
    "RESIZE_MODE_LABELS",
    "ResizeMode",
    "STAGES",
    "StageCache",
    "VAEBackend",
    "apply_color_correction",
    "apply_latent_fill",
    "apply_overlay",
    "blur_kernel_size",
    "blur_mask",
    "create_binary_mask",
    "create_noise",
    "default_device",
    "expand_crop_region",
    "fill",
    "fill_reference",
    "flatten",
    "get_crop_region",
    "interpolate_latent",
    "invert_mask",
    "latent_mask_image",
    "latent_masks",
    "make_overlay",
    "mask_bbox",
    "paste_to_from_region",
    "resize_image",
    "run_init",
    "setup_color_correction",
]

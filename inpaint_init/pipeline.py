"""``run_init``: the webui's img2img/inpaint initialisation, every stage, one result object.

The order of stages and every rule follow ``reference-init.md`` (see the per-module docs).
Each stage is keyed by what it depends on, so with a :class:`~inpaint_init.cache.StageCache`
a change of one control recomputes only the stages downstream of it; in particular the VAE
runs again only when the pixels it would encode changed.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import weakref
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Hashable, Sequence

import numpy as np
import torch
from PIL import Image

from .cache import StageCache, image_digest, tensor_digest
from .color import setup_color_correction
from .conditioning import MODEL_KINDS, conditioning_mask_tensor, inpainting_conditioning, standard_conditioning
from .crop import expand_crop_region, get_crop_region, paste_to_from_region
from .fill import fill
from .latent import apply_latent_fill, latent_mask_image, latent_masks
from .masks import blur_mask, create_binary_mask, invert_mask, to_mask_image
from .noise import RANDN_SOURCES, cuda_available, describe_source, first_draws, image_rng_first, seed_in_range
from .overlay import DEFAULT_BACKGROUND, flatten, make_overlay
from .resize import ResizeMode, interpolate_latent
from .resize import resize_image as _resize_image
from .sampler import SAMPLERS, SamplerPlan, plan_img2img, start_latent
from .soft_inpainting import SIMULATED, UPLOADED, SoftPreview, soft_preview
from .vae import CheapApproxVAE

__all__ = ["InitError", "InitParams", "InitResult", "run_init", "STAGES", "BLANK_MASK_NOTE", "MAX_PIXELS"]

#: Stage names, in order, as used in ``InitResult.timings``.
STAGES = (
    "binary_mask",
    "blur",
    "crop_region",
    "mask_resize",
    "image_resize",
    "overlay",
    "fill",
    "color_correction",
    "encode",
    "latent_mask",
    "noise",
    "latent_fill",
    "conditioning",
    "sampler_start",
    "soft_inpainting",
    "decode",
)

BLANK_MASK_NOTE = (
    'Unable to perform "Inpaint Only mask" because the mask is blank: the webui drops the mask, '
    "turns Only masked off and runs plain img2img."
)

MAX_SIDE = 8192
#: Largest mask blur accepted. The webui's slider stops at 64, its API takes any number, and
#: OpenCV's cost grows with the kernel (2·int(2.5·blur + 0.5) + 1 taps): blur 512 takes ~0.65 s
#: at 512² and ~7 s at 2048² on 2 cores; 20000 would take minutes for a mask that is flat anyway.
MAX_BLUR = 512
#: Largest input image accepted, in pixels (a decompression bomb is refused, not decoded).
MAX_PIXELS = 8192 * 8192


class InitError(ValueError):
    """A problem with the inputs, described in words a user can act on."""


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

    @property
    def total_time(self) -> float:
        return sum(self.timings.values())


ProgressFn = Callable[[float, str], None]


class _Stages:
    """Runs keyed stages through an optional cache, timing each and reporting progress."""

    def __init__(self, cache: StageCache | None, progress: ProgressFn | None):
        self.cache = cache
        self.progress = progress
        self.timings: dict[str, float] = {}
        self.cached: set[str] = set()
        self.ran: set[str] = set()

    def __call__(self, name: str, key: Hashable | None, fn: Callable[[], Any]) -> Any:
        self.timings.setdefault(name, 0.0)
        full_key = None if key is None else (name, key)
        if full_key is not None and self.cache is not None:
            hit, value = self.cache.get(full_key)
            if hit:
                if name not in self.ran:
                    self.cached.add(name)
                return value
        if self.progress is not None:
            self.progress(STAGES.index(name) / len(STAGES), name.replace("_", " "))
        start = time.perf_counter()
        value = fn()
        self.timings[name] += time.perf_counter() - start
        self.ran.add(name)
        self.cached.discard(name)
        if full_key is not None and self.cache is not None:
            self.cache.put(full_key, value)
        return value


def _as_pil(image, what: str) -> Image.Image:
    """A decoded PIL image, or an :class:`InitError` that says what is wrong with it."""
    if isinstance(image, np.ndarray):
        try:
            image = to_mask_image(image) if what == "mask" else Image.fromarray(image)
        except (TypeError, ValueError) as e:
            raise InitError(f"{what}: cannot read an image from an array of shape {image.shape} and dtype {image.dtype} ({e})") from e
    if not isinstance(image, Image.Image):
        raise InitError(f"{what} must be a PIL image or a NumPy array, got {type(image).__name__}")
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise InitError(f"{what} is {w}×{h} = {w * h / 2**20:.0f} MP; the limit is {MAX_PIXELS // 2**20} MP (8192×8192)")
    if w < 1 or h < 1:
        raise InitError(f"{what} is empty ({w}×{h})")
    try:
        image.load()  # PIL decodes lazily: a truncated file fails here, not deep inside a stage
    except (OSError, ValueError, SyntaxError) as e:
        raise InitError(f"{what} could not be decoded ({e}); is the file complete?") from e
    return image


def _to_batch_array(image: Image.Image) -> np.ndarray:
    """RGB PIL → float32 3×H×W in [0, 1], as the webui builds its batch."""
    return np.moveaxis(np.asarray(image, dtype=np.float32) / 255.0, 2, 0)


def _tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """3×H×W in [-1, 1] → RGB PIL, with the webui's truncation ``(255·x).astype(uint8)``."""
    x = ((x.detach().float().cpu() + 1) / 2).clamp(0, 1)
    return Image.fromarray((255.0 * x.permute(1, 2, 0).numpy()).astype(np.uint8))


_DEFAULT_VAE: CheapApproxVAE | None = None


def _default_vae() -> CheapApproxVAE:
    global _DEFAULT_VAE
    if _DEFAULT_VAE is None:
        _DEFAULT_VAE = CheapApproxVAE()
    return _DEFAULT_VAE


_VAE_TOKENS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_VAE_COUNTER = itertools.count()
_VAE_TOKENS_LOCK = threading.Lock()


def _vae_identity(vae) -> Hashable | None:
    """A cache identity for a deterministic VAE; None means: never cache its outputs.

    A backend's own ``cache_identity`` wins; otherwise a token held for as long as the object
    lives (not ``id()``, which a later object can reuse and so inherit stale cache entries).
    """
    if not getattr(vae, "deterministic", False):
        return None
    identity = getattr(vae, "cache_identity", None)
    if identity is not None:
        return identity
    try:
        with _VAE_TOKENS_LOCK:
            if vae not in _VAE_TOKENS:
                _VAE_TOKENS[vae] = next(_VAE_COUNTER)
            return ("backend", _VAE_TOKENS[vae])
    except TypeError:  # not weak-referenceable or not hashable: do not cache
        return None


def run_init(
    init_images: Image.Image | Sequence[Image.Image],
    mask: Image.Image | np.ndarray | None,
    params: InitParams | None = None,
    vae=None,
    seeds: Sequence[int] | None = None,
    *,
    cache: StageCache | None = None,
    progress: ProgressFn | None = None,
    decode: bool = True,
    result_image: Image.Image | None = None,
) -> InitResult:
    """Run the webui's img2img/inpaint initialisation on ``init_images`` and ``mask``.

    Args:
        init_images: one PIL image or a list (at most ``params.batch_size``); any mode, RGBA is
            flattened onto ``params.background_color``.
        mask: the inpaint mask as the webui receives it (RGBA with alpha, or a grey/black-white
            image; 255 = repaint), or None for plain img2img.
        params: :class:`InitParams`; defaults to the webui's.
        vae: any backend with the :mod:`inpaint_init.vae` protocol; default: the weightless
            :class:`~inpaint_init.vae.CheapApproxVAE`.
        seeds: per-image seeds for the latent-noise fill; default ``seed + i`` as the webui's
            batch does (``seed = -1`` picks a random one, reported in ``notes``).
        cache: a :class:`StageCache` to reuse unchanged stages between calls.
        progress: ``progress(fraction, stage_name)`` called before each stage that runs.
        decode: also decode, for display, the first latent before and after the latent fill and
            the sampler's noised start, and the init latent with the weightless approximation.
        result_image: with soft inpainting, a result to rebuild its overlay from (e.g. the
            webui's output for this job): cut and resized as the init image is, then encoded
            (approximate: re-encoding does not give back the sampler's latent). Default: a
            simulated result (:func:`inpaint_init.soft_inpainting.simulated_result`).

    Raises:
        InitError: bad parameters or inputs, with a message naming the problem.
    """
    p = params or InitParams()
    p.validate()
    vae = vae if vae is not None else _default_vae()
    notes: list[str] = []
    run = _Stages(cache, progress)

    images = [init_images] if isinstance(init_images, (Image.Image, np.ndarray)) else list(init_images)
    if not images:
        raise InitError("no init image given")
    images = [_as_pil(im, f"init image {i + 1}") for i, im in enumerate(images)]
    if len(images) > p.batch_size:
        raise InitError(f"bad number of images passed: {len(images)}; expecting {p.batch_size} or less (batch size)")
    batch_size = p.batch_size if len(images) == 1 else len(images)
    image_keys = [image_digest(im) for im in images]

    # Soft inpainting's only change before sampling: no rounding (alpha threshold, latent mask,
    # conditioning mask; SDXL inpaint's conditioning rounds anyway).
    mask_round = p.effective_mask_round
    if p.soft_inpainting and mask is not None:
        notes.append(
            "Soft inpainting is on: mask rounding is off, so a painted alpha is not thresholded here and the latent mask "
            "keeps the bicubic values k/255 (fp16 on a usual GPU run). Blur, fill, padding and area are as set."
        )

    # §2 binary mask, invert, blur
    mask_image = None if mask is None else _as_pil(mask, "mask")
    binary = blurred = None
    blur_key = None
    if mask_image is not None:
        mask_key = image_digest(mask_image)
        binary = run("binary_mask", (mask_key, mask_round), lambda: create_binary_mask(mask_image, round=mask_round))
        blur_key = (mask_key, mask_round, p.inpainting_mask_invert, p.mask_blur_x, p.mask_blur_y)

        def _blur():
            m = invert_mask(binary) if p.inpainting_mask_invert else binary
            return blur_mask(m, p.mask_blur_x, p.mask_blur_y)

        blurred = run("blur", blur_key, _blur)
        if mask_image.size != images[0].size:
            notes.append(
                f"The mask is {mask_image.width}×{mask_image.height} but the image is "
                f"{images[0].width}×{images[0].height}. The webui does not check this: in whole-picture mode both are "
                "resized to the processing size independently; in Only masked mode the crop box is measured on the "
                "mask and applied to the image as is."
            )

    # §3/§4 crop region or whole-picture resize of the mask
    full_res = p.inpaint_full_res
    crop_region = crop_unexpanded = paste_to = None
    image_mask = mask_for_overlay = None
    image_mask_key: Hashable | None = None
    mfo_key: Hashable | None = None
    if blurred is not None:
        if full_res:
            crop_unexpanded, crop_region = run(
                "crop_region",
                (blur_key, p.inpaint_full_res_padding, p.width, p.height),
                lambda: _crop_region(blurred, p),
            )
            if crop_region is None:
                notes.append(BLANK_MASK_NOTE)
                full_res = False
            else:
                mask_for_overlay, mfo_key = blurred, ("blurred", blur_key)
                image_mask_key = ("crop", blur_key, crop_region, p.width, p.height)
                image_mask = run(
                    "mask_resize",
                    image_mask_key,
                    lambda: resize_image(ResizeMode.RESIZE_AND_FILL, blurred.crop(crop_region), p.width, p.height),
                )
                paste_to = paste_to_from_region(crop_region)
        else:
            image_mask_key = ("whole", blur_key, p.resize_mode, p.width, p.height)

            def _whole():
                resized = resize_image(p.resize_mode, blurred, p.width, p.height)
                # The overlay mask is twice as hard as the blurred mask in whole-picture mode.
                doubled = np.clip(np.asarray(resized).astype(np.float32) * 2, 0, 255).astype(np.uint8)
                return resized, Image.fromarray(doubled)

            image_mask, mask_for_overlay = run("mask_resize", image_mask_key, _whole)
            mfo_key = ("doubled", image_mask_key)

    latent_mask_src = image_mask
    latent_mask_key = image_mask_key
    if image_mask is not None and p.latent_mask is not None:
        latent_mask_src = p.latent_mask
        latent_mask_key = ("user", image_digest(p.latent_mask))

    # §5 overlay, crop/resize of the image, §6 fill, §7 colour-correction target
    overlays, processed, filled, corrections = [], [], [], []
    overlay_bases = []
    filled_keys = []
    for im, im_key in zip(images, image_keys):
        if crop_region is None and p.resize_mode != ResizeMode.LATENT_UPSCALE:
            pkey = ("whole", im_key, p.background_color, p.resize_mode, p.width, p.height)
            image = run("image_resize", pkey, lambda: resize_image(p.resize_mode, flatten(im, p.background_color), p.width, p.height))
        else:
            pkey = ("flat", im_key, p.background_color)
            image = run("image_resize", pkey, lambda: flatten(im, p.background_color))
        if image_mask is not None:
            if mask_for_overlay.size != image.size:
                # As in the webui, the resized overlay mask replaces the old one for later images.
                size = image.size
                mfo_key = ("resized", mfo_key, p.resize_mode, size)
                mask_for_overlay = run(
                    "mask_resize", mfo_key, lambda m=mask_for_overlay: resize_image(p.resize_mode, m, *size)
                )
            overlays.append(run("overlay", (pkey, mfo_key), lambda: make_overlay(image, mask_for_overlay)))
            overlay_bases.append(image)
        if crop_region is not None:
            pkey = ("crop", pkey, crop_region, p.width, p.height)
            image = run(
                "image_resize",
                pkey,
                lambda: resize_image(ResizeMode.RESIZE_AND_FILL, image.crop(crop_region), p.width, p.height),
            )
        processed.append(image)
        fkey = pkey
        if image_mask is not None and p.inpainting_fill != 1:
            if latent_mask_src.size != image.size:
                raise InitError(_fill_size_message(p, image, latent_mask_src))
            fkey = ("fill", pkey, latent_mask_key)
            image = run("fill", fkey, lambda: fill(image, latent_mask_src))
        filled.append(image)
        filled_keys.append(fkey)
        if p.color_correction:
            corrections.append(run("color_correction", fkey, lambda: setup_color_correction(image)))

    if len(images) == 1:
        overlays *= batch_size
        corrections *= batch_size
        filled_keys *= batch_size
        filled *= batch_size
    sizes = {im.size for im in filled}
    if len(sizes) > 1:
        raise InitError(f"the init images have different sizes {sorted(sizes)} after resizing; they cannot share a batch")

    # §8 encode (image by image, as the webui does; one encode per distinct image when deterministic)
    device = getattr(vae, "device", torch.device("cpu"))
    dtype = getattr(vae, "dtype", torch.float32)
    batch_cache: list[torch.Tensor] = []

    def batch() -> torch.Tensor:
        # Built only when a stage that needs the pixels runs (not on a cache hit).
        if not batch_cache:
            stacked = np.stack([_to_batch_array(im) for im in filled])
            batch_cache.append(torch.from_numpy(stacked).to(device=device, dtype=dtype))
        return batch_cache[0]

    vae_id = _vae_identity(vae)
    latents = []
    for i, fkey in enumerate(filled_keys):
        ekey = None if vae_id is None else (vae_id, fkey)
        latents.append(run("encode", ekey, lambda i=i: _encode_checked(vae, batch()[i : i + 1] * 2 - 1)))
    encoded = torch.cat(latents)
    if p.resize_mode == ResizeMode.LATENT_UPSCALE:
        encoded = interpolate_latent(encoded, p.height, p.width)
    latent_hw = tuple(encoded.shape[-2:])
    if latent_hw != (p.height // 8, p.width // 8):
        # A full VAE floors each halving, so its latent is (H//8, W//8) like the noise and the mask;
        # TAESD's padding rounds up instead (spec §12, unverified against the webui).
        raise InitError(
            f"the VAE ({getattr(vae, 'name', type(vae).__name__)}) made a {latent_hw[1]}×{latent_hw[0]} latent from "
            f"{filled[0].width}×{filled[0].height} pixels, but the noise and the mask are {p.width // 8}×{p.height // 8} "
            "(width // 8 × height // 8): the webui fails here too. Use a size that is a multiple of 8 with this VAE."
        )
    if p.width % 8 or p.height % 8:
        notes.append(
            f"{p.width}×{p.height} is not a multiple of 8: the latent is {p.width // 8}×{p.height // 8} cells and decodes to "
            f"{p.width // 8 * 8}×{p.height // 8 * 8}. "
            + (
                "In Only masked mode the result is resized into the paste box, so the output keeps the original size."
                if full_res
                else f"In whole-picture mode the webui's output is that size: the last {p.width % 8} columns and "
                f"{p.height % 8} rows are lost."
            )
        )

    # §9 latent mask and latent fills; the seeds as the webui's job derives them (§11)
    seeds, subseeds = _job_seeds(p, seeds, batch_size, notes)
    noise_key = (p.randn_source, cuda_available() if p.randn_source == "GPU" else None)
    small_mask = msk = nmsk = noise = None
    init_latent = encoded
    if image_mask is not None:
        small_mask = run(
            "latent_mask", (latent_mask_key, latent_hw), lambda: latent_mask_image(latent_mask_src, latent_hw[1], latent_hw[0])
        )
        msk, nmsk = latent_masks(small_mask, encoded.shape[1], mask_round)
        if p.inpainting_fill == 2:
            shape = tuple(encoded.shape[1:])
            # The same key as a plain start noise below: without variation or resize they are one draw.
            noise = run("noise", (noise_key, tuple(seeds), shape, None, None), lambda: first_draws(shape, seeds, p.randn_source))
        init_latent = run("latent_fill", None, lambda: apply_latent_fill(encoded, msk.to(encoded), nmsk.to(encoded), p.inpainting_fill, noise))

    # §10 image conditioning
    cond_mask = masked_image = None
    if p.model_kind == "standard":
        conditioning = standard_conditioning(batch_size)
    else:
        hw = (filled[0].height, filled[0].width)
        round_mask = mask_round or p.model_kind == "inpainting-sdxl"
        cond_mask = conditioning_mask_tensor(image_mask, hw, round_mask)
        if tuple(cond_mask.shape[-2:]) != hw:
            raise InitError(
                f"the inpainting conditioning needs the mask ({cond_mask.shape[-1]}×{cond_mask.shape[-2]}) and the image "
                f"({hw[1]}×{hw[0]}) at the same size; with resize mode 3 in whole-picture mode the "
                "webui fails here too. Use another resize mode or make the image the processing size."
            )
        ckey = None if vae_id is None else (vae_id, tuple(filled_keys), image_mask_key, round_mask, p.inpainting_mask_weight, latent_hw)
        conditioning, masked_image = run(
            "conditioning",
            ckey,
            lambda: inpainting_conditioning(batch() * 2 - 1, latent_hw, cond_mask, p.inpainting_mask_weight, lambda x: _encode_checked(vae, x)),
        )

    # §1/§11 the sampler's start: the batch's ImageRNG (variation seed, seed resize) on top of
    # the init latent, by the sampler's own rule
    shape = tuple(init_latent.shape[1:])
    variation = (tuple(subseeds), p.subseed_strength) if p.subseed_strength != 0 else None
    resize = (p.seed_resize_from_h, p.seed_resize_from_w) if p.seed_resize_from_h > 0 and p.seed_resize_from_w > 0 else None
    start_noise = run(
        "noise",
        (noise_key, tuple(seeds), shape, variation, resize),
        lambda: image_rng_first(
            shape, seeds, subseeds, p.subseed_strength, p.seed_resize_from_h, p.seed_resize_from_w, p.randn_source
        ),
    )
    try:
        plan = plan_img2img(p.sampler_name, p.steps, p.denoising_strength, p.img2img_fix_steps)
        start = run(
            "sampler_start",
            None,
            lambda: start_latent(init_latent, start_noise, plan, p.initial_noise_multiplier, p.img2img_extra_noise),
        )
    except ValueError as e:
        raise InitError(str(e)) from e

    soft = None
    if p.soft_inpainting and msk is not None:
        result_latent, source = None, SIMULATED
        if result_image is not None:
            result_latent, source = _encode_result(result_image, p, crop_region, vae, vae_id, run), UPLOADED
        soft = run(
            "soft_inpainting",
            None,
            lambda: soft_preview(
                p, plan, nmsk, init_latent[0], start_noise[0], overlay_bases[0] if overlay_bases else None, paste_to, result_latent, source
            ),
        )
        notes += soft.notes

    decoded = decoded_init = decoded_approx = decoded_start = decoded_soft = None
    if decode:

        def _decode(z: torch.Tensor, backend) -> Image.Image:
            key = None if _vae_identity(backend) is None else (_vae_identity(backend), tensor_digest(z))
            if hasattr(backend, "decode_image"):
                return run("decode", key, lambda: backend.decode_image(z))
            return run("decode", key, lambda: _tensor_to_pil(backend.decode(z)[0]))

        decoded = _decode(encoded[:1], vae)
        decoded_init = decoded if init_latent is encoded else _decode(init_latent[:1], vae)
        decoded_start = _decode(start[:1], vae)
        if soft is not None:
            decoded_soft = _decode(soft.result_latent[None].to(device=device, dtype=dtype), vae)
        approx = CheapApproxVAE("sdxl" if abs(getattr(vae, "scaling_factor", 0) - 0.13025) < 1e-6 else "sd1")
        decoded_approx = decoded_init if isinstance(vae, CheapApproxVAE) else approx.decode_image(init_latent[:1].float().cpu())

    return InitResult(
        params=p,
        init_latent=init_latent,
        encoded_latent=encoded,
        mask=msk,
        nmask=nmsk,
        image_conditioning=conditioning,
        overlay_images=overlays,
        mask_for_overlay=mask_for_overlay,
        paste_to=paste_to,
        color_corrections=corrections if p.color_correction else None,
        binary_mask=binary,
        blurred_mask=blurred,
        crop_region=crop_region,
        crop_region_unexpanded=crop_unexpanded,
        image_mask=image_mask,
        processed_images=processed,
        filled_images=filled[: len(images)],
        latent_mask_image=small_mask,
        latent_noise=noise,
        conditioning_mask=cond_mask,
        conditioning_masked_image=masked_image,
        decoded_latent=decoded,
        decoded_init_latent=decoded_init,
        decoded_init_latent_approx=decoded_approx,
        sampler_plan=plan,
        start_latent=start,
        start_noise=start_noise,
        decoded_start_latent=decoded_start,
        soft=soft,
        decoded_soft_result=decoded_soft,
        seeds=seeds,
        subseeds=subseeds,
        noise_source=describe_source(p.randn_source),
        batch_size=batch_size,
        inpaint_full_res=full_res,
        vae_name=getattr(vae, "name", type(vae).__name__),
        timings=run.timings,
        cached_stages=run.cached,
        notes=notes,
    )


def _job_seeds(p: InitParams, seeds, batch_size: int, notes: list[str]) -> tuple[list[int], list[int]]:
    """(all_seeds, all_subseeds) of the first batch, as the webui derives them (§11): -1 picks a
    random seed once per job; the batch counts up from the seed, except that with a variation
    strength every image keeps the seed itself; subseeds always count up."""
    if seeds is None:
        base = int(p.seed)
        if base == -1:
            base = random.randrange(4294967294)
            notes.append(f"Seed -1: picked {base} at random (the webui does the same).")
        seeds = [base] * batch_size if p.subseed_strength != 0 else [base + i for i in range(batch_size)]
    try:
        seeds = [int(s) for s in seeds][:batch_size]
    except (TypeError, ValueError) as e:
        raise InitError(f"seeds must be whole numbers ({e})") from e
    if len(seeds) < batch_size:
        raise InitError(f"{len(seeds)} seeds given for a batch of {batch_size}")
    sub = int(p.subseed)
    if sub == -1:
        sub = random.randrange(4294967294)
        if p.subseed_strength != 0:
            notes.append(f"Variation seed -1: picked {sub} at random (the webui does the same).")
    subseeds = [sub + i for i in range(batch_size)]
    # The batch counts up from the seeds: the last ones can leave what torch accepts.
    if not all(map(seed_in_range, seeds + subseeds)):
        raise InitError("a seed of the batch is outside what torch.manual_seed accepts (-2^63 … 2^64-1); the webui fails on it too")
    return seeds, subseeds


def resize_image(mode: int, image: Image.Image, width: int, height: int) -> Image.Image:
    """:func:`inpaint_init.resize.resize_image`, its refusals as InitError."""
    try:
        return _resize_image(mode, image, width, height)
    except ValueError as e:
        raise InitError(str(e)) from e


def _encode_result(result_image, p: InitParams, crop_region, vae, vae_id, run) -> torch.Tensor:
    """The latent of a result image, brought to the processing size as the init image is."""
    image = flatten(_as_pil(result_image, "result image"), p.background_color)
    if crop_region is not None:
        image = resize_image(ResizeMode.RESIZE_AND_FILL, image.crop(crop_region), p.width, p.height)
    elif p.resize_mode != ResizeMode.LATENT_UPSCALE:
        image = resize_image(p.resize_mode, image, p.width, p.height)
    key = None if vae_id is None else (vae_id, "result", image_digest(image), p.width, p.height)
    device = getattr(vae, "device", torch.device("cpu"))
    x = torch.from_numpy(_to_batch_array(image))[None].to(device=device, dtype=getattr(vae, "dtype", torch.float32))
    z = run("encode", key, lambda: _encode_checked(vae, x * 2 - 1))
    if p.resize_mode == ResizeMode.LATENT_UPSCALE and crop_region is None:
        z = interpolate_latent(z, p.height, p.width)
    if tuple(z.shape[-2:]) != (p.height // 8, p.width // 8):
        raise InitError(f"the result image's latent is {z.shape[-1]}×{z.shape[-2]}, not {p.width // 8}×{p.height // 8}")
    return z[0]


def _crop_region(blurred: Image.Image, p: InitParams):
    """(padded box, expanded box) or (None, None) for a blank mask."""
    box = get_crop_region(np.asarray(blurred), p.inpaint_full_res_padding)
    if box is None:
        return None, None
    return box, expand_crop_region(box, p.width, p.height, blurred.width, blurred.height)


def _encode_checked(vae, x: torch.Tensor) -> torch.Tensor:
    z = vae.encode(x)
    if not torch.isfinite(z).all():
        raise InitError(f"the VAE ({getattr(vae, 'name', type(vae).__name__)}) produced NaN or infinite latents")
    return z


def _fill_size_message(p: InitParams, image: Image.Image, mask: Image.Image) -> str:
    if p.resize_mode == ResizeMode.LATENT_UPSCALE and not p.inpaint_full_res:
        return (
            f"Masked content '{['fill', 'original', 'latent noise', 'latent nothing'][p.inpainting_fill]}' with resize "
            f"mode 3 (latent upscale) in whole-picture mode: the image stays {image.width}×{image.height} while the mask "
            f"is resized to {mask.width}×{mask.height}, so the webui's fill fails on this input. Use Masked content "
            "'original', another resize mode, or an image of the processing size."
        )
    return f"the latent mask is {mask.width}×{mask.height} but the image to fill is {image.width}×{image.height}"

"""``run_init``: the webui's img2img/inpaint initialisation, every stage, one result object.

``run_init`` is the list of stages in the order of ``reference-init.md`` (its § numbers in the
comments). Each stage is a function in its stage module whose parameter names say what it reads
(:func:`inpaint_init.cache.stage`); the runner keys each from exactly those values, so with a
:class:`~inpaint_init.cache.StageCache` a change of one control recomputes only the stages that
read it, directly or through an earlier stage's output - in particular the VAE runs again only
when the pixels it would encode changed. ``docs/architecture.md`` has the map.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from .cache import StageCache, StageRunner
from .color import color_stage
from .conditioning import conditioning_stage
from .crop import crop_stage
from .encode import approx_decode_stage, decode_stage, encode_stage, per_batch, result_latent_stage
from .encode import tensor_to_pil as _tensor_to_pil  # noqa: F401  (the name older code and tests use)
from .errors import InitError
from .flavour import JobRules, conditioning_backend, conditioning_mask_rounds, job_rules
from .fill import check_fill_sizes, fill_stage
from .images import crop_images_stage, flat_images_stage, whole_images_stage
from .latent import latent_fill_stage, latent_mask_stage, latent_masks_stage, latent_noise_stage
from .masks import binary_mask_stage, blur_stage, to_mask_image
from .noise import cuda_available, describe_source, job_seeds, start_noise_stage
from .overlay import overlay_stage
from .params import MAX_BLUR, MAX_PIXELS, MAX_SIDE, InitParams
from .resize import ResizeMode, crop_mask_stage, whole_mask_stage
from .result import InitResult
from .sampler import sampler_plan_stage, sampler_start_stage
from .soft_inpainting import SIMULATED, UPLOADED, soft_stage
from .vae import CheapApproxVAE

__all__ = ["InitError", "InitParams", "InitResult", "run_init", "STAGES", "BLANK_MASK_NOTE", "MAX_PIXELS", "MAX_SIDE", "MAX_BLUR"]

#: Stage groups, in order, as used in ``InitResult.timings`` (each stage declares its group).
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

ProgressFn = Callable[[float, str], None]

#: The values run_init itself puts into the stages' environment besides the parameters and the
#: stages' outputs, with what each is made from - or, for a stage output, which parameters choose
#: the stage that makes it. (tests/test_stage_keys.py checks this list: a stage that reruns after
#: a change it does not depend on by this list fails it.)
DERIVED = {
    "round_mask": ("mask_round", "soft_inpainting"),
    "batch_size": ("batch_size", "init_images"),
    "inpaint_full_res": ("inpaint_full_res", "crop_region"),
    "image_mask": ("inpaint_full_res",),
    "overlay_mask": ("blurred_mask", "inpaint_full_res"),
    "base_images": ("inpaint_full_res", "resize_mode"),
    "processed_images": ("base_images", "inpaint_full_res"),
    "latent_mask_source": ("image_mask", "latent_mask"),
    "filled_images": ("processed_images", "inpainting_fill"),
    "noise_seeds": ("seed", "subseed_strength", "batch_size"),
    "subseeds": ("subseed", "batch_size"),
    "latent_size": ("encoded_latent",),
    "latent_channels": ("encoded_latent",),
    "latent_shape": ("encoded_latent",),
    "randn_source": ("forge_try_reproduce", "flavour"),  # the source in effect
    "noise_device": ("randn_source", "forge_try_reproduce"),
    "init_latent": ("encoded_latent", "inpainting_fill"),
    "conditioning_round": ("mask_round", "soft_inpainting", "model_kind", "flavour"),
    "soft_result_source": ("result_image",),
    "latent": ("encoded_latent", "init_latent", "start_latent", "soft"),  # what each decode is given
    "family": ("vae",),
    "flow_model": ("vae",),
    "conditioning_vae": ("vae", "inpainting_fill", "seed", "randn_source", "flavour"),
}


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

    ``init_images``: one PIL image or a list (at most ``params.batch_size``; RGBA is flattened
    onto ``params.background_color``). ``mask``: as the webui receives it (RGBA alpha, or grey;
    255 = repaint), or None. ``vae``: a backend of the :mod:`inpaint_init.vae` protocol (default:
    the weightless :class:`~inpaint_init.vae.CheapApproxVAE`). ``seeds``: per-image seeds
    (default: the webui's ``seed + i``; -1 picks one, said in ``notes``). ``cache``: a
    :class:`StageCache` reused between calls. ``progress(fraction, stage)``: called before each
    stage that runs. ``decode``: also decode the latents for the views. ``result_image``: soft
    inpainting's result to rebuild its overlay from (default: simulated). Raises InitError.
    """
    (params or InitParams()).validate()
    run, vae = StageRunner(cache, progress, STAGES), vae if vae is not None else _default_vae()
    p, rules = job_rules(params or InitParams(), vae)  # the program's rules for this job (flavour.py)
    images, mask_image = read_inputs(init_images, mask, p)
    run.bind(**{f.name: getattr(p, f.name) for f in fields(p)}, params=p, init_images=images, mask_image=mask_image, vae=vae)
    run.bind(**_as_init_runs_them(p, rules, images))
    if mask_image is not None:  # §2 binary mask, invert, blur
        run(binary_mask_stage)
        run(blur_stage)
    # §3 "Only masked": the crop box. A blank mask is dropped and Only masked turned off.
    blank = bool(p.inpaint_full_res and mask_image is not None and run(crop_stage)[1] is None)
    masked = mask_image is not None and not blank
    full_res = bool(masked and p.inpaint_full_res)
    run.bind(inpaint_full_res=full_res)
    if full_res:  # §3 the crop of the mask; its overlay mask is the blurred mask itself
        run(crop_mask_stage)
        run.alias("overlay_mask", "blurred_mask")
    elif masked:  # §4 the whole mask at processing size
        run(whole_mask_stage)
    # §4/§5 the images, the overlay, the crop of the images
    run(whole_images_stage if not full_res and p.resize_mode != ResizeMode.LATENT_UPSCALE else flat_images_stage)
    if masked:
        run(overlay_stage)
    run(crop_images_stage) if full_res else run.alias("processed_images", "base_images")
    run.alias("latent_mask_source", "image_mask") if p.latent_mask is None or not masked else run.bind(latent_mask_source=p.latent_mask)
    # §6 masked-content fill, §7 colour-correction target
    if masked and p.inpainting_fill != 1:
        check_fill_sizes(run.get("processed_images"), run.get("latent_mask_source"), p.inpainting_fill, p.resize_mode, full_res)
        run(fill_stage)
    else:
        run.alias("filled_images", "processed_images")
    if p.color_correction:
        run(color_stage)
    encoded = run(encode_stage)  # §8
    seeds, subseeds, seed_notes = job_seeds(p.seed, p.subseed, p.subseed_strength, run.get("batch_size"), seeds)
    run.bind(noise_seeds=seeds, subseeds=subseeds, latent_size=tuple(encoded.shape[-2:]), latent_channels=encoded.shape[1])
    run.bind(latent_shape=tuple(encoded.shape[1:]), noise_device=cuda_available() if rules.randn_source == "GPU" else None)
    if masked:  # §9 latent mask and latent fills
        run(latent_mask_stage)
        run(latent_masks_stage)
        if p.inpainting_fill == 2:
            run(latent_noise_stage)
        run(latent_fill_stage)
    else:
        run.alias("init_latent", "encoded_latent")
    # §10 conditioning: its mask's rounding and its posterior's seed by the program's rules
    run.bind(conditioning_round=conditioning_mask_rounds(rules.flavour, p.model_kind, p.effective_mask_round))
    run.bind(conditioning_vae=conditioning_backend(rules, vae, p.inpainting_fill if masked else 1, seeds))
    run(conditioning_stage)
    for sampler_stage in (start_noise_stage, sampler_plan_stage, sampler_start_stage):  # §11 the sampler's start
        run(sampler_stage)
    soft_notes = _soft_preview(run, p, result_image) if p.soft_inpainting and masked else []
    if decode:
        _decode_views(run, vae)
    notes = list(rules.notes) + _notes(p, images, mask_image, blank, full_res) + seed_notes + soft_notes
    return _result(run, p, vae, rules, full_res if mask_image is not None else p.inpaint_full_res, notes)


def _result(run: StageRunner, p: InitParams, vae, rules: JobRules, full_res: bool, notes: list[str]) -> InitResult:
    """The result: every field the environment holds under its name, plus the job's facts."""
    out = {f.name: run.get(f.name) for f in fields(InitResult)}
    batch = out["batch_size"]
    out.update(
        params=p, noise_source=describe_source(rules.randn_source), inpaint_full_res=full_res, flavour=rules.flavour.name,
        differences=list(rules.differences),
        seeds=list(run.get("noise_seeds")), overlay_images=per_batch(run.get("overlay_images", []), batch),
        color_corrections=per_batch(out["color_corrections"], batch) if p.color_correction else None,
        vae_name=getattr(vae, "name", type(vae).__name__), timings=run.timings, cached_stages=run.cached, notes=notes,
        calls=run.calls, init_image_size=run.get("init_images")[0].size, mask_input=run.get("mask_image"),
    )  # fmt: skip
    return InitResult(**out)


def _as_init_runs_them(p: InitParams, rules: JobRules, images: list) -> dict:
    """Values init runs with that are not the parameters as given: soft inpainting turns mask
    rounding off, one image stands for the whole batch, the program's noise source and latent
    family; and the outputs that stay None unless a stage makes them."""
    return dict(
        round_mask=p.effective_mask_round, batch_size=p.batch_size if len(images) == 1 else len(images),
        randn_source=rules.randn_source, flow_model=rules.flow, family=rules.family,
        crop_region=None, crop_region_unexpanded=None, paste_to=None, image_mask=None, latent_noise=None,
    )  # fmt: skip


def read_inputs(init_images, mask, p: InitParams) -> tuple[list[Image.Image], Image.Image | None]:
    """The init images as a list of decoded PIL images and the mask as a PIL image (or None);
    InitError for anything else, or for more images than the batch holds."""
    images = [init_images] if isinstance(init_images, (Image.Image, np.ndarray)) else list(init_images)
    if not images:
        raise InitError("no init image given")
    images = [_as_pil(im, f"init image {i + 1}") for i, im in enumerate(images)]
    if len(images) > p.batch_size:
        raise InitError(f"bad number of images passed: {len(images)}; expecting {p.batch_size} or less (batch size)")
    return images, None if mask is None else _as_pil(mask, "mask")


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


def _soft_preview(run: StageRunner, p: InitParams, result_image) -> list[str]:
    """Soft inpainting's preview (from a given result image, else a simulated one); its notes."""
    run.bind(soft_result_latent=None, soft_result_source=SIMULATED)
    if result_image is not None:
        run.bind(result_image=_as_pil(result_image, "result image"), soft_result_source=UPLOADED)
        run(result_latent_stage)
    return list(run(soft_stage).notes)


def _decode_views(run: StageRunner, vae) -> None:
    """The pictures of the latents for the views: the encoded latent, the init latent after the
    latent fill, the sampler's start, the soft preview's result; and the weightless decode."""
    encoded, init_latent = run.get("encoded_latent"), run.get("init_latent")
    decoded = run(decode_stage, latent=encoded[:1])
    run.bind(decoded_latent=decoded)
    run.bind(decoded_init_latent=decoded if init_latent is encoded else run(decode_stage, latent=init_latent[:1]))
    if run.get("start_latent") is not None:  # None: a flow model's start, not modelled
        run.bind(decoded_start_latent=run(decode_stage, latent=run.get("start_latent")[:1]))
    if run.get("soft") is not None:
        z = run.get("soft").result_latent[None].to(device=encoded.device, dtype=encoded.dtype)
        run.bind(decoded_soft_result=run(decode_stage, latent=z))
    if isinstance(vae, CheapApproxVAE):
        run.alias("decoded_init_latent_approx", "decoded_init_latent")
    else:
        run.bind(decoded_init_latent_approx=run(approx_decode_stage, latent=init_latent[:1]))


def _notes(p: InitParams, images: list[Image.Image], mask_image, blank: bool, full_res: bool) -> list[str]:
    """What the user should know about these inputs (not about what will go wrong: findings)."""
    notes = []
    if p.soft_inpainting and mask_image is not None:
        notes.append(
            "Soft inpainting is on: mask rounding is off, so a painted alpha is not thresholded here and the latent mask "
            "keeps the bicubic values k/255 (fp16 on a usual GPU run). Blur, fill, padding and area are as set."
        )
    if mask_image is not None and mask_image.size != images[0].size:
        notes.append(
            f"The mask is {mask_image.width}×{mask_image.height} but the image is "
            f"{images[0].width}×{images[0].height}. The webui does not check this: in whole-picture mode both are "
            "resized to the processing size independently; in Only masked mode the crop box is measured on the "
            "mask and applied to the image as is."
        )
    if blank:
        notes.append(BLANK_MASK_NOTE)
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
    return notes


_DEFAULT_VAE: CheapApproxVAE | None = None


def _default_vae() -> CheapApproxVAE:
    global _DEFAULT_VAE
    if _DEFAULT_VAE is None:
        _DEFAULT_VAE = CheapApproxVAE()
    return _DEFAULT_VAE

"""Soft inpainting (the webui's built-in extension, 1.8+), per ``soft-inpainting.md``.

Before sampling it only turns ``mask_round`` off (§1): the pipeline does that. Everything else
acts during and after sampling, so what a debugger can show before it (§4) is computed here
from init's outputs and the sampler's schedule:

- :func:`denoiser_sigmas`: the σ (or, for timesteps samplers, the timestep) of every denoiser
  call of the img2img run;
- :func:`blend_weight`: ``w = nmask ^ (σ^P · K)``, the share of the sampled latent each call keeps;
- :func:`soft_blend`: the norm-preserving blend that replaces ``current·nmask + init·(1 − nmask)``;
- :func:`mask_scalar`, :func:`weighted_histogram_filter`, :func:`difference_to_mask` and
  :func:`overlay_mask`: how the final overlay is rebuilt from where a result differs from the
  original (§3), exact given the sampler's output latent.

Names follow the extension: P = ``mask_blend_power`` (Schedule bias), K = ``mask_blend_scale``
(Preservation strength), D = ``inpaint_detail_preservation`` (Transition contrast boost),
I = ``composite_mask_influence``, T = ``composite_difference_threshold``, C =
``composite_difference_contrast``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

from .cache import stage
from .resize import ResizeMode, resize_image
from .sampler import TIMESTEP_SAMPLERS, SamplerPlan, img2img_timestep

__all__ = [
    "SOFT_PARAMS",
    "SoftParam",
    "denoiser_sigmas",
    "blend_weight",
    "soft_blend",
    "mask_scalar",
    "KERNEL",
    "weighted_histogram_filter",
    "difference_to_mask",
    "latent_difference",
    "overlay_mask",
]


@dataclass(frozen=True)
class SoftParam:
    name: str  # the extension's internal name = our InitParams field
    label: str  # the webui's slider label
    infotext: str  # the infotext key
    default: float
    minimum: float
    maximum: float
    step: float


#: The six sliders, in the order of the API's ``alwayson_scripts`` args (after "enabled").
SOFT_PARAMS: tuple[SoftParam, ...] = (
    SoftParam("mask_blend_power", "Schedule bias", "Soft inpainting schedule bias", 1.0, 0, 8, 0.1),
    SoftParam("mask_blend_scale", "Preservation strength", "Soft inpainting preservation strength", 0.5, 0, 8, 0.05),
    SoftParam("inpaint_detail_preservation", "Transition contrast boost", "Soft inpainting transition contrast boost", 4.0, 1, 32, 0.5),
    SoftParam("composite_mask_influence", "Mask influence", "Soft inpainting mask influence", 0.0, 0, 1, 0.05),
    SoftParam("composite_difference_threshold", "Difference threshold", "Soft inpainting difference threshold", 0.5, 0, 8, 0.25),
    SoftParam("composite_difference_contrast", "Difference contrast", "Soft inpainting difference contrast", 2.0, 0, 8, 0.25),
)


def denoiser_sigmas(plan: SamplerPlan) -> np.ndarray:
    """The "σ" each denoiser call of the img2img run sees, first call first (§2).

    k-diffusion samplers with one call per step (all of :data:`~inpaint_init.sampler.SAMPLERS`
    but DDIM) call at ``sigma_sched[0 … t_enc]`` and never at the final 0. DDIM passes the
    integer timestep instead: ``timesteps[:t_enc]`` from the top down, without index 0
    (20 steps at 0.75: 701, 651, … 51).

    >>> from inpaint_init.sampler import plan_img2img
    >>> denoiser_sigmas(plan_img2img("DDIM", 20, 0.75))[[0, 1, -1]].tolist()
    [701.0, 651.0, 51.0]
    """
    if plan.sampler in TIMESTEP_SAMPLERS:
        return np.array([img2img_timestep(plan.schedule_steps, i) for i in range(plan.t_enc - 1, 0, -1)], dtype=np.float64)
    return np.asarray(plan.sigmas[plan.start_index : -1], dtype=np.float64)


def blend_weight(nmask: torch.Tensor, sigma: float, power: float, scale: float) -> torch.Tensor:
    """``w = nmask ^ (σ^P · K)`` in ``nmask``'s dtype: 1 = the sampled latent is kept, 0 = reset
    to the original. ``0^0 = 1``, so with K = 0 nothing is preserved.

    On fp16 an exponent past 65504 saturates to inf: w is then 0 wherever nmask < 1 and 1
    where it is 1, as in the extension (high Schedule bias, DDIM's timesteps), never an error.

    >>> blend_weight(torch.tensor([0.0, 0.25, 1.0]), 1.0, 1.0, 0.5).tolist()
    [0.0, 0.5, 1.0]
    >>> blend_weight(torch.tensor([0.0, 0.5, 0.999, 1.0]).half(), 701.0, 8.0, 8.0).tolist()
    [0.0, 0.0, 0.0, 1.0]
    """
    # σ is a 0-d float32 tensor in the webui; σ^P·K stays one, and torch.pow casts a 0-d
    # exponent to nmask's dtype (fp16: inf past 65504). A Python float exponent would instead
    # be range-checked against fp16 and raise "cannot be converted to type c10::Half".
    exponent = torch.tensor(float(sigma), dtype=torch.float32) ** float(power) * float(scale)
    return torch.pow(nmask, exponent)


def soft_blend(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, contrast_boost: float) -> torch.Tensor:
    """The blend that replaces ``b·t + a·(1 − t)`` (§2): the plain lerp, rescaled at each latent
    pixel so its length follows ``((|a|^D)(1 − t0) + (|b|^D) t0)^(1/D)`` instead of shrinking.

    ``a`` (the original), ``b`` (the current latent): B×C×h×w or C×h×w; ``t``: the weight map,
    same shape (channel 0 is used for the length), D = ``contrast_boost``.

    >>> a = torch.tensor([1.0, 0, 0, 0]).view(4, 1, 1); b = torch.tensor([0, 1.0, 0, 0]).view(4, 1, 1)
    >>> [round(v, 5) for v in soft_blend(a, b, torch.full((4, 1, 1), 0.5), 4).flatten().tolist()[:2]]
    [0.7071, 0.7071]
    """
    axis = -3
    lerp = a * (1 - t) + b * t
    # Norms in the tensors' dtype, the rest in float64 (float32 on mps/xpu, not modelled).
    norm_l = torch.linalg.vector_norm(lerp, dim=axis, keepdim=True).double()
    norm_a = torch.linalg.vector_norm(a, dim=axis, keepdim=True).double()
    norm_b = torch.linalg.vector_norm(b, dim=axis, keepdim=True).double()
    t0 = t.narrow(axis, 0, 1).double()
    d = float(contrast_boost)
    target = (norm_a**d * (1 - t0) + norm_b**d * t0) ** (1 / d)
    return lerp * (target / (norm_l + 1e-5)).to(lerp.dtype)


def mask_scalar(nmask0: np.ndarray, scale: float, influence: float) -> np.ndarray:
    """§3.1: ``s = 1 − clamp(m)^(K/2)``, mixed with 0.5 by the mask influence I, then
    ``s / (1.00001 − s)``; float32, latent size. With I = 0 it is 0.99998 everywhere.

    >>> float(mask_scalar(np.array([[0.3]], np.float32), 0.5, 0.0)[0, 0])
    0.9999799728393555
    """
    m = np.clip(np.asarray(nmask0, np.float32), 0, 1)
    s = np.float32(1) - m ** np.float32(scale / 2)
    s = np.float32(0.5) * np.float32(1 - influence) + s * np.float32(influence)
    return (s / (np.float32(1.00001) - s)).astype(np.float32)


def latent_difference(z: torch.Tensor, z0: torch.Tensor) -> np.ndarray:
    """§3.2: ``‖z − z0‖₂`` over the channels, float32, h×w (z, z0: C×h×w)."""
    return torch.linalg.vector_norm((z.float() - z0.float()).cpu(), dim=0).numpy().astype(np.float32)


def _kernel() -> np.ndarray:
    d = np.arange(-2, 3, dtype=np.float64)
    r2 = d[:, None] ** 2 + d[None, :] ** 2
    return np.maximum(0.0, (np.exp(-r2 / 2.25) - np.exp(-4.0)) / (1 - np.exp(-4.0)))


#: The 5×5 weights of the percentile filters (§3.3): centre 1, (0, 1) 0.634486, (2, 2) 0.010441.
KERNEL = _kernel()


def weighted_histogram_filter(values: np.ndarray, pmin: float, pmax: float) -> np.ndarray:
    """§3.3: at each pixel, the mean of the 5×5 neighbourhood's values (in bounds only, weighted
    by :data:`KERNEL`) that fall in the weighted percentile window ``[S·pmin, S·pmax]`` of the
    sorted values, the window widened to 1 around its centre and kept inside ``[0, S]``.

    Vectorised over pixels; ``tests/test_soft_inpainting.py`` proves it equal to a per-pixel
    loop written from the spec. ``values``: h×w; float64 inside, float32 out.
    """
    v = np.asarray(values, np.float64)
    h, w = v.shape
    padded = np.pad(v, 2)
    valid = np.pad(np.ones((h, w), bool), 2)
    vals = np.empty((h, w, 25))
    wts = np.empty((h, w, 25))
    k = 0
    for dy in range(5):
        for dx in range(5):
            vals[..., k] = padded[dy : dy + h, dx : dx + w]
            wts[..., k] = valid[dy : dy + h, dx : dx + w] * KERNEL[dy, dx]
            k += 1
    # Out-of-bounds neighbours have weight 0: a zero-length interval wherever they sort to.
    order = np.argsort(vals, axis=-1, kind="stable")
    vals = np.take_along_axis(vals, order, -1)
    wts = np.take_along_axis(wts, order, -1)
    end = np.cumsum(wts, axis=-1)
    start = end - wts
    total = end[..., -1:]
    lo, hi = total * pmin, total * pmax
    narrow = (hi - lo) < 1
    centre = (lo + hi) / 2
    lo = np.where(narrow, centre - 0.5, lo)
    hi = np.where(narrow, centre + 0.5, hi)
    past = narrow & (hi > total)
    lo, hi = np.where(past, total - 1, lo), np.where(past, total, hi)
    below = narrow & (lo < 0)
    lo, hi = np.where(below, 0.0, lo), np.where(below, 1.0, hi)
    overlap = np.clip(np.minimum(hi, end) - np.maximum(lo, start), 0, None)
    weight = overlap.sum(-1)
    mean = np.divide((vals * overlap).sum(-1), weight, out=np.zeros((h, w)), where=weight > 0)
    return mean.astype(np.float32)


def difference_to_mask(filtered: np.ndarray, half: np.ndarray, contrast: float) -> np.ndarray:
    """§3.4: filtered distance f and half-opacity distance h → overlay value, uint8 (255 = take
    the generated pixel, 0 = keep the original). ``x = f/h``, ``1/(1 + x^C)``, smootherstep,
    ``uint8(255·(1 − x))`` truncated; float32 throughout.

    >>> difference_to_mask(np.array([0, 0.5, 1, 2, 4], np.float32), np.ones(5, np.float32), 2).tolist()
    [0, 14, 127, 240, 254]
    """
    f = np.asarray(filtered, np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = f / np.asarray(half, np.float32)
        x = np.float32(1) / (np.float32(1) + x ** np.float32(contrast))
        x = x * x * x * (x * (np.float32(6) * x - np.float32(15)) + np.float32(10))
        out = np.float32(255) * (np.float32(1) - x)
    # h = 0 and f = 0 gives 0/0: NaN, whose uint8 cast is undefined in C; x86 gives 0, so
    # "keep the original" (spec: unverified). Pinned in the tests.
    return np.nan_to_num(out, nan=0.0).astype(np.uint8)


def overlay_mask(
    z: torch.Tensor,
    z0: torch.Tensor,
    nmask0: np.ndarray,
    width: int,
    height: int,
    *,
    scale: float,
    influence: float,
    threshold: float,
    contrast: float,
    paste_to: tuple[int, int, int, int] | None = None,
    original_size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, Image.Image]:
    """§3: the overlay mask soft inpainting builds from a result latent ``z`` (C×h×w).

    Returns ``(d, f, mask)``: the latent distance, its filtered version (both h×w float32) and
    the pixel mask (L; W×H in whole-picture mode, un-cropped to ``original_size`` at
    ``paste_to`` in Only masked mode, 0 outside the crop).
    """
    s = mask_scalar(nmask0, scale, influence)
    d = latent_difference(z, z0)
    f = weighted_histogram_filter(weighted_histogram_filter(d, 0.9, 1.0), 0.25, 0.75)
    small = Image.fromarray(difference_to_mask(f, np.float32(threshold) * s, contrast), "L")
    mask = resize_image(ResizeMode.RESIZE_AND_FILL, small, width, height).convert("L")
    mask = mask.filter(ImageFilter.GaussianBlur(4))
    if paste_to is not None:
        x, y, w, h = paste_to
        canvas = Image.new("RGBA", original_size)
        canvas.paste(resize_image(ResizeMode.CROP_AND_RESIZE, mask, w, h), (x, y))
        mask = canvas.convert("L")
    return d, f, mask


#: Where the preview's stand-in result comes from.
SIMULATED = "simulated"
UNCHANGED = "init latent"
UPLOADED = "result image"

#: Which run a preview mirrors, by the dtype its nmask is stored in (§1: the model's dtype).
RUN_FP16 = "nmask in fp16, as on a usual GPU run"
RUN_FP32 = "nmask in float32, as on CPU or with --no-half"


@dataclass
class SoftPreview:
    """What soft inpainting would do with this init, for one image of the batch (§4).

    ``weights``: calls×h×w blend weights w, in the dtype of the run shown (fp16 on a usual GPU
    run: nmask is stored in the model's dtype); ``sigmas``: the σ (or DDIM timestep) of each
    call. ``result_latent`` is the stand-in for the sampler's output that the overlay is rebuilt
    from: see :func:`simulated_result`. ``nmask0``: h×w float32, channel 0 of that same nmask,
    which the overlay chain (mask scalar … overlay) is built from, as the run builds it.
    ``failure``: why no overlay is shown where the webui's own overlay step fails, else None.
    """

    sigmas: np.ndarray
    timestep_sampler: bool
    weights: torch.Tensor
    mask_scalar: np.ndarray
    half_distance: np.ndarray  # h = T·s per latent pixel
    result_source: str
    result_latent: torch.Tensor
    distance: np.ndarray
    filtered: np.ndarray
    overlay_mask: Image.Image | None  # None where the webui's paste fails (see failure, notes)
    overlay: Image.Image | None
    notes: list[str]
    nmask0: np.ndarray | None = None
    run: str = RUN_FP16
    failure: str | None = None


def simulated_result(init_latent: torch.Tensor, noise: torch.Tensor, weight: torch.Tensor, contrast_boost: float) -> torch.Tensor:
    """A stand-in for the sampler's output, for the overlay preview: the original plus one unit
    of the job's noise, blended with :func:`soft_blend` at the last call's weight (kept in its
    own dtype, fp16 on a usual GPU run, as the extension's blend gets it). Where the last call
    resets the latent to the original (w = 0) it equals the original, as a real result does;
    elsewhere it differs by about the noise's length (~2 per latent pixel)."""
    return soft_blend(init_latent, init_latent + noise.to(init_latent), weight.to(init_latent.device), contrast_boost)


def _paste_failure(p, overlay_size: tuple[int, int], mask_size: tuple[int, int]) -> str:
    where = "whole picture with resize mode 3 (latent upscale)" if int(p.resize_mode) == 3 else "the sizes differ"
    return (
        f"Soft inpainting fails in the webui here: its post_sample pastes the original-size overlay image "
        f"({overlay_size[0]}×{overlay_size[1]}) through a {mask_size[0]}×{mask_size[1]} mask ({where}), and PIL raises "
        "\"images do not match\", so the job errors after sampling. No soft overlay is shown."
    )


def soft_preview(
    p,
    plan: SamplerPlan,
    nmask: torch.Tensor,
    init_latent: torch.Tensor,
    noise: torch.Tensor,
    overlay_base: Image.Image | None,
    paste_to: tuple[int, int, int, int] | None,
    result_latent: torch.Tensor | None = None,
    result_source: str = SIMULATED,
    *,
    half: bool = True,
) -> SoftPreview:
    """The preview for init's outputs: ``p`` an :class:`~inpaint_init.pipeline.InitParams`,
    ``nmask``/``init_latent``/``noise`` C×h×w for one image, ``overlay_base`` the image the
    stock overlay was made from (W×H whole picture, original size Only masked).

    ``half``: mirror a usual GPU run (nmask stored in fp16, the default) or a CPU / ``--no-half``
    one (float32). The weights and the whole overlay chain use that one nmask, as the run does.
    """
    from .overlay import make_overlay

    notes: list[str] = []
    run = RUN_FP16 if half else RUN_FP32
    nmask_run = nmask[0].to(torch.float16 if half else torch.float32)
    sigmas = denoiser_sigmas(plan)
    if len(sigmas):
        weights = torch.stack([blend_weight(nmask_run, s, p.mask_blend_power, p.mask_blend_scale) for s in sigmas])
    else:
        weights = torch.empty((0, *nmask_run.shape), dtype=nmask_run.dtype)
        notes.append("This schedule makes no denoiser call (t_enc ≤ 1 for DDIM): soft inpainting blends nothing.")
    # The overlay's m is the run's nmask upcast to float32: with Mask influence > 0 the fp16
    # rounding of k/255 reaches the mask scalar, h, and so the overlay mask.
    nmask0 = nmask_run.float().cpu().numpy()
    if p.composite_mask_influence > 0:
        notes.append(f"Soft inpainting's overlay with Mask influence {p.composite_mask_influence:g}: built from the {run}.")
    s = mask_scalar(nmask0, p.mask_blend_scale, p.composite_mask_influence)
    if result_latent is None:
        last = weights[-1] if len(weights) else torch.ones_like(nmask_run)
        result_latent = simulated_result(init_latent, noise, last.expand_as(init_latent), p.inpaint_detail_preservation)
        result_source = SIMULATED
    mask = overlay = failure = None
    original = overlay_base.size if overlay_base is not None else None
    d, f, mask_image = overlay_mask(
        result_latent,
        init_latent,
        nmask0,
        p.width,
        p.height,
        scale=p.mask_blend_scale,
        influence=p.composite_mask_influence,
        threshold=p.composite_difference_threshold,
        contrast=p.composite_difference_contrast,
        paste_to=paste_to,
        original_size=original,
    )
    if overlay_base is not None:
        if overlay_base.size == mask_image.size:
            mask, overlay = mask_image, make_overlay(overlay_base, mask_image)
        else:
            # Confirmed against the extension run on this case (issue 23).
            failure = _paste_failure(p, overlay_base.size, mask_image.size)
            notes.append(failure)
    return SoftPreview(
        sigmas=sigmas,
        timestep_sampler=plan.sampler in TIMESTEP_SAMPLERS,
        weights=weights,
        mask_scalar=s,
        half_distance=(np.float32(p.composite_difference_threshold) * s).astype(np.float32),
        result_source=result_source,
        result_latent=result_latent,
        distance=d,
        filtered=f,
        overlay_mask=mask,
        overlay=overlay,
        notes=notes,
        nmask0=nmask0,
        run=run,
        failure=failure,
    )


# ----------------------------------------------------------------------------- stage
@stage("soft_inpainting", returns="soft", cached=False)
def soft_stage(params, sampler_plan, nmask, init_latent, start_noise, base_images, paste_to, soft_result_latent, soft_result_source):
    """The soft-inpainting preview of the first image (it reads its six sliders off ``params``)."""
    return soft_preview(
        params, sampler_plan, nmask, init_latent[0], start_noise[0], base_images[0] if base_images else None, paste_to,
        soft_result_latent, soft_result_source,
    )  # fmt: skip

"""The controls: their names (the webui's), their values as InitParams and the VAE choice, and
which values a refresh renders when requests race."""

from __future__ import annotations

import gradio as gr

from inpaint_init import InitError, InitParams
from inpaint_init.soft_inpainting import SOFT_PARAMS

from .checks import check_values, finite_stamp
from .session import Session
from .state import VAES


CONTROL_NAMES = (
    "mask_blur_x",
    "mask_blur_y",
    "inpainting_mask_invert",
    "inpainting_fill",
    "inpaint_full_res",
    "inpaint_full_res_padding",
    "resize_mode",
    "width",
    "height",
    "mask_round",
    "seed",
    "model_kind",
    "inpainting_mask_weight",
    "color_correction",
    "sampler_name",
    "steps",
    "denoising_strength",
    "img2img_fix_steps",
    "randn_source",
    "subseed",
    "subseed_strength",
    "seed_resize_from_w",
    "seed_resize_from_h",
    "eta_noise_seed_delta",
    "initial_noise_multiplier",
    "img2img_extra_noise",
    "soft_inpainting",
    "mask_blend_power",
    "mask_blend_scale",
    "inpaint_detail_preservation",
    "composite_mask_influence",
    "composite_difference_threshold",
    "composite_difference_contrast",
    "flavour",
    "forge_try_reproduce",
    "vae",
    "vae_posterior",
    "vae_sample_seed",
)


#: The controls an example may set, with the value used when it sets none.
EXAMPLE_SETTINGS = {
    "inpaint_full_res": False,
    "inpaint_full_res_padding": 32,
    "mask_blur_x": 4,
    "mask_blur_y": 4,
    "soft_inpainting": False,
}


def params_from_controls(values: dict) -> InitParams:
    """InitParams from the controls; an emptied or garbled field is an InitError naming it."""
    values, _ = check_values(values)  # a session's values are checked already; a script's here
    for name, value in values.items():
        if value is None or (isinstance(value, float) and value != value):
            raise InitError(f"'{name}' has no value: fill it in (the webui's default is {getattr(InitParams(), name, '–')!r}).")
    try:
        return InitParams(
            width=int(values["width"]),
            height=int(values["height"]),
            mask_blur_x=values["mask_blur_x"],
            mask_blur_y=values["mask_blur_y"],
            inpainting_mask_invert=int(values["inpainting_mask_invert"]),
            inpainting_fill=int(values["inpainting_fill"]),
            inpaint_full_res=bool(values["inpaint_full_res"]),
            inpaint_full_res_padding=int(values["inpaint_full_res_padding"]),
            resize_mode=int(values["resize_mode"]),
            mask_round=bool(values["mask_round"]),
            seed=int(values["seed"]),
            model_kind=values["model_kind"],
            inpainting_mask_weight=float(values["inpainting_mask_weight"]),
            color_correction=bool(values["color_correction"]),
            sampler_name=values["sampler_name"],
            steps=int(values["steps"]),
            denoising_strength=float(values["denoising_strength"]),
            img2img_fix_steps=bool(values["img2img_fix_steps"]),
            randn_source=values["randn_source"],
            subseed=int(values["subseed"]),
            subseed_strength=float(values["subseed_strength"]),
            seed_resize_from_w=int(values["seed_resize_from_w"]),
            seed_resize_from_h=int(values["seed_resize_from_h"]),
            eta_noise_seed_delta=int(values["eta_noise_seed_delta"]),
            initial_noise_multiplier=float(values["initial_noise_multiplier"]),
            img2img_extra_noise=float(values["img2img_extra_noise"]),
            soft_inpainting=bool(values["soft_inpainting"]),
            flavour=values.get("flavour", "webui"),
            forge_try_reproduce=values.get("forge_try_reproduce", "None"),
            **{sp.name: float(values[sp.name]) for sp in SOFT_PARAMS},
        )
    except (TypeError, ValueError) as e:
        raise InitError(f"a control has a value of the wrong kind: {e}") from e


def vae_backend(choice: str, posterior: str, sample_seed):
    """The backend for a dropdown choice, with the posterior setting applied where it exists."""
    backend = VAES.get(choice)
    if backend is None:
        raise InitError(f"unknown VAE choice {choice!r}; load it again")
    if hasattr(backend, "with_posterior"):
        backend = backend.with_posterior(posterior, int(sample_seed))
    return backend


def controls_from_params(params: InitParams) -> list:
    """Control values for ``params`` in CONTROL_NAMES order; the VAE controls stay as they are."""
    return [getattr(params, name) if hasattr(params, name) else gr.skip() for name in CONTROL_NAMES]


def merge_imported(args, imported) -> dict:
    """The controls after an import: imported values where given, the page's elsewhere."""
    skip = type(gr.skip())
    return {name: (arg if isinstance(new, skip) else new) for name, arg, new in zip(CONTROL_NAMES, args, imported)}


def stamp_of(args) -> float | None:
    return finite_stamp(args[len(CONTROL_NAMES)]) if len(args) > len(CONTROL_NAMES) else None


def default_values() -> dict:
    """Each control's value on a fresh page: the webui's defaults, the first VAE."""
    p = InitParams()
    return {n: getattr(p, n) for n in CONTROL_NAMES if hasattr(p, n)} | dict(vae=next(iter(VAES)), vae_posterior="sample", vae_sample_seed=0)


def checked(values: dict, session: Session | None = None, keep_last: bool = True) -> dict:
    """``values`` held to what each control offers (webapp.checks); what was changed is said in
    the session's notes. A value that cannot be used is replaced by the one used last (a page's
    session, ``keep_last``), else it is an InitError."""
    fallback = (session.last_values or default_values()) if session is not None and keep_last else None
    values, notes = check_values(values, fallback)
    if session is not None:
        session.input_notes = notes
    return values


def newest_values(session: Session, args, overrides: dict | None = None) -> dict:
    """The control values a refresh must render: ``args`` are CONTROL_NAMES' values, optionally
    followed by the page's stamp (``performance.now()`` when the browser sent the request,
    added by STAMP_JS); values sent later win, whichever request the server happens to start
    first (Gradio starts queued requests of different listeners in its own order). Every value
    is checked first (:func:`checked`)."""
    values = checked(dict(zip(CONTROL_NAMES, args)) | (overrides or {}), session)
    return session.newest(values, stamp_of(args))

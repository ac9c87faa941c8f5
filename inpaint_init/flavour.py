"""The two programs mirrored: webui v1.10.1 and Forge (commit dfdcbab6), as data plus small rules.

Every rule where the two differ before sampling (forge.md §8, with the UI-side rules of §7) is a
field of :class:`Flavour`; the functions below apply them and never look at the flavour's name.
:data:`FLAVOURS` holds the two records. What the functions take is what the pipeline (or the
tabs layer) has at hand at that stage; they raise :class:`~inpaint_init.pipeline.InitError` with
a sentence naming the parameter where the input is not something that program accepts.

Rules marked (read) in forge.md were read from Forge's code, not executed; their tests here pin
the behaviour as the spec states it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

from PIL import Image, ImageFilter

from .conditioning import MODEL_KINDS
from .noise import RANDN_SOURCES
from .vae import FAMILIES, FAMILY_LABELS, FAMILY_NUMBERS

__all__ = [
    "Flavour",
    "FLAVOURS",
    "FORGE_TRY_REPRODUCE",
    "FLOW_FAMILIES",
    "NoiseSettings",
    "get_flavour",
    "conditioning_mask_rounds",
    "check_family",
    "processing_size",
    "noise_settings",
    "global_seed_after_draw",
    "posterior_seed_after_draws",
    "ui_thresholds_masks",
    "threshold_ui_mask",
    "sketch_dilation_size",
    "dilate_sketch_mask",
    "resize_by_size",
    "is_flow_family",
    "job_differences",
]

#: Forge's option "Try to reproduce the results from external software" (forge.md §5), in its order.
FORGE_TRY_REPRODUCE = ("None", "Diffusers", "ComfyUI", "WebUI 1.5", "InvokeAI", "EasyDiffusion", "DrawThings")
#: Families whose sampler starts at σ·noise + (1 − σ)·x in both programs (forge.md §7, reference §9).
FLOW_FAMILIES = ("sd3", "flux")


def _init_error(message: str) -> ValueError:
    # pipeline imports this module; InitError is looked up only when an error is raised.
    from .errors import InitError

    return InitError(message)


@dataclass(frozen=True)
class Flavour:
    """The rules of one program that decide init (and the UI just before it).

    Fields (forge.md section in brackets):

    - ``name``/``label``: "webui"/"forge" and what to show the user.
    - ``sdxl_inpainting_always_rounds`` [§2]: the SDXL inpainting model's conditioning mask is
      rounded whatever mask_round says (webui); otherwise every inpainting model follows it.
    - ``families`` [§4, §6]: the latent families the program runs.
    - ``inpainting_families`` [§2, §6]: families that have inpainting models (4-channel only).
    - ``size_multiples`` [§6]: (family, m) pairs: width and height rounded down to multiples of m
      before init.
    - ``try_reproduce`` [§5]: accepted forge_try_reproduce values; ``cpu_noise_reproduce`` those
      that make every noise draw use the CPU generator.
    - ``reseed`` [§5]: (offset, modulus): after a draw from an image's own generator the global
      generator is seeded with (seed + offset) mod modulus; None: with the seed itself.
    - ``ui_mask_threshold`` [§7]: every inpaint tab's mask becomes 255 where > this, else 0
      (None: masks are left as the tab made them).
    - ``sketch_dilation`` [§7]: Inpaint sketch's mask is dilated by a max filter of
      2·int(fraction·short side)+1 px (None: not dilated).
    - ``resize_by_multiple`` [§7]: "Resize by" floors width and height to multiples of this.
    """

    name: str
    label: str
    sdxl_inpainting_always_rounds: bool
    families: tuple[str, ...]
    inpainting_families: tuple[str, ...]
    size_multiples: tuple[tuple[str, int], ...]
    try_reproduce: tuple[str, ...]
    cpu_noise_reproduce: tuple[str, ...]
    reseed: tuple[int, int] | None
    ui_mask_threshold: int | None
    sketch_dilation: float | None
    resize_by_multiple: int


FLAVOURS = {
    "webui": Flavour(
        name="webui",
        label="webui v1.10.1",
        sdxl_inpainting_always_rounds=True,
        families=("sd1", "sdxl", "sd3"),
        inpainting_families=("sd1", "sdxl"),
        size_multiples=(("sd3", 16),),
        try_reproduce=("None",),
        cpu_noise_reproduce=(),
        reseed=None,
        ui_mask_threshold=None,
        sketch_dilation=None,
        resize_by_multiple=1,
    ),
    "forge": Flavour(
        name="forge",
        label="Forge (dfdcbab6)",
        sdxl_inpainting_always_rounds=False,
        families=FAMILIES,
        inpainting_families=("sd1", "sdxl"),
        size_multiples=(),
        try_reproduce=FORGE_TRY_REPRODUCE,
        cpu_noise_reproduce=("ComfyUI", "DrawThings"),
        reseed=(100000, 65536),
        ui_mask_threshold=128,
        sketch_dilation=0.015,
        resize_by_multiple=8,
    ),
}


def get_flavour(flavour: str | Flavour) -> Flavour:
    """The record for "webui" or "forge" (a :class:`Flavour` passes through).

    >>> get_flavour("forge").label
    'Forge (dfdcbab6)'
    """
    if isinstance(flavour, Flavour):
        return flavour
    if flavour not in FLAVOURS:
        raise _init_error(f"flavour must be one of {tuple(FLAVOURS)}, got {flavour!r}")
    return FLAVOURS[flavour]


def _check_kind(model_kind: str) -> None:
    if model_kind not in MODEL_KINDS:
        raise _init_error(f"model_kind must be one of {MODEL_KINDS}, got {model_kind!r}")


def conditioning_mask_rounds(flavour: str | Flavour, model_kind: str, mask_round: bool) -> bool:
    """Whether an inpainting model's conditioning mask is rounded to 0/1 (forge.md §2).

    ``mask_round`` is the effective one (soft inpainting has already turned it off). Forge
    rounds iff mask_round for every inpainting model; webui v1.10.1 always rounds SDXL
    inpainting's. A standard model has no conditioning mask: False.

    >>> conditioning_mask_rounds("webui", "inpainting-sdxl", False), conditioning_mask_rounds("forge", "inpainting-sdxl", False)
    (True, False)
    """
    f = get_flavour(flavour)
    _check_kind(model_kind)
    if model_kind == "standard":
        return False
    return bool(mask_round) or (model_kind == "inpainting-sdxl" and f.sdxl_inpainting_always_rounds)


def check_family(flavour: str | Flavour, family: str, model_kind: str = "standard") -> None:
    """Raise InitError when the program cannot run ``family`` with ``model_kind`` (§2, §6, §8).

    webui v1.10.1 has no Flux; neither program has a 16-channel (SD3/Flux) inpainting model.
    """
    f = get_flavour(flavour)
    _check_kind(model_kind)
    if family not in FAMILIES:
        raise _init_error(f"the VAE family must be one of {FAMILIES}, got {family!r}")
    if family not in f.families:
        raise _init_error(f"{f.label} has no {FAMILY_LABELS[family]}; choose the Forge flavour")
    if model_kind != "standard" and family not in f.inpainting_families:
        raise _init_error(
            f"model_kind {model_kind!r} needs a 4-channel family: {f.label} has no {FAMILY_LABELS[family]} inpainting model "
            f"(its {FAMILY_NUMBERS[family][0]}-channel models take no inpainting conditioning); use model_kind 'standard'"
        )


def processing_size(flavour: str | Flavour, family: str, width: int, height: int) -> tuple[int, int, str | None]:
    """(width, height, note) init works at: webui v1.10.1 rounds SD3 sizes down to multiples of
    16 first (§6); Forge and the other families keep them. ``note`` is None when nothing changed.

    >>> processing_size("webui", "sd3", 520, 777)
    (512, 768, 'webui v1.10.1 rounds SD3 sizes down to multiples of 16: 520×777 → 512×768')
    >>> processing_size("forge", "sd3", 520, 777)
    (520, 777, None)
    """
    f = get_flavour(flavour)
    if family not in FAMILIES:
        raise _init_error(f"the VAE family must be one of {FAMILIES}, got {family!r}")
    m = dict(f.size_multiples).get(family, 1)
    w, h = int(width) - int(width) % m, int(height) - int(height) % m
    if (w, h) == (width, height):
        return w, h, None
    if w <= 0 or h <= 0:
        raise _init_error(f"width and height must be at least {m} for {FAMILY_LABELS[family]} in {f.label} (it rounds them down to multiples of {m}), got {width}×{height}")
    return w, h, f"{f.label} rounds {FAMILY_LABELS[family]} sizes down to multiples of {m}: {width}×{height} → {w}×{h}"


class NoiseSettings(NamedTuple):
    """``source``: the generator every noise draw uses (what Forge's infotext "RNG" reports);
    ``note``: why it differs from the randn_source asked for, or None."""

    source: str
    note: str | None


def noise_settings(flavour: str | Flavour, randn_source: str, forge_try_reproduce: str = "None") -> NoiseSettings:
    """The noise source in effect (forge.md §5).

    Forge's forge_try_reproduce "ComfyUI" and "DrawThings" put every draw (the latent-noise fill,
    the sampler's noise) on the CPU generator; its other five values change nothing. The option
    exists only in Forge: any value but "None" with the webui flavour is an InitError.

    >>> noise_settings("forge", "GPU", "ComfyUI").source, noise_settings("forge", "NV", "InvokeAI").source
    ('CPU', 'NV')
    """
    f = get_flavour(flavour)
    if randn_source not in RANDN_SOURCES:
        raise _init_error(f"randn_source must be one of {RANDN_SOURCES}, got {randn_source!r}")
    if forge_try_reproduce not in f.try_reproduce:
        if forge_try_reproduce in FORGE_TRY_REPRODUCE:
            raise _init_error(f"forge_try_reproduce {forge_try_reproduce!r} is a Forge option; {f.label} has none (use 'None' or the Forge flavour)")
        raise _init_error(f"forge_try_reproduce must be one of {FORGE_TRY_REPRODUCE}, got {forge_try_reproduce!r}")
    if forge_try_reproduce in f.cpu_noise_reproduce and randn_source != "CPU":
        return NoiseSettings("CPU", f'Forge\'s "Try to reproduce" {forge_try_reproduce} draws all noise on the CPU (RNG: CPU), not {randn_source}')
    return NoiseSettings(randn_source, None)


def global_seed_after_draw(flavour: str | Flavour, seed: int, from_image_generator: bool = True) -> int:
    """What the global generator is seeded with by a seed draw (forge.md §5).

    Draws from an image's own generator (every full-size first draw of a seed, the latent-noise
    fill included) seed it with (seed + 100000) mod 65536 in Forge, with the seed in the webui;
    draws without one (the variation subseed's, the small seed-resize draw) use the seed in both.

    >>> [global_seed_after_draw("forge", s) for s in (7, 0, 65535)], global_seed_after_draw("webui", 7)
    ([34471, 34464, 34463], 7)
    """
    f = get_flavour(flavour)
    if f.reseed is None or not from_image_generator:
        return int(seed)
    offset, modulus = f.reseed
    return (int(seed) + offset) % modulus


def posterior_seed_after_draws(flavour: str | Flavour, seeds: Sequence[int], source: str) -> int | None:
    """The seed the global torch generator holds after one image-generator draw per seed, in
    order (the latent-noise fill draws one per image of the batch): what a sampled posterior
    that follows uses, e.g. the inpainting conditioning's encode. ``source``: the effective one
    (:func:`noise_settings`). None for NV, whose draws seed the NV generator, not torch's, and
    for an empty batch: the posterior then sees whatever state came before.

    >>> posterior_seed_after_draws("forge", [5, 6], "CPU"), posterior_seed_after_draws("webui", [5, 6], "GPU")
    (34470, 6)
    """
    if source not in RANDN_SOURCES:
        raise _init_error(f"randn_source must be one of {RANDN_SOURCES}, got {source!r}")
    if source == "NV" or not seeds:
        return None
    return global_seed_after_draw(flavour, seeds[-1])


def ui_thresholds_masks(flavour: str | Flavour) -> bool:
    """Whether every inpaint tab's mask (uploads included) is thresholded before processing (§7)."""
    return get_flavour(flavour).ui_mask_threshold is not None


def threshold_ui_mask(flavour: str | Flavour, mask: Image.Image) -> Image.Image:
    """Forge's inpaint-tab mask rule (§7, read): 255 where a value is > 128, else 0; the webui
    returns ``mask`` unchanged. L, LA, RGB and RGBA are thresholded band by band (so init's own
    rules — alpha of an RGBA mask, luma of RGB — see 0/255 values); other modes are converted to
    L first. How Forge treats a non-L upload was not checked (unverified). A new image.
    """
    f = get_flavour(flavour)
    if f.ui_mask_threshold is None:
        return mask
    t = f.ui_mask_threshold
    src = mask if mask.mode in ("L", "LA", "RGB", "RGBA") else mask.convert("L")
    return src.point([255 if v > t else 0 for v in range(256)] * len(src.getbands()))


def sketch_dilation_size(flavour: str | Flavour, width: int, height: int) -> int:
    """Max-filter size Forge dilates an Inpaint sketch mask with, 2·int(0.015·short side)+1
    (§7, read); 1 (no change) in the webui and for short sides under 67 px.

    >>> sketch_dilation_size("forge", 512, 768), sketch_dilation_size("forge", 66, 100), sketch_dilation_size("webui", 512, 512)
    (15, 1, 1)
    """
    f = get_flavour(flavour)
    if f.sketch_dilation is None:
        return 1
    return 2 * int(f.sketch_dilation * min(int(width), int(height))) + 1


def dilate_sketch_mask(flavour: str | Flavour, mask: Image.Image) -> Image.Image:
    """The Inpaint sketch mask (L) after Forge's dilation (a square max filter of
    :func:`sketch_dilation_size`); unchanged in the webui. Where it sits among the tab's other
    steps (transparency, blur) is the tabs layer's business."""
    size = sketch_dilation_size(flavour, mask.width, mask.height)
    return mask if size == 1 else mask.filter(ImageFilter.MaxFilter(size))


def resize_by_size(flavour: str | Flavour, width: int, height: int, scale_by: float) -> tuple[int, int]:
    """Processing size of "Resize by": ``int(side · scale_by)`` (webui-tabs.md §3), which Forge
    then floors to a multiple of 8 (forge.md §7, read).

    >>> resize_by_size("webui", 61, 47, 1.37), resize_by_size("forge", 61, 47, 1.37)
    ((83, 64), (80, 64))
    """
    f = get_flavour(flavour)
    w, h = int(width * scale_by), int(height * scale_by)
    m = f.resize_by_multiple
    return w - w % m, h - h % m


def is_flow_family(family: str) -> bool:
    """Whether the sampler starts at σ·noise + (1 − σ)·x (SD3, Flux) rather than x + σ·noise."""
    if family not in FAMILIES:
        raise _init_error(f"the VAE family must be one of {FAMILIES}, got {family!r}")
    return family in FLOW_FAMILIES


def job_differences(
    family: str,
    model_kind: str,
    mask_round: bool,
    width: int,
    height: int,
    *,
    inpainting_fill: int = 1,
    randn_source: str = "GPU",
    forge_try_reproduce: str = "None",
    posterior: str = "sample",
) -> list[str]:
    """Sentences saying where webui v1.10.1 and Forge differ for this job (empty: identical init).

    ``mask_round`` is the effective one; ``forge_try_reproduce`` is the Forge run's setting.
    """
    web, forge = FLAVOURS["webui"], FLAVOURS["forge"]
    out = []
    if family not in web.families:
        out.append(f"{web.label} cannot run {FAMILY_LABELS.get(family, family)}; only Forge can")
    if model_kind != "standard" and conditioning_mask_rounds(web, model_kind, mask_round) != conditioning_mask_rounds(forge, model_kind, mask_round):
        out.append("SDXL inpainting, mask_round off: Forge passes the soft mask to the conditioning (and its masked image), the webui 0/1")
    if family in web.families:
        size = processing_size(web, family, width, height)
        if size[2]:
            out.append(f"{size[2]}; Forge keeps {width}×{height}")
    forge_noise = noise_settings(forge, randn_source, forge_try_reproduce)
    if forge_noise.note:
        out.append(forge_noise.note + "; the webui uses " + randn_source)
    if inpainting_fill == 2 and posterior == "sample" and model_kind != "standard" and forge_noise.source != "NV":
        out.append(
            "the conditioning's posterior sample follows the latent-noise fill: Forge's global generator holds "
            "(seed + 100000) mod 65536 there, the webui's the seed"
        )
    return out


class JobRules(NamedTuple):
    """The program's rules as they apply to one job, decided once before the first stage."""

    flavour: Flavour
    family: str
    randn_source: str  # the source every noise draw uses (forge_try_reproduce may change it)
    flow: bool  # the sampler starts at σ·noise + (1 − σ)·x (not modelled here: see the view)
    notes: tuple[str, ...]
    differences: tuple[str, ...]  # where the other program would differ for this job


def backend_family(backend) -> str:
    """:func:`~inpaint_init.vae.vae_family`, for a backend that names neither its family nor its
    channels (a caller's own backend): SDXL by its scale 0.13025, else SD1.x, as before families."""
    if getattr(backend, "family", None) is None and not getattr(backend, "latent_channels", 0):
        return "sdxl" if abs(float(getattr(backend, "scaling_factor", 0)) - 0.13025) < 1e-6 else "sd1"
    from .vae import vae_family

    return vae_family(backend)


def job_rules(params, backend):
    """(params as init sees them, :class:`JobRules`): the family checked against the program and
    the model kind, sizes rounded where the program rounds them (with a note), the noise source in
    effect. ``params`` is an :class:`~inpaint_init.params.InitParams`."""
    f = get_flavour(params.flavour)
    family = backend_family(backend)
    check_family(f, family, params.model_kind)
    w, h, size_note = processing_size(f, family, params.width, params.height)
    if (w, h) != (params.width, params.height):
        params = params.replace(width=w, height=h)
    noise = noise_settings(f, params.randn_source, params.forge_try_reproduce)
    differences = job_differences(
        family, params.model_kind, params.effective_mask_round, w, h, inpainting_fill=params.inpainting_fill,
        randn_source=params.randn_source, forge_try_reproduce=params.forge_try_reproduce,
        posterior=getattr(backend, "posterior", "mean"),
    )  # fmt: skip
    notes = tuple(n for n in (size_note, noise.note) if n)
    return params, JobRules(f, family, noise.source, is_flow_family(family), notes, tuple(differences))


def conditioning_backend(rules: JobRules, backend, inpainting_fill: int, seeds: Sequence[int]):
    """The backend the inpainting conditioning encodes with: a sampled posterior after the
    latent-noise fill's draws sees the global generator they left (§5), so its seed is the one
    :func:`posterior_seed_after_draws` gives; otherwise the backend as it is."""
    if inpainting_fill != 2 or getattr(backend, "posterior", None) != "sample" or not hasattr(backend, "with_posterior"):
        return backend
    seed = posterior_seed_after_draws(rules.flavour, seeds, rules.randn_source)
    return backend if seed is None else backend.with_posterior("sample", seed)

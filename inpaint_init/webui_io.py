"""Bring your own webui job: PNG infotext and img2img API bodies → ``InitParams`` and images.

Infotext is the "parameters" text the webui writes into its PNGs: the prompt, an optional
"Negative prompt:" line, then one line of ``Key: value`` pairs separated by commas, where a value
containing commas is written in double quotes (with ``\\"`` escapes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from .noise import RANDN_SOURCES
from .pipeline import InitError, InitParams
from .resize import RESIZE_MODE_LABELS
from .sampler import SAMPLERS
from .soft_inpainting import SOFT_PARAMS

__all__ = [
    "ImportedJob",
    "parse_infotext",
    "read_png_infotext",
    "params_from_infotext",
    "infotext_fields",
    "parse_api_payload",
    "decode_base64_image",
    "to_infotext",
    "to_api_payload",
]

FILL_LABELS = {"fill": 0, "original": 1, "latent noise": 2, "latent nothing": 3}
FILL_NAMES = list(FILL_LABELS)
#: Infotext keys that matter before sampling → the field they set.
_INFOTEXT_KEYS = {
    "mask blur": "mask_blur",
    "mask blur x": "mask_blur_x",
    "mask blur y": "mask_blur_y",
    "masked content": "inpainting_fill",
    "inpaint area": "inpaint_full_res",
    "masked area padding": "inpaint_full_res_padding",
    "only masked padding, pixels": "inpaint_full_res_padding",
    "only masked padding": "inpaint_full_res_padding",
    "mask mode": "inpainting_mask_invert",
    "denoising strength": "denoising_strength",
    "seed": "seed",
    "size": "size",
    "resize mode": "resize_mode",
    "steps": "steps",
    "sampler": "sampler_name",
    "conditional mask weight": "inpainting_mask_weight",
    "inpainting conditioning mask strength": "inpainting_mask_weight",
    "soft inpainting": "soft_inpainting",
    "soft inpainting enabled": "soft_inpainting",
    **{sp.infotext.lower(): sp.name for sp in SOFT_PARAMS},
    "rng": "randn_source",
    "variation seed": "subseed",
    "variation seed strength": "subseed_strength",
    "seed resize from": "seed_resize_from",
    "noise multiplier": "initial_noise_multiplier",
    "extra noise": "img2img_extra_noise",
    "ensd": "eta_noise_seed_delta",
    "eta noise seed delta": "eta_noise_seed_delta",
}
#: Keys the webui writes that do not change the init (listed as "not used", not as unknown).
_KNOWN_IRRELEVANT = {
    "cfg scale", "model", "model hash", "vae", "vae hash", "version", "clip skip", "schedule type",
    "eta", "hires upscale", "hires steps", "hires upscaler", "denoising strength hires",
    "lora hashes", "ti hashes", "face restoration", "batch size", "batch pos", "token merging ratio", "ng hashes",
    "image cfg scale", "schedule max sigma", "schedule min sigma", "schedule rho", "sgm noise multiplier",
    "emphasis", "refiner", "refiner switch at", "tiling",
}  # fmt: skip
#: Fields the webui writes into infotext only when they differ from these.
_WRITTEN_WHEN_SET = {
    "subseed_strength": 0.0,
    "seed_resize_from_w": 0,
    "seed_resize_from_h": 0,
    "initial_noise_multiplier": 1.0,
    "img2img_extra_noise": 0.0,
    "soft_inpainting": False,
    **{sp.name: sp.default for sp in SOFT_PARAMS},
}
#: Samplers for which the webui writes ENSD into the infotext (eta ≠ 0 by default).
_ENSD_SAMPLERS = ("Euler a", "DPM2 a", "DPM++ 2S a", "DPM fast", "DPM adaptive")
_PAIR = re.compile(r'\s*([\w][\w \-/,]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


@dataclass
class ImportedJob:
    """What an import yields: parameters, images if the source had them, and what was said."""

    params: InitParams
    init_images: list[Image.Image] = field(default_factory=list)
    mask: Image.Image | None = None
    used: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    prompt: str = ""


def parse_infotext(text: str) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, {key: value}) of a webui infotext.

    >>> parse_infotext('a cat\\nNegative prompt: dog\\nSteps: 20, Mask blur: 4, Inpaint area: Only masked')[2]
    {'Steps': '20', 'Mask blur': '4', 'Inpaint area': 'Only masked'}
    """
    lines = text.strip().split("\n")
    last = lines[-1] if lines else ""
    pairs: dict[str, str] = {}
    if len(_PAIR.findall(last)) >= 2 or re.match(r"^\s*Steps:", last):
        lines = lines[:-1]
        for key, value in _PAIR.findall(last):
            value = value.strip()
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = json.loads(value) if _is_json_string(value) else value[1:-1]
            pairs[key.strip()] = value
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    return "\n".join(prompt).strip(), "\n".join(negative).strip(), pairs


def _is_json_string(value: str) -> bool:
    try:
        json.loads(value)
        return True
    except json.JSONDecodeError:
        return False


def read_png_infotext(image: Image.Image) -> str | None:
    """The webui's "parameters" text chunk of a PNG, if any."""
    text = image.info.get("parameters")
    return text if isinstance(text, str) else None


def _number(value: str, kind, key: str):
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise InitError(f"infotext: {key}: {value!r} is not a number") from e


def _size(value: str, key: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(-?\d+)\s*x\s*(-?\d+)\s*", value)
    if not m:
        raise InitError(f"infotext: {key}: {value!r} is not WIDTHxHEIGHT")
    return int(m.group(1)), int(m.group(2))


def infotext_fields(pairs: dict[str, str], job: "ImportedJob") -> dict[str, Any]:
    """The init-relevant fields of parsed infotext pairs, typed, under the webui's field names
    (``mask_blur`` for both axes; ``width``/``height``; ``seed_resize_from_w``/``_h``). Keys
    the webui writes that do not matter before sampling go to ``job.ignored``, keys we do not
    know to ``job.unknown``; what was read to ``job.used``."""
    out: dict[str, Any] = {}
    for key, value in pairs.items():
        name = _INFOTEXT_KEYS.get(key.lower())
        if name is None:
            (job.ignored if key.lower() in _KNOWN_IRRELEVANT else job.unknown).append(key)
            continue
        if name in ("mask_blur", "mask_blur_x", "mask_blur_y", "denoising_strength", "inpainting_mask_weight",
                    "subseed_strength", "initial_noise_multiplier", "img2img_extra_noise",
                    *(sp.name for sp in SOFT_PARAMS)):  # fmt: skip
            out[name] = _number(value, float, key)
        elif name in ("inpaint_full_res_padding", "seed", "steps", "subseed", "eta_noise_seed_delta"):
            out[name] = _number(value, int, key)
        elif name == "inpainting_fill":
            if value.lower() not in FILL_LABELS:
                raise InitError(f"infotext: Masked content: {value!r} is not one of {list(FILL_LABELS)}")
            out[name] = FILL_LABELS[value.lower()]
        elif name == "inpaint_full_res":
            out[name] = value.lower() == "only masked"
        elif name == "inpainting_mask_invert":
            out[name] = 1 if value.lower() == "inpaint not masked" else 0
        elif name == "size":
            out["width"], out["height"] = _size(value, key)
        elif name == "seed_resize_from":
            out["seed_resize_from_w"], out["seed_resize_from_h"] = _size(value, key)
        elif name == "resize_mode":
            out[name] = _resize_mode(value)
        elif name == "randn_source":
            if value.upper() not in RANDN_SOURCES:
                raise InitError(f"infotext: RNG: {value!r} is not one of {RANDN_SOURCES}")
            out[name] = value.upper()
        elif name == "sampler_name":
            if value in SAMPLERS:
                out[name] = value
            else:
                job.notes.append(f"Sampler {value!r} is not in the sampler view ({', '.join(SAMPLERS)}); kept {job.params.sampler_name}.")
        elif name == "soft_inpainting":
            out[name] = value.strip().lower() == "true"
            if out[name]:
                job.notes.append("Soft inpainting was on: init does not round the mask (its only change before sampling).")
        job.used[key] = value
    return out


#: Forge's version tags (read, unverified in the specs): Forge writes ``Version: f<major>.<minor>…``,
#: e.g. ``f2.0.1v1.10.1-previous-669-gdfdcbab6``, where the webui writes ``v1.10.1``.
_FORGE_VERSION = re.compile(r"^\s*(f\d+\.\d+|.*forge)", re.IGNORECASE)
_WEBUI_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)\.(\d+)")


def program_from_version(version: str | None) -> str | None:
    """The program an infotext's ``Version`` names: ``"forge"``, ``"webui"`` or None (absent or
    not recognised).

    >>> program_from_version("f2.0.1v1.10.1-previous-669-gdfdcbab6"), program_from_version("v1.10.1")
    ('forge', 'webui')
    """
    if not version:
        return None
    if _FORGE_VERSION.match(version):
        return "forge"
    return "webui" if _WEBUI_VERSION.match(version) else None


def _program_changes(pairs: dict[str, str], job: "ImportedJob") -> dict[str, Any]:
    key, version = next(((k, v) for k, v in pairs.items() if k.lower() == "version"), (None, None))
    program = program_from_version(version)
    if program:
        job.ignored.remove(key)
        job.used[key] = version
    if program == "forge":
        job.notes.append(
            f"Version {version} is Forge's: imported as the Forge program (its rules at dfdcbab6). Forge does not write "
            "'Try to reproduce' into the infotext; its RNG key says which source ran."
        )
        return {"flavour": "forge", "forge_try_reproduce": "None"}
    if program == "webui":
        m = _WEBUI_VERSION.match(version)
        if (int(m[1]), int(m[2]), int(m[3])) != (1, 10, 1):
            job.notes.append(f"Version {version}: the rules shown are webui v1.10.1's, not that release's.")
        if job.params.flavour != "webui":
            job.notes.append(f"Version {version} is the webui's: imported as webui v1.10.1.")
        return {"flavour": "webui", "forge_try_reproduce": "None"}
    return {}


def params_from_infotext(text: str, base: InitParams | None = None) -> ImportedJob:
    """Read the init-relevant parameters of an infotext onto ``base`` (default: the UI defaults).

    Keys the webui writes but that do not change init are listed in ``ignored``; keys we do not
    know in ``unknown``. An infotext without ``RNG`` was made with the GPU source (the webui
    writes the key only for CPU and NV).
    """
    prompt, _, pairs = parse_infotext(text)
    job = ImportedJob(params=base or InitParams(), prompt=prompt)
    changes = infotext_fields(pairs, job) | _program_changes(pairs, job)
    if "mask_blur" in changes:
        changes["mask_blur_x"] = changes["mask_blur_y"] = changes.pop("mask_blur")
    if "inpaint_full_res" not in changes and any(k in job.used for k in ("Masked content", "Mask blur")):
        job.notes.append("No 'Inpaint area' in the infotext: the webui writes it only for Only masked, so this was Whole picture.")
    if "randn_source" not in changes and pairs:
        changes["randn_source"] = "GPU"
        if job.params.randn_source != "GPU":
            job.notes.append("No 'RNG' in the infotext: the webui writes it only for CPU and NV, so this job drew its noise on the GPU.")
    if pairs:
        # The webui writes these only when they are not at their defaults: absent means default.
        for name, default in _WRITTEN_WHEN_SET.items():
            changes.setdefault(name, default)
    job.params = job.params.replace(**changes)
    return job


def _resize_mode(value) -> int:
    if isinstance(value, (int, float)) or str(value).strip().isdigit():
        mode = int(value)
        if mode not in RESIZE_MODE_LABELS:
            raise InitError(f"resize_mode {value!r} must be 0, 1, 2 or 3")
        return mode
    for mode, label in RESIZE_MODE_LABELS.items():
        if label.lower() == str(value).strip().lower():
            return int(mode)
    raise InitError(f"Resize mode {value!r} is not one of {list(RESIZE_MODE_LABELS.values())}")


def to_infotext(p: InitParams, seed: int | None = None, subseed: int | None = None) -> str:
    """The init-relevant part of the "parameters" line the webui would write for ``p``, keys in
    its spellings, each only where the webui writes it (``RNG`` only when not GPU, ``Variation
    seed`` only with a strength, ``Mask blur`` only when both axes agree…). ``seed``/``subseed``:
    the values actually used (``p.seed`` may be -1). ``Resize mode`` is ours, for a round trip.

    >>> to_infotext(InitParams(seed=3, randn_source="NV", inpainting_fill=2))
    'Steps: 20, Sampler: DPM++ 2M, Seed: 3, Size: 512x512, Denoising strength: 0.75, RNG: NV, Mask blur: 4, Masked content: latent noise'
    """
    pairs: list[tuple[str, Any]] = [
        ("Steps", p.steps),
        ("Sampler", p.sampler_name),
        ("Seed", p.seed if seed is None else seed),
        ("Size", f"{p.width}x{p.height}"),
        ("Denoising strength", f"{p.denoising_strength:g}"),
    ]
    if p.subseed_strength != 0:
        pairs += [("Variation seed", p.subseed if subseed is None else subseed), ("Variation seed strength", f"{p.subseed_strength:g}")]
    if p.seed_resize_from_w > 0 and p.seed_resize_from_h > 0:
        pairs.append(("Seed resize from", f"{p.seed_resize_from_w}x{p.seed_resize_from_h}"))
    if p.randn_source != "GPU":
        pairs.append(("RNG", p.randn_source))
    if p.eta_noise_seed_delta and p.sampler_name in _ENSD_SAMPLERS:
        pairs.append(("ENSD", p.eta_noise_seed_delta))
    if p.initial_noise_multiplier != 1:
        pairs.append(("Noise multiplier", f"{p.initial_noise_multiplier:g}"))
    if p.img2img_extra_noise > 0:
        pairs.append(("Extra noise", f"{p.img2img_extra_noise:g}"))
    if p.mask_blur_x == p.mask_blur_y:
        pairs.append(("Mask blur", f"{p.mask_blur_x:g}"))
    pairs.append(("Masked content", FILL_NAMES[p.inpainting_fill]))
    if p.inpaint_full_res:
        pairs += [("Inpaint area", "Only masked"), ("Masked area padding", p.inpaint_full_res_padding)]
    if p.inpainting_mask_invert:
        pairs.append(("Mask mode", "Inpaint not masked"))
    if p.resize_mode:
        pairs.append(("Resize mode", RESIZE_MODE_LABELS[p.resize_mode]))
    if p.soft_inpainting:
        pairs.append(("Soft inpainting enabled", True))
        pairs += [(sp.infotext, f"{getattr(p, sp.name):g}") for sp in SOFT_PARAMS]
    return ", ".join(f"{k}: {v}" for k, v in pairs)


def to_api_payload(p: InitParams, seed: int | None = None, subseed: int | None = None) -> dict[str, Any]:
    """An img2img API body (without images) that makes the webui run init with ``p``: every
    field given explicitly (a body that leaves fields out gets the API's defaults, not the
    UI's), settings in ``override_settings``."""
    body = {
        "width": p.width,
        "height": p.height,
        "mask_blur_x": p.mask_blur_x,
        "mask_blur_y": p.mask_blur_y,
        "inpainting_mask_invert": p.inpainting_mask_invert,
        "inpainting_fill": p.inpainting_fill,
        "inpaint_full_res": p.inpaint_full_res,
        "inpaint_full_res_padding": p.inpaint_full_res_padding,
        "resize_mode": p.resize_mode,
        "mask_round": p.mask_round,
        "seed": p.seed if seed is None else seed,
        "subseed": p.subseed if subseed is None else subseed,
        "subseed_strength": p.subseed_strength,
        "seed_resize_from_w": p.seed_resize_from_w if p.seed_resize_from_w > 0 else -1,
        "seed_resize_from_h": p.seed_resize_from_h if p.seed_resize_from_h > 0 else -1,
        "denoising_strength": p.denoising_strength,
        "steps": p.steps,
        "batch_size": p.batch_size,
        "sampler_name": p.sampler_name,
        "initial_noise_multiplier": p.initial_noise_multiplier,
        "override_settings": {
            "randn_source": p.randn_source,
            "eta_noise_seed_delta": p.eta_noise_seed_delta,
            "img2img_extra_noise": p.img2img_extra_noise,
            "inpainting_mask_weight": p.inpainting_mask_weight,
            "img2img_color_correction": p.color_correction,
            "img2img_fix_steps": p.img2img_fix_steps,
        },
    }
    if p.soft_inpainting:
        body["alwayson_scripts"] = {"soft inpainting": {"args": [True, *(getattr(p, sp.name) for sp in SOFT_PARAMS)]}}
    return body


from .webui_api import MAX_BATCH, decode_base64_image, parse_api_payload  # noqa: E402,F401  (the API body: webui_api.py)

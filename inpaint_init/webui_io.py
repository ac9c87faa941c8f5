"""Bring your own webui job: PNG infotext and img2img API bodies → ``InitParams`` and images.

Infotext is the "parameters" text the webui writes into its PNGs: the prompt, an optional
"Negative prompt:" line, then one line of ``Key: value`` pairs separated by commas, where a value
containing commas is written in double quotes (with ``\\"`` escapes).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

from .noise import RANDN_SOURCES
from .pipeline import MAX_PIXELS, InitError, InitParams
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


def params_from_infotext(text: str, base: InitParams | None = None) -> ImportedJob:
    """Read the init-relevant parameters of an infotext onto ``base`` (default: the UI defaults).

    Keys the webui writes but that do not change init are listed in ``ignored``; keys we do not
    know in ``unknown``. An infotext without ``RNG`` was made with the GPU source (the webui
    writes the key only for CPU and NV).
    """
    prompt, _, pairs = parse_infotext(text)
    job = ImportedJob(params=base or InitParams(), prompt=prompt)
    changes = infotext_fields(pairs, job)
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


#: The most init images a body may hold (the webui's largest batch size).
MAX_BATCH = 64


def decode_base64_image(data: str, what: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A base64 image as the webui's API takes it (spec §12): a ``data:image/…;base64,`` prefix
    is removed (the text after the first ``;``, then after the first ``,``), characters outside
    the base64 alphabet are dropped, the padding must be right; then EXIF orientation is applied
    and RGB/P images with transparency become RGBA. URLs are not fetched here."""
    if not isinstance(data, str):
        raise InitError(f"{what} must be a base64 string, got {type(data).__name__}")
    if data.startswith(("http://", "https://")):
        raise InitError(f"{what} is a URL; this tool fetches nothing: put the image itself in the body as base64")
    if data.startswith("data:image/"):
        data = data.split(";", 1)[1].split(",", 1)[-1]
    try:
        raw = base64.b64decode(data)  # validate=False: non-alphabet characters are dropped, as in the API
    except (binascii.Error, ValueError) as e:
        raise InitError(f"{what} is not valid base64 ({e}); the webui answers 500") from e
    if not raw:
        raise InitError(f"{what} is empty after base64 decoding")
    try:
        try:
            image = Image.open(io.BytesIO(raw))  # reads the header only
        except Image.DecompressionBombError as e:  # PIL's own header check, where a caller set one
            side = int(min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels)) ** 0.5)
            raise InitError(f"{what} has more pixels than the limit here ({side}×{side}); nothing was decoded") from e
        w, h = image.size
        if w * h > max_pixels:  # before a single pixel is decoded
            side = int(max_pixels**0.5)
            raise InitError(f"{what} is {w}×{h} = {w * h / 2**20:.0f} MP; the limit is {max_pixels // 2**20} MP ({side}×{side})")
        image.load()
        image = ImageOps.exif_transpose(image)
    except InitError:
        raise
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
        raise InitError(f"{what} is not a readable image ({e})") from e
    if image.mode in ("RGB", "P") and "transparency" in image.info and isinstance(image.info["transparency"], bytes):
        image = image.convert("RGBA")
    return image


# The img2img body's fields that init reads, with the type pydantic coerces them to (§12), and
# the value a body without the field gets (the processing object's own defaults).
_API_FIELDS: dict[str, tuple[str, Any]] = {
    "width": ("int", 512),
    "height": ("int", 512),
    "mask_blur_x": ("int", 4),
    "mask_blur_y": ("int", 4),
    "inpainting_mask_invert": ("int", 0),
    "inpainting_fill": ("int", 0),
    "inpaint_full_res": ("bool", True),
    "inpaint_full_res_padding": ("int", 0),
    "resize_mode": ("int", 0),
    "mask_round": ("bool", True),
    "seed": ("int", -1),
    "subseed": ("int", -1),
    "subseed_strength": ("float", 0.0),
    "seed_resize_from_h": ("int", -1),
    "seed_resize_from_w": ("int", -1),
    "denoising_strength": ("float", 0.75),
    "steps": ("int", 50),
    "batch_size": ("int", 1),
    "sampler_name": ("str", "Euler"),
    "initial_noise_multiplier": ("float", None),
}
#: Defaults of the API that differ from the UI's, and what that means for the user.
_API_DEFAULTS_SAID = {
    "inpainting_fill": "Masked content 'fill'; the UI's default is 'original'",
    "inpaint_full_res": "Only masked; the UI's default is Whole picture",
    "inpaint_full_res_padding": "no padding; the UI's default is 32",
    "steps": "the UI's default is 20",
    "sampler_name": "the UI's default is DPM++ 2M",
}
#: Settings that ``override_settings`` may carry and init reads → InitParams field.
_OVERRIDE_SETTINGS = {
    "randn_source": "randn_source",
    "eta_noise_seed_delta": "eta_noise_seed_delta",
    "img2img_extra_noise": "img2img_extra_noise",
    "inpainting_mask_weight": "inpainting_mask_weight",
    "img2img_color_correction": "color_correction",
    "img2img_fix_steps": "img2img_fix_steps",
    "initial_noise_multiplier": "initial_noise_multiplier",
}
_API_IRRELEVANT = {
    "prompt", "negative_prompt", "styles", "cfg_scale", "n_iter", "restore_faces", "tiling", "do_not_save_samples",
    "do_not_save_grid", "eta", "s_min_uncond", "s_churn", "s_tmax", "s_tmin", "s_noise",
    "override_settings_restore_afterwards", "refiner_checkpoint", "refiner_switch_at", "disable_extra_networks",
    "firstpass_image", "comments", "include_init_images", "script_name", "script_args", "send_images", "save_images",
    "image_cfg_scale", "scheduler", "sampler_index", "force_task_id", "seed_enable_extras",
}  # fmt: skip
_BOOL_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
_BOOL_FALSE = {0, "0", "off", "f", "false", "n", "no"}


def _coerce(kind: str, key: str, value):
    """pydantic 1.10's coercion of a JSON value to ``kind``; what it rejects (the API's 422) is
    an InitError naming the field. None passes (every field is Optional)."""
    if value is None:
        return None
    bad = InitError(f"request body: {key} = {value!r} is not a valid {kind}; the webui's API answers 422")
    if kind == "int":
        if isinstance(value, (dict, list)):
            raise bad
        try:
            return int(value)  # "20" → 20, 1.5 → 1, true → 1; "1e3", "", NaN, inf fail
        except (TypeError, ValueError, OverflowError):
            raise bad from None
    if kind == "float":
        if isinstance(value, (dict, list)):
            raise bad
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            raise bad from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        v = value.lower() if isinstance(value, str) else value
        try:
            if v in _BOOL_FALSE:
                return False
            if v in _BOOL_TRUE:
                return True
        except TypeError:  # unhashable
            pass
        raise bad
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise bad


def parse_api_payload(payload: dict | str | bytes, decode_images: int | None = None, max_pixels: int = MAX_PIXELS) -> ImportedJob:
    """An img2img API request body (``/sdapi/v1/img2img``) → images, mask and parameters, by
    the API's own rules (spec §12), each rule that changed something stated in ``notes``:

    - a field left out gets the processing object's default, not the UI's: ``inpainting_fill``
      0 (fill), ``inpaint_full_res`` True (Only masked), padding 0, 50 steps, Euler;
    - values are coerced as pydantic 1.10 does (``"20"`` → 20, 1.5 → 1, ``"yes"`` → True);
      what it rejects is an InitError naming the field;
    - an int ``mask_blur`` (floats truncated first) sets both axes, overriding ``mask_blur_x/y``;
      a blur ≤ 0 is no blur;
    - ``override_settings`` can set the RNG source, ENSD, extra noise, mask weight, colour
      correction and fix steps; its ``initial_noise_multiplier`` has no effect;
    - the body's ``infotext`` fills only fields the body leaves out;
    - the mask is used raw (the API does not binarise it before init).
    """
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as e:
            raise InitError(f"the request body is not valid JSON ({e})") from e
        except RecursionError as e:
            raise InitError("the request body is nested too deeply to read") from e
        except UnicodeDecodeError as e:
            raise InitError(f"the request body is not UTF-8 text ({e})") from e
    if not isinstance(payload, dict):
        raise InitError("the request body must be a JSON object")
    job = ImportedJob(params=InitParams())
    images = payload.get("init_images")
    if images is None:
        raise InitError("the body has no init_images (the webui's API answers 404)")
    if not isinstance(images, list) or not images:
        raise InitError("init_images must be a non-empty list of base64 images")
    if len(images) > MAX_BATCH:  # counted before anything is decoded
        raise InitError(f"init_images holds {len(images)} images; a batch holds at most {MAX_BATCH}")
    used = images if decode_images is None else images[:decode_images]
    job.init_images = [decode_base64_image(d, f"init_images[{i}]", max_pixels) for i, d in enumerate(used)]
    if len(used) < len(images):
        job.notes.append(f"{len(images)} init images: only the first {len(used)} decoded and shown; the library and CLI take all.")
    mask = payload.get("mask")
    if mask == "":
        raise InitError("mask is an empty string: the webui passes it on undecoded and its init fails; leave it out (or null) for no mask")
    if mask is not None:
        job.mask = decode_base64_image(mask, "mask", max_pixels)
    if payload.get("latent_mask") is not None:
        raise InitError("latent_mask is set: the webui's API never decodes it, so its init fails; leave it out")

    given = {k: _coerce(kind, k, payload[k]) for k, (kind, _) in _API_FIELDS.items() if k in payload}
    blur = _coerce("int", "mask_blur", payload.get("mask_blur"))
    if "mask_blur" in payload:
        job.used["mask_blur"] = payload["mask_blur"]
    infotext = payload.get("infotext")
    if infotext:
        if not isinstance(infotext, str):
            raise InitError("request body: infotext must be a string")
        _fill_from_infotext(infotext, payload, given, job)
        if "mask_blur" in given:
            blur = int(given.pop("mask_blur"))
    for key, value in given.items():
        if key in payload:
            job.used[key] = payload[key]
        if isinstance(payload.get(key), (str, float, bool)) and _API_FIELDS[key][0] == "int" and value is not None:
            job.notes.append(f"{key} = {payload[key]!r} was coerced to {value} as the API does.")
    values = {k: default for k, (_, default) in _API_FIELDS.items()} | given
    for key, meaning in _API_DEFAULTS_SAID.items():
        if key not in given:
            job.notes.append(f"No {key} in the body: the API's processing object uses {values[key]!r} ({meaning}).")

    if blur is not None:
        if "mask_blur" in payload and (blur != payload["mask_blur"] or isinstance(payload["mask_blur"], bool)):
            job.notes.append(f"mask_blur = {payload.get('mask_blur')!r} became the int {blur} (the API's validation).")
        if any(values[k] != blur for k in ("mask_blur_x", "mask_blur_y") if k in given):
            job.notes.append(f"mask_blur = {blur} sets both axes and overrides mask_blur_x/y, as the webui's processing object does.")
        values["mask_blur_x"] = values["mask_blur_y"] = blur
    for key in ("mask_blur_x", "mask_blur_y"):
        if values[key] is None:
            if job.mask is not None:
                raise InitError(f"{key} is null: the webui's init fails on it when a mask is given")
            values[key] = 4
        elif values[key] < 0:
            job.notes.append(f"{key} = {values[key]} is no blur (the webui blurs only when it is > 0).")
            values[key] = 0
    if values["mask_round"] is None:
        values["mask_round"] = False
        job.notes.append("mask_round = null acts as off.")
    for key in ("seed", "subseed"):
        if values[key] is None:
            values[key] = -1  # the webui's get_fixed_seed: None is random, like -1
    if values["sampler_name"] not in SAMPLERS:
        job.notes.append(f"Sampler {values['sampler_name']!r} is not in the sampler view ({', '.join(SAMPLERS)}); shown as Euler.")
        values["sampler_name"] = "Euler"
    if values["resize_mode"] not in (0, 1, 2, 3, None):
        raise InitError(f"resize_mode {values['resize_mode']!r} must be 0, 1, 2 or 3")

    changes = {k: v for k, v in values.items() if k in InitParams.__dataclass_fields__}
    changes["initial_noise_multiplier"] = 1.0 if values["initial_noise_multiplier"] is None else values["initial_noise_multiplier"]
    changes["seed_resize_from_w"] = max(values["seed_resize_from_w"] or 0, 0)
    changes["seed_resize_from_h"] = max(values["seed_resize_from_h"] or 0, 0)
    _apply_override_settings(payload.get("override_settings"), values, changes, job)
    _apply_alwayson_scripts(payload.get("alwayson_scripts"), changes, job)
    for key in payload:
        if key in _API_FIELDS or key in ("init_images", "mask", "mask_blur", "latent_mask", "infotext", "override_settings", "alwayson_scripts"):
            continue
        (job.ignored if key in _API_IRRELEVANT else job.unknown).append(key)
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise InitError(f"{', '.join(nulls)} is null in the body: the webui's behaviour then is not modelled here; leave it out or give a value")
    if job.mask is None:
        job.notes.append("No mask in the body: plain img2img.")
    job.params = job.params.replace(**changes)
    job.params.validate()
    return job


def _fill_from_infotext(text: str, payload: dict, given: dict, job: ImportedJob) -> None:
    """The body's ``infotext`` fills only the fields the body leaves out. The API puts
    "Seed resize from: WxH" into ``seed_resize_from_h = W`` and ``_w = H``, swapped (read from
    the webui's code, not run): reproduced and said."""
    sub = ImportedJob(params=InitParams())
    _, _, pairs = parse_infotext(text)
    fields = infotext_fields(pairs, sub)
    if "seed_resize_from_w" in fields:
        fields["seed_resize_from_w"], fields["seed_resize_from_h"] = fields["seed_resize_from_h"], fields["seed_resize_from_w"]
        job.notes.append("The body's infotext has 'Seed resize from': the API swaps its width and height, as the webui does.")
    filled = []
    for key, value in fields.items():
        if key in payload or (key not in _API_FIELDS and key != "mask_blur"):
            continue
        given[key] = value
        filled.append(key)
    if filled:
        job.notes.append(f"From the body's infotext (fields the body leaves out): {', '.join(filled)}.")
    settings = [k for k in fields if k not in _API_FIELDS and k != "mask_blur"]
    if settings:
        job.notes.append(f"The body's infotext also has settings ({', '.join(settings)}); they are not applied to the API's fields.")


def _apply_override_settings(overrides, values: dict, changes: dict, job: ImportedJob) -> None:
    if overrides is None:
        return
    if not isinstance(overrides, dict):
        raise InitError("request body: override_settings must be an object")
    for key, value in overrides.items():
        name = _OVERRIDE_SETTINGS.get(key)
        if name is None:
            job.ignored.append(f"override_settings.{key}")
            continue
        if name == "initial_noise_multiplier":
            job.notes.append(
                "override_settings.initial_noise_multiplier has no effect: the processing object reads the option "
                "when it is built, before overrides apply. Set initial_noise_multiplier in the body instead."
            )
            continue
        kind = {"randn_source": "str", "eta_noise_seed_delta": "int", "color_correction": "bool", "img2img_fix_steps": "bool"}.get(name, "float")
        value = _coerce(kind, f"override_settings.{key}", value)
        if name == "randn_source" and value not in RANDN_SOURCES:
            raise InitError(f"override_settings.randn_source must be one of {RANDN_SOURCES}, got {value!r}")
        changes[name] = value
        job.used[f"override_settings.{key}"] = value


def _apply_alwayson_scripts(scripts, changes: dict, job: ImportedJob) -> None:
    """``alwayson_scripts``: the webui matches script names case-insensitively; of the scripts
    only soft inpainting changes init. Its args are ``[enabled, P, K, D, I, T, C]``; missing
    trailing args take the defaults, and nothing is converted (a string where a number belongs
    fails in the webui, so it is refused here)."""
    if scripts is None:
        return
    if not isinstance(scripts, dict):
        raise InitError("request body: alwayson_scripts must be an object of {script name: {\"args\": [...]}}")
    for name, entry in scripts.items():
        if str(name).lower() != "soft inpainting":
            job.ignored.append(f"alwayson_scripts.{name}")
            continue
        args = entry.get("args", []) if isinstance(entry, dict) else None
        if not isinstance(args, list):
            raise InitError(f'request body: alwayson_scripts.{name} must be {{"args": [enabled, …]}}')
        if len(args) > 1 + len(SOFT_PARAMS):
            raise InitError(f"alwayson_scripts.{name}: {len(args)} args; soft inpainting takes at most {1 + len(SOFT_PARAMS)}")
        enabled = args[0] if args else False
        if not isinstance(enabled, bool):
            job.notes.append(f"alwayson_scripts.{name}: enabled = {enabled!r} is not a bool; the extension tests its truth, so it is {bool(enabled)}.")
        changes["soft_inpainting"] = bool(enabled)
        for sp, value in zip(SOFT_PARAMS, args[1:]):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InitError(
                    f"alwayson_scripts.{name}: {sp.label} = {value!r} is not a number; the extension does not convert its args, "
                    "so the webui fails on it"
                )
            changes[sp.name] = float(value)
        missing = [sp.label for sp in SOFT_PARAMS[max(len(args) - 1, 0) :]]
        if missing and changes["soft_inpainting"]:
            job.notes.append(f"alwayson_scripts.{name}: {', '.join(missing)} not given: the defaults apply.")
        job.used[f"alwayson_scripts.{name}"] = args


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

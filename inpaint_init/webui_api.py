"""The webui's img2img API body (``/sdapi/v1/img2img``) by the API's own rules (spec §12):
fields, defaults, pydantic 1.10 coercion, override_settings, alwayson_scripts, the images as
base64 (counted and sized from their headers before any is decoded)."""

from __future__ import annotations

import base64
import binascii
import io
import json
from typing import Any

from PIL import Image, ImageOps

from .params import MAX_PIXELS, InitParams
from .errors import InitError
from .noise import RANDN_SOURCES
from .sampler import SAMPLERS
from .soft_inpainting import SOFT_PARAMS
from .webui_io import ImportedJob, _resize_mode, infotext_fields, parse_infotext  # noqa: F401

__all__ = ["parse_api_payload", "decode_base64_image", "MAX_BATCH"]


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

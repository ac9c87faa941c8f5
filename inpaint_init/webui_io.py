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

from PIL import Image

from .pipeline import InitError, InitParams
from .resize import RESIZE_MODE_LABELS
from .sampler import SAMPLERS

__all__ = ["ImportedJob", "parse_infotext", "read_png_infotext", "params_from_infotext", "parse_api_payload", "decode_base64_image"]

FILL_LABELS = {"fill": 0, "original": 1, "latent noise": 2, "latent nothing": 3}
#: Infotext keys that matter before sampling → how to read them.
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
}
#: Keys the webui writes that do not change the init (listed as "not used", not as unknown).
_KNOWN_IRRELEVANT = {
    "cfg scale", "model", "model hash", "vae", "vae hash", "version", "clip skip", "schedule type", "ensd",
    "eta", "eta noise seed delta", "hires upscale", "hires steps", "hires upscaler", "denoising strength hires",
    "lora hashes", "ti hashes", "face restoration", "batch size", "batch pos", "variation seed",
    "variation seed strength", "seed resize from", "token merging ratio", "ng hashes", "noise multiplier",
    "image cfg scale", "schedule max sigma", "schedule min sigma", "schedule rho", "sgm noise multiplier",
    "rng", "emphasis", "refiner", "refiner switch at", "tiling",
}  # fmt: skip
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
    except (TypeError, ValueError) as e:
        raise InitError(f"infotext: {key}: {value!r} is not a number") from e


def params_from_infotext(text: str, base: InitParams | None = None) -> ImportedJob:
    """Read the init-relevant parameters of an infotext onto ``base`` (default: the UI defaults).

    Keys the webui writes but that do not change init are listed in ``ignored``; keys we do not
    know in ``unknown``.
    """
    prompt, _, pairs = parse_infotext(text)
    changes: dict[str, Any] = {}
    job = ImportedJob(params=base or InitParams(), prompt=prompt)
    for key, value in pairs.items():
        name = _INFOTEXT_KEYS.get(key.lower())
        if name is None:
            (job.ignored if key.lower() in _KNOWN_IRRELEVANT else job.unknown).append(key)
            continue
        if name == "mask_blur":
            changes["mask_blur_x"] = changes["mask_blur_y"] = _number(value, float, key)
        elif name in ("mask_blur_x", "mask_blur_y", "denoising_strength", "inpainting_mask_weight"):
            changes[name] = _number(value, float, key)
        elif name in ("inpaint_full_res_padding", "seed", "steps"):
            changes[name] = _number(value, int, key)
        elif name == "inpainting_fill":
            if value.lower() not in FILL_LABELS:
                raise InitError(f"infotext: Masked content: {value!r} is not one of {list(FILL_LABELS)}")
            changes[name] = FILL_LABELS[value.lower()]
        elif name == "inpaint_full_res":
            changes[name] = value.lower() == "only masked"
        elif name == "inpainting_mask_invert":
            changes[name] = 1 if value.lower() == "inpaint not masked" else 0
        elif name == "size":
            m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", value)
            if not m:
                raise InitError(f"infotext: Size: {value!r} is not WIDTHxHEIGHT")
            changes["width"], changes["height"] = int(m.group(1)), int(m.group(2))
        elif name == "resize_mode":
            changes[name] = _resize_mode(value)
        elif name == "sampler_name":
            if value in SAMPLERS:
                changes[name] = value
            else:
                job.notes.append(f"Sampler {value!r} is not in the sampler view ({', '.join(SAMPLERS)}); kept {job.params.sampler_name}.")
        elif name == "soft_inpainting":
            changes["mask_round"] = False
            job.notes.append("Soft inpainting was on: mask rounding is off (mask_round = False).")
        job.used[key] = value
    if "inpaint_full_res" not in changes and any(k in job.used for k in ("Masked content", "Mask blur")):
        job.notes.append("No 'Inpaint area' in the infotext: the webui writes it only for Only masked, so this was Whole picture.")
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


def decode_base64_image(data: str, what: str) -> Image.Image:
    """A base64 image as the API takes it (plain or a ``data:image/...;base64,`` URL)."""
    if not isinstance(data, str):
        raise InitError(f"{what} must be a base64 string, got {type(data).__name__}")
    if data.startswith("data:"):
        data = data.split(",", 1)[1] if "," in data else ""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InitError(f"{what} is not valid base64 ({e})") from e
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
        raise InitError(f"{what} is not a readable image ({e})") from e
    return image


#: API body keys → InitParams fields (same names except where noted).
_API_FIELDS = {
    "width", "height", "mask_blur_x", "mask_blur_y", "inpainting_mask_invert", "inpainting_fill", "inpaint_full_res",
    "inpaint_full_res_padding", "resize_mode", "seed", "denoising_strength", "steps", "batch_size", "sampler_name",
    "inpainting_mask_weight",
}  # fmt: skip
_API_IRRELEVANT = {
    "prompt", "negative_prompt", "styles", "cfg_scale", "n_iter", "subseed", "subseed_strength", "seed_resize_from_h",
    "seed_resize_from_w", "restore_faces", "tiling", "do_not_save_samples", "do_not_save_grid", "eta", "s_min_uncond",
    "s_churn", "s_tmax", "s_tmin", "s_noise", "override_settings", "override_settings_restore_afterwards",
    "refiner_checkpoint", "refiner_switch_at", "disable_extra_networks", "firstpass_image", "comments",
    "include_init_images", "script_name", "script_args", "send_images", "save_images", "alwayson_scripts",
    "infotext", "image_cfg_scale", "initial_noise_multiplier", "scheduler", "sampler_index", "force_task_id",
}  # fmt: skip


def parse_api_payload(payload: dict | str | bytes) -> ImportedJob:
    """An img2img API request body (``/sdapi/v1/img2img``) → images, mask and parameters.

    Follows the reference's rules: an int ``mask_blur`` sets both axes and ``mask_blur_x/y``
    win when given; a float ``mask_blur`` is ignored by the reference (reported here); a body
    without ``inpaint_full_res`` runs "Only masked" (the processing object's default), which is
    reported too; the mask is used raw (the API does not binarise it before init).
    """
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as e:
            raise InitError(f"the request body is not valid JSON ({e})") from e
    if not isinstance(payload, dict):
        raise InitError("the request body must be a JSON object")
    job = ImportedJob(params=InitParams(inpaint_full_res=True))
    images = payload.get("init_images")
    if not isinstance(images, list) or not images:
        raise InitError("init_images must be a non-empty list of base64 images")
    job.init_images = [decode_base64_image(d, f"init_images[{i}]") for i, d in enumerate(images)]
    if payload.get("mask"):
        job.mask = decode_base64_image(payload["mask"], "mask")
    changes: dict[str, Any] = {}
    blur = payload.get("mask_blur")
    if blur is not None:
        if isinstance(blur, bool) or not isinstance(blur, int):
            job.notes.append(f"mask_blur = {blur!r} is not an int: the webui ignores it (both axes stay at 4 unless mask_blur_x/y are given).")
        else:
            changes["mask_blur_x"] = changes["mask_blur_y"] = blur
    if "inpaint_full_res" not in payload:
        job.notes.append("No inpaint_full_res in the body: the API's processing object defaults to True, so this runs Only masked (the UI's default is Whole picture).")
    for key, value in payload.items():
        if key in ("init_images", "mask", "mask_blur"):
            continue
        if key in _API_FIELDS:
            if value is None:
                continue
            if key == "resize_mode":
                value = _resize_mode(value)
            elif key == "sampler_name" and value not in SAMPLERS:
                job.notes.append(f"Sampler {value!r} is not in the sampler view ({', '.join(SAMPLERS)}); kept the default.")
                continue
            elif key == "inpaint_full_res":
                value = bool(value)
            changes[key] = value
            job.used[key] = value
        elif key in _API_IRRELEVANT:
            job.ignored.append(key)
        else:
            job.unknown.append(key)
    if blur is not None:
        job.used["mask_blur"] = blur
    if job.mask is None:
        job.notes.append("No mask in the body: plain img2img.")
    try:
        job.params = job.params.replace(**changes)
    except TypeError as e:
        raise InitError(f"request body: {e}") from e
    if job.unknown:
        job.notes.append(f"Unknown keys (not used): {', '.join(job.unknown)}")
    return job

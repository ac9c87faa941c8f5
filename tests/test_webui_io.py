"""Importing webui jobs: PNG infotext and img2img API bodies."""

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from inpaint_init import InitError, InitParams, run_init
from inpaint_init.webui_io import decode_base64_image, params_from_infotext, parse_api_payload, parse_infotext, read_png_infotext

INFOTEXT = (
    "a photo of a cat, best quality\n"
    "second prompt line\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1234, Size: 768x512, "
    'Model hash: abc123, Model: sd15, Denoising strength: 0.6, Mask blur: 8, Inpaint area: Only masked, '
    'Masked area padding: 48, Masked content: latent noise, Mask mode: Inpaint not masked, '
    'Lora hashes: "foo: 1a2b, bar: 3c4d", Resize mode: Crop and resize, Version: v1.10.1, Made up key: 3'
)


def test_parse_infotext_prompt_negative_and_quoted_values():
    prompt, negative, pairs = parse_infotext(INFOTEXT)
    assert prompt == "a photo of a cat, best quality\nsecond prompt line"
    assert negative == "blurry, lowres"
    assert pairs["Lora hashes"] == "foo: 1a2b, bar: 3c4d"  # quoted value with commas and colons
    assert pairs["Size"] == "768x512" and pairs["Made up key"] == "3"


def test_infotext_to_params():
    job = params_from_infotext(INFOTEXT)
    p = job.params
    assert (p.width, p.height, p.seed, p.steps, p.denoising_strength) == (768, 512, 1234, 30, 0.6)
    assert (p.mask_blur_x, p.mask_blur_y) == (8, 8)
    assert p.inpaint_full_res and p.inpaint_full_res_padding == 48
    assert p.inpainting_fill == 2 and p.inpainting_mask_invert == 1 and p.resize_mode == 1
    assert p.sampler_name == "Euler a"
    assert job.unknown == ["Made up key"]
    assert {"CFG scale", "Model", "Lora hashes", "Version"} <= set(job.ignored)


def test_infotext_forms():
    # Separate axes, a quoted plain value, a resize mode number.
    job = params_from_infotext('Steps: 20, Mask blur x: 2, Mask blur y: 6, Seed: "77", Resize mode: 2')
    assert (job.params.mask_blur_x, job.params.mask_blur_y, job.params.seed, job.params.resize_mode) == (2, 6, 77, 2)
    job = params_from_infotext('Steps: 20, Only masked padding, pixels: 12, Masked content: "fill"')
    assert job.params.inpaint_full_res_padding == 12 and job.params.inpainting_fill == 0
    # Whole picture is the absence of "Inpaint area".
    job = params_from_infotext("Steps: 20, Mask blur: 4, Masked content: original")
    assert not job.params.inpaint_full_res and any("Whole picture" in n for n in job.notes)


def test_bad_infotext_values_are_clear():
    with pytest.raises(InitError, match="Size"):
        params_from_infotext("Steps: 20, Size: big")
    with pytest.raises(InitError, match="Masked content"):
        params_from_infotext("Steps: 20, Masked content: sprinkles")
    with pytest.raises(InitError, match="Mask blur"):
        params_from_infotext("Steps: 20, Mask blur: lots")


def test_png_parameters_chunk_roundtrip(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", INFOTEXT)
    Image.new("RGB", (8, 8)).save(tmp_path / "out.png", pnginfo=info)
    assert read_png_infotext(Image.open(tmp_path / "out.png")) == INFOTEXT
    assert read_png_infotext(Image.new("RGB", (8, 8))) is None


def b64(image: Image.Image, data_url=False) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    s = base64.b64encode(buf.getvalue()).decode()
    return f"data:image/png;base64,{s}" if data_url else s


def test_api_body_roundtrip_runs_like_direct_call():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    mask = Image.new("L", (64, 48))
    mask.paste(255, (20, 10, 40, 30))
    body = {
        "init_images": [b64(img, data_url=True)], "mask": b64(mask), "mask_blur": 6, "mask_blur_y": 2,
        "inpainting_fill": 0, "inpaint_full_res": False, "inpaint_full_res_padding": 8, "inpainting_mask_invert": 0,
        "resize_mode": 0, "width": 64, "height": 64, "seed": 5, "denoising_strength": 0.5, "prompt": "x",
        "cfg_scale": 7, "my_extension_arg": 1,
    }  # fmt: skip
    job = parse_api_payload(json.dumps(body))
    p = job.params
    assert (p.mask_blur_x, p.mask_blur_y) == (6, 2)  # the separate axis wins
    assert not p.inpaint_full_res and p.inpainting_fill == 0 and p.seed == 5
    assert job.unknown == ["my_extension_arg"] and {"prompt", "cfg_scale"} <= set(job.ignored)
    a = run_init(job.init_images, job.mask, p)
    b = run_init(img, mask, InitParams(width=64, height=64, mask_blur_x=6, mask_blur_y=2, inpainting_fill=0, seed=5, denoising_strength=0.5))
    assert torch.equal(a.init_latent, b.init_latent) and np.array_equal(np.asarray(a.blurred_mask), np.asarray(b.blurred_mask))


def test_api_defaults_and_float_blur_are_reported():
    img = Image.new("RGB", (16, 16))
    job = parse_api_payload({"init_images": [b64(img)], "mask_blur": 4.5})
    assert job.params.inpaint_full_res  # the processing object's default
    assert (job.params.mask_blur_x, job.params.mask_blur_y) == (4, 4)
    assert any("not an int" in n for n in job.notes) and any("Only masked" in n for n in job.notes)
    assert any("plain img2img" in n for n in job.notes)


@pytest.mark.parametrize(
    "body,match",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ({"init_images": []}, "non-empty list"),
        ({"init_images": ["@@@not base64@@@"]}, r"init_images\[0\] is not valid base64"),
        ({"init_images": [base64.b64encode(b"hello").decode()]}, r"init_images\[0\] is not a readable image"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "mask": "%%%"}, "mask is not valid base64"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "resize_mode": 9}, "resize_mode"),
    ],
)
def test_bad_bodies_are_clear_errors(body, match):
    with pytest.raises(InitError, match=match):
        parse_api_payload(body)


def test_decode_base64_rejects_non_strings():
    with pytest.raises(InitError, match="base64 string"):
        decode_base64_image(123, "mask")

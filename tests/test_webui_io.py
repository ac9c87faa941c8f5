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
    assert {"CFG scale", "Model", "Lora hashes"} <= set(job.ignored)
    assert job.used["Version"] == "v1.10.1" and p.flavour == "webui"


# A Forge infotext's Version as Forge tags its builds (read from Forge's tags, not in the specs):
# the import must pick Forge's rules, since they change the conditioning mask and the noise.
FORGE_VERSION = "f2.0.1v1.10.1-previous-669-gdfdcbab6"


def test_a_forge_version_imports_as_the_forge_program():
    job = params_from_infotext(f"Steps: 20, Seed: 7, Size: 512x512, RNG: CPU, Version: {FORGE_VERSION}")
    assert job.params.flavour == "forge" and job.params.forge_try_reproduce == "None"
    assert job.params.randn_source == "CPU"  # what a 'Try to reproduce: ComfyUI' run writes
    assert "Version" in job.used and "Version" not in job.ignored
    assert any("Forge's" in n for n in job.notes)


def test_a_webui_version_after_forge_switches_back_and_says_other_releases():
    forge = InitParams(flavour="forge", forge_try_reproduce="ComfyUI")
    job = params_from_infotext("Steps: 20, Seed: 7, Version: v1.10.1", base=forge)
    assert (job.params.flavour, job.params.forge_try_reproduce) == ("webui", "None")
    job = params_from_infotext("Steps: 20, Seed: 7, Version: v1.9.4", base=forge)
    assert job.params.flavour == "webui" and any("not that release's" in n for n in job.notes)
    # No Version (or one we cannot read): the program on the page stays.
    for text in ("Steps: 20, Seed: 7", "Steps: 20, Version: nightly"):
        assert params_from_infotext(text, base=forge).params.flavour == "forge"


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
    assert (p.mask_blur_x, p.mask_blur_y) == (6, 6)  # an int mask_blur overrides the axes (§12)
    assert not p.inpaint_full_res and p.inpainting_fill == 0 and p.seed == 5
    assert job.unknown == ["my_extension_arg"] and {"prompt", "cfg_scale"} <= set(job.ignored)
    a = run_init(job.init_images, job.mask, p)
    b = run_init(img, mask, InitParams(width=64, height=64, mask_blur_x=6, mask_blur_y=6, inpainting_fill=0, seed=5, denoising_strength=0.5))
    assert torch.equal(a.init_latent, b.init_latent) and np.array_equal(np.asarray(a.blurred_mask), np.asarray(b.blurred_mask))


def test_api_defaults_and_float_blur_are_reported():
    img = Image.new("RGB", (16, 16))
    job = parse_api_payload({"init_images": [b64(img)], "mask_blur": 4.5})
    assert job.params.inpaint_full_res  # the processing object's default
    assert (job.params.mask_blur_x, job.params.mask_blur_y) == (4, 4)
    assert any("became the int 4" in n for n in job.notes) and any("inpaint_full_res" in n for n in job.notes)
    assert any("plain img2img" in n for n in job.notes)


@pytest.mark.parametrize(
    "body,match",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ({"init_images": []}, "non-empty list"),
        ({"init_images": ["@@@not base64@@@"]}, r"init_images\[0\] is not valid base64"),
        ({"init_images": [base64.b64encode(b"hello").decode()]}, r"init_images\[0\] is not a readable image"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "mask": "%%%"}, "mask is empty after base64"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "mask": "abcde"}, "mask is not valid base64"),
        ({"prompt": "x"}, "no init_images"),
        ({"init_images": ["https://example.com/a.png"]}, "fetches nothing"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "mask": ""}, "empty string"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "latent_mask": "abc"}, "latent_mask"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "mask_blur": "6.5"}, "mask_blur = '6.5' is not a valid int.*422"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "width": "1e3"}, "width .* 422"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "steps": ""}, "steps .* 422"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "batch_size": [1]}, "batch_size"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "inpaint_full_res": 2}, "inpaint_full_res .* 422"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "mask_round": 0.5}, "mask_round .* 422"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "subseed_strength": "abc"}, "subseed_strength .* 422"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "seed": 1e30}, "outside what torch.manual_seed accepts"),
        ("{" * 100000, "nested too deeply|not valid JSON"),
        ({"init_images": [b64(Image.new("RGB", (8, 8)))], "resize_mode": 9}, "resize_mode"),
    ],
)
def test_bad_bodies_are_clear_errors(body, match):
    with pytest.raises(InitError, match=match):
        parse_api_payload(body)


def test_decode_base64_rejects_non_strings():
    with pytest.raises(InitError, match="base64 string"):
        decode_base64_image(123, "mask")


IMG8 = b64(Image.new("RGB", (8, 8)))


def body(**fields):
    return {"init_images": [IMG8], **fields}


def test_api_mask_blur_int_overrides_both_axes():
    # Measured on the webui's processing object: mask_blur 8, x 2, y 3 → 8/8.
    p = parse_api_payload(body(mask_blur=8, mask_blur_x=2, mask_blur_y=3)).params
    assert (p.mask_blur_x, p.mask_blur_y) == (8, 8)
    # Absent or null: the axes as given.
    assert (parse_api_payload(body(mask_blur_x=2, mask_blur_y=3)).params.mask_blur_x, 3) == (2, 3)
    p = parse_api_payload(body(mask_blur=None, mask_blur_x=2, mask_blur_y=3)).params
    assert (p.mask_blur_x, p.mask_blur_y) == (2, 3)


@pytest.mark.parametrize("value,axes", [(4.5, 4), (-4.9, 0), ("6", 6), (True, 1), (0, 0)])
def test_api_mask_blur_is_truncated_to_int_first(value, axes):
    p = parse_api_payload(body(mask_blur=value, mask_blur_x=9)).params
    assert (p.mask_blur_x, p.mask_blur_y) == (axes, axes)


def test_api_defaults_are_the_processing_objects():
    p = parse_api_payload(body()).params
    assert p.inpainting_fill == 0 and p.inpaint_full_res and p.inpaint_full_res_padding == 0
    assert (p.mask_blur_x, p.mask_blur_y, p.steps, p.sampler_name, p.resize_mode) == (4, 4, 50, "Euler", 0)
    assert p.mask_round and p.randn_source == "GPU" and p.initial_noise_multiplier == 1.0


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("width", "64", 64), ("width", 512.9, 512), ("steps", True, 1), ("seed", "20", 20), ("seed", 1.5, 1),
        ("subseed_strength", "0.5", 0.5), ("subseed_strength", 1, 1.0), ("subseed_strength", True, 1.0),
        ("inpaint_full_res", "Yes", True), ("inpaint_full_res", "off", False), ("inpaint_full_res", 0.0, False),
        ("inpaint_full_res", "T", True), ("mask_round", 1, True), ("mask_round", None, False),
        ("seed_resize_from_w", -1, 0),
    ],
)  # fmt: skip
def test_api_coercion_like_pydantic_v1(field, value, expected):
    assert getattr(parse_api_payload(body(**{field: value})).params, field) == expected


def test_api_null_blur_axis_with_a_mask_fails_like_the_webui():
    mask = b64(Image.new("L", (8, 8)))
    with pytest.raises(InitError, match="mask_blur_x is null"):
        parse_api_payload(body(mask=mask, mask_blur_x=None))


def test_api_images_exif_and_transparency():
    # An EXIF-6 (rotate 90° clockwise to display) JPEG comes out upright, as the API reads it.
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    job = parse_api_payload({"init_images": [base64.b64encode(buf.getvalue()).decode()]})
    assert job.init_images[0].size == (20, 40)
    # A palette PNG whose transparency is a table (bytes) becomes RGBA; a single index does not
    # (the API checks for bytes).
    for transparency, mode in ((b"\x80\x40", "RGBA"), (0, "P")):
        buf = io.BytesIO()
        Image.new("P", (8, 8)).save(buf, format="PNG", transparency=transparency)
        job = parse_api_payload({"init_images": [base64.b64encode(buf.getvalue()).decode()]})
        assert job.init_images[0].mode == mode
    # A data URL prefix is removed; characters outside the alphabet are dropped.
    s = IMG8
    job = parse_api_payload({"init_images": ["data:image/png;base64," + s[:10] + "\n" + s[10:]]})
    assert job.init_images[0].size == (8, 8)


def test_api_override_settings_and_their_rules():
    job = parse_api_payload(
        body(override_settings={"randn_source": "NV", "eta_noise_seed_delta": "31337", "img2img_extra_noise": 0.1,
                                "initial_noise_multiplier": 0.5, "sd_model_checkpoint": "x"})
    )  # fmt: skip
    p = job.params
    assert (p.randn_source, p.eta_noise_seed_delta, p.img2img_extra_noise) == ("NV", 31337, 0.1)
    assert p.initial_noise_multiplier == 1.0 and any("has no effect" in n for n in job.notes)
    assert parse_api_payload(body(initial_noise_multiplier=0.5)).params.initial_noise_multiplier == 0.5
    with pytest.raises(InitError, match="randn_source"):
        parse_api_payload(body(override_settings={"randn_source": "TPU"}))


def test_api_infotext_fills_only_absent_fields_and_swaps_seed_resize():
    job = parse_api_payload(body(seed=5, infotext="Steps: 20, Seed: 9, Seed resize from: 640x512, Mask blur: 2, Denoising strength: 0.4"))
    p = job.params
    assert p.seed == 5 and p.steps == 20 and p.denoising_strength == 0.4 and (p.mask_blur_x, p.mask_blur_y) == (2, 2)
    assert (p.seed_resize_from_h, p.seed_resize_from_w) == (640, 512)  # swapped, as the API does
    assert any("swaps" in n for n in job.notes) and not any("became the int" in n for n in job.notes)


def test_infotext_noise_keys():
    text = (
        "Steps: 20, Sampler: Euler a, Seed: 7, Size: 512x768, Variation seed: 99, Variation seed strength: 0.3, "
        "Seed resize from: 512x512, RNG: NV, ENSD: 31337, Noise multiplier: 0.9, Extra noise: 0.05"
    )
    p = params_from_infotext(text).params
    assert (p.subseed, p.subseed_strength, p.seed_resize_from_w, p.seed_resize_from_h) == (99, 0.3, 512, 512)
    assert (p.randn_source, p.eta_noise_seed_delta, p.initial_noise_multiplier, p.img2img_extra_noise) == ("NV", 31337, 0.9, 0.05)
    # No RNG key: the job was made with the GPU source; absent noise keys are their defaults.
    p = params_from_infotext("Steps: 20, Seed: 7", InitParams(randn_source="CPU", subseed_strength=0.5, img2img_extra_noise=0.2)).params
    assert p.randn_source == "GPU" and p.subseed_strength == 0 and p.img2img_extra_noise == 0
    with pytest.raises(InitError, match="RNG"):
        params_from_infotext("Steps: 20, RNG: TPU")


def test_infotext_and_api_export_round_trip():
    from inpaint_init.webui_io import to_api_payload, to_infotext

    p = InitParams(
        width=640, height=480, mask_blur_x=6, mask_blur_y=6, inpainting_fill=2, inpaint_full_res=True, inpaint_full_res_padding=40,
        inpainting_mask_invert=1, resize_mode=1, seed=12, subseed=34, subseed_strength=0.25, seed_resize_from_w=512,
        seed_resize_from_h=512, randn_source="NV", eta_noise_seed_delta=31337, sampler_name="Euler a", steps=30,
        denoising_strength=0.6, initial_noise_multiplier=0.95, img2img_extra_noise=0.1,
    )  # fmt: skip
    text = to_infotext(p)
    assert "RNG: NV" in text and "ENSD: 31337" in text and "Variation seed: 34" in text and "Seed resize from: 512x512" in text
    assert params_from_infotext(text).params == p
    b = to_api_payload(p) | {"init_images": [IMG8]}
    assert parse_api_payload(b).params == p
    # GPU is the webui's default and is not written; unequal blur axes write no "Mask blur".
    assert "RNG" not in to_infotext(InitParams()) and "Mask blur" not in to_infotext(InitParams(mask_blur_x=2))


def test_importing_a_gpu_users_infotext_gives_their_latent_noise():
    # The spec's check values for seed 1 at (4, 64, 64), as an NVIDIA user's webui draws them
    # (NV = CUDA to a few ulps; without CUDA we draw exactly the NV numbers).
    text = "Steps: 20, Sampler: Euler, Seed: 1, Size: 512x512, Denoising strength: 0.75, Masked content: latent noise"
    p = params_from_infotext(text).params
    img, mask = Image.new("RGB", (512, 512), "gray"), Image.new("L", (512, 512), 255)
    r = run_init(img, mask, p)
    noise = r.latent_noise[0]
    tol = 0 if not torch.cuda.is_available() else 1e-6
    assert abs(float(noise[0, 0, 0]) - float(np.float32(-0.296277821))) <= tol
    assert abs(float(noise[3, 63, 63]) - float(np.float32(0.734359264))) <= tol
    assert torch.equal(r.init_latent, r.latent_noise)  # all-white mask: the latent is all noise


def test_api_images_are_sized_from_their_header_and_decoded_only_when_used(monkeypatch):
    """#25: a body's pictures are counted and their declared size read before any pixel is
    decoded; a caller that shows one picture decodes one."""
    import base64
    import io
    import struct
    import zlib

    from PIL import Image, ImageFile

    from inpaint_init.webui_io import parse_api_payload

    def png(size):
        buf = io.BytesIO()
        Image.new("RGB", size, (9, 9, 9)).save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode()

    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: (loads.append(self.size), real_load(self))[1])
    job = parse_api_payload({"init_images": [png((16 + i, 16)) for i in range(5)], "width": 64, "height": 64}, decode_images=1)
    assert len(job.init_images) == 1 and set(loads) == {(16, 16)}
    assert any("only the first 1 decoded" in n for n in job.notes)
    # A header that declares 9000×9000 with almost no data: refused before decoding.
    header = struct.pack(">IIBBBBB", 9000, 9000, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    loads.clear()
    with pytest.raises(InitError, match="9000×9000 = 77 MP|more pixels than the limit here"):  # ours, or PIL's header check (the app sets one)
        parse_api_payload({"init_images": [base64.b64encode(bomb).decode()]})
    assert loads == []
    with pytest.raises(InitError, match="at most 64"):
        parse_api_payload({"init_images": ["x"] * 65})

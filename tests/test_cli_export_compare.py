"""Export, command line, sweep grid, and the app's import/export/compare handlers (the
comparison's rules: tests/test_peers.py)."""

import base64
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import load_file

import app
from inpaint_init import InitParams
from inpaint_init.cli import SWEEP_VIEWS, main, parse_sweep, sweep_grid
from inpaint_init.examples import load_example
from inpaint_init.export import labelled_grid
from test_app import DEFAULTS, small_case


@pytest.fixture(scope="module")
def example_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("example")
    image, mask, _ = load_example("Chelsea: eye, only masked with small padding")
    image.resize((120, 80)).save(d / "cat.png")
    mask.resize((120, 80)).save(d / "mask.png")
    return d


def test_cli_writes_every_promised_file(example_files, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main([str(example_files / "cat.png"), str(example_files / "mask.png"), "--out", str(out), "--width", "64", "--height", "64",
               "--only-masked", "--padding", "4", "--fill", "latent noise", "--seed", "3", "--model-kind", "inpainting",
               "--color-correction", "--sweep", "mask_blur_x=0,4,8,16", "--zip", "--rng", "NV", "--subseed", "5",
               "--subseed-strength", "0.5", "--seed-resize-from", "48x48", "--noise-multiplier", "0.9"])  # fmt: skip
    assert rc == 0
    for name in ("binary_mask", "blurred_mask", "image_mask", "mask_for_overlay", "latent_mask_image", "decoded_latent",
                 "decoded_init_latent", "decoded_start_latent", "overlay_images_0", "processed_images_0", "filled_images_0"):  # fmt: skip
        assert (out / "stages" / f"{name}.png").exists(), name
    assert len(list((out / "views").glob("*.png"))) >= 15
    tensors = load_file(str(out / "tensors.safetensors"))
    assert tensors["init_latent"].shape == (1, 4, 8, 8) and tensors["nmask"].shape == (4, 8, 8)
    assert tensors["image_conditioning"].shape == (1, 5, 8, 8) and "latent_noise" in tensors and "color_corrections_0" in tensors
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["inpainting_fill"] == 2 and report["crop"]["paste_to"] == list(report["crop"]["paste_to"])
    assert report["seeds"] == [3] and report["sampler"]["t_enc"] == 15 and "encode" in report["timings_ms"]
    assert report["noise"]["randn_source"] == "NV" and report["noise"]["subseeds"] == [5]
    assert report["noise"]["seed_resize_from"] == [48, 48] and report["noise"]["initial_noise_multiplier"] == 0.9
    for pair in ("RNG: NV", "Variation seed: 5", "Variation seed strength: 0.5", "Seed resize from: 48x48", "Noise multiplier: 0.9"):
        assert pair in report["infotext"], pair
    assert report["api_body"]["override_settings"]["randn_source"] == "NV" and report["api_body"]["subseed"] == 5
    assert tensors["start_noise"].shape == (1, 4, 8, 8)
    assert Image.open(out / "contact_sheet.png").width > 512
    # 4 sweep values → 4 rows; 5 views → 5 columns (labelled_grid's documented size).
    grid = Image.open(out / "grid.png")
    assert grid.size == (170 + len(SWEEP_VIEWS) * (256 + 6), 22 + 4 * (256 + 6))
    with zipfile.ZipFile(out.with_suffix(".zip")) as zf:
        names = zf.namelist()
    assert "report.json" in names and "tensors.safetensors" in names and "stages/overlay_images_0.png" in names
    assert '"paste_to"' in capsys.readouterr().out


def test_cli_payload_and_infotext(example_files, tmp_path):
    def b64(path):
        return base64.b64encode((example_files / path).read_bytes()).decode()

    body = {"init_images": [b64("cat.png")], "mask": b64("mask.png"), "width": 64, "height": 64, "mask_blur": 2, "seed": 9}
    (tmp_path / "req.json").write_text(json.dumps(body))
    assert main(["--payload", str(tmp_path / "req.json"), "--out", str(tmp_path / "p")]) == 0
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["params"]["inpaint_full_res"] is True  # API default
    assert report["params"]["mask_blur_x"] == 2 and any("Only masked" in n for n in report["notes"])

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "x\nSteps: 20, Size: 64x64, Seed: 4, Mask blur: 9, Inpaint area: Only masked, Masked area padding: 7")
    Image.new("RGB", (8, 8)).save(tmp_path / "webui.png", pnginfo=info)
    assert main([str(example_files / "cat.png"), str(example_files / "mask.png"), "--infotext", str(tmp_path / "webui.png"),
                 "--seed", "5", "--out", str(tmp_path / "i")]) == 0  # fmt: skip
    p = json.loads((tmp_path / "i" / "report.json").read_text())["params"]
    assert (p["mask_blur_x"], p["inpaint_full_res_padding"], p["seed"], p["width"]) == (9, 7, 5, 64)  # the option wins over the PNG


def test_cli_soft_inpainting(example_files, tmp_path):
    out = tmp_path / "soft"
    assert main([str(example_files / "cat.png"), str(example_files / "mask.png"), "--out", str(out), "--width", "64", "--height", "64",
                 "--soft-inpainting", "--mask-blend-power", "2", "--seed", "1"]) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["soft_inpainting"] is True and report["params"]["mask_blend_power"] == 2
    assert "Soft inpainting enabled: True" in report["infotext"] and "Soft inpainting schedule bias: 2" in report["infotext"]
    assert report["api_body"]["alwayson_scripts"]["soft inpainting"]["args"][:2] == [True, 2]
    tensors = load_file(str(out / "tensors.safetensors"))
    assert tensors["soft_weights"].shape == (16, 8, 8) and (out / "stages" / "soft_overlay_mask.png").exists()
    assert (out / "views" / "soft_blend.png").exists() and (out / "views" / "soft_overlay.png").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["{img}", "--out", "o", "--inpaint-detail-preservation", "0"], "inpaint_detail_preservation must be above 0"),
        (["missing.png", "--out", "o"], "does not exist"),
        (["--out", "o"], "give IMAGE"),
        (["{img}", "--out", "o", "--sweep", "mask_blur_x"], "NAME=V1"),
        (["{img}", "--out", "o", "--sweep", "colour=1,2"], "not a parameter"),
        (["{img}", "--out", "o", "--width", "4"], "between 8 and"),
        (["{img}", "--out", "o", "--vae", "nope.safetensors"], "does not exist"),
        (["{img}", "--out", "o", "--seed", "99999999999999999999999"], "outside what torch.manual_seed accepts"),
        (["{img}", "--out", "o", "--mask-blur", "20000"], "mask_blur_x must be between 0 and 512"),
        (["{img}", "--out", "{file}"], "exists and is not a folder"),
        (["{img}", "--out", "{file}/sub"], "cannot create --out"),
        (["{img}", "--out", "o", "--infotext", "missing.txt"], "does not exist"),
        (["{img}", "--out", "o", "--infotext", "{latin1}"], "is not UTF-8 text"),
        (["--payload", "{latin1}", "--out", "o"], "is not UTF-8 text"),
        (["--payload", "{nested}", "--out", "o"], "nested too deeply"),
        (["--payload", "{fifo}", "--out", "o"], "not a regular file"),
        (["{img}", "--out", "o", "--vae", "{listcfg}"], "must hold a JSON object"),
        (["{img}", "--out", "o", "--sweep", "mask_blur_x=1,20000"], "mask_blur_x must be between"),
        (["{img}", "--out", "o", "--seed-resize-from", "big"], "WIDTHxHEIGHT"),
        (["{bomb}", "--out", "o"], "the limit is 64 MP"),
    ],
)
def test_cli_errors_exit_2_with_a_message(example_files, tmp_path, capsys, argv, message):
    import os

    (tmp_path / "file").write_text("x")
    (tmp_path / "latin1.txt").write_bytes("Steps: 20, Seed: 1 \xe9\xe8".encode("latin-1"))
    (tmp_path / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text("[1, 2]")
    where = {"{img}": str(example_files / "cat.png"), "o": str(tmp_path / "o"), "{file}": str(tmp_path / "file"),
             "{latin1}": str(tmp_path / "latin1.txt"), "{nested}": str(tmp_path / "nested.json"),
             "{fifo}": str(tmp_path / "fifo.json"), "{listcfg}": str(tmp_path / "cfg"), "{bomb}": str(BOMB)}  # fmt: skip
    argv = [where.get(a, a.replace("{file}", str(tmp_path / "file"))) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1  # one line
    assert not (tmp_path / "o").exists()  # nothing written before everything was checked


@pytest.fixture(scope="module", autouse=True)
def _bomb(tmp_path_factory):
    """A PNG whose header says 9000×9000 (77 MP): small on disk, too many pixels to decode."""
    global BOMB
    BOMB = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (9000, 9000)).save(BOMB)


def test_parse_sweep_types():
    assert parse_sweep("mask_blur_x=0,4.5") == ("mask_blur_x", [0.0, 4.5])
    assert parse_sweep("inpaint_full_res_padding=0, 32") == ("inpaint_full_res_padding", [0, 32])
    assert parse_sweep("inpaint_full_res=true,false") == ("inpaint_full_res", [True, False])


def test_sweep_grid_rows_follow_the_values():
    img, mask = Image.new("RGB", (64, 64), "gray"), Image.new("L", (64, 64))
    mask.paste(255, (20, 20, 40, 40))
    grid = sweep_grid(img, mask, InitParams(width=64, height=64, seed=1), "mask_blur_x", [0, 8], tile=64)
    assert grid.size == (170 + len(SWEEP_VIEWS) * 70, 22 + 2 * 70)


def test_labelled_grid_size_with_captions():
    g = labelled_grid([[Image.new("RGB", (10, 10))] * 3] * 2, captions=[["a"] * 3] * 2, tile=32)
    assert g.size == (3 * 38, 4 + 2 * (16 + 32 + 6))


class TestAppImportExportCompare:
    def test_import_png_sets_controls(self, tmp_path):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", "p\nSteps: 25, Size: 768x512, Seed: 11, Mask blur: 12, Inpaint area: Only masked, Masked area padding: 40, Foo: 1")
        Image.new("RGB", (8, 8)).save(tmp_path / "w.png", pnginfo=info)
        out = app.import_png_ui(str(tmp_path / "w.png"))
        values = dict(zip(app.CONTROL_NAMES, out[:-1]))
        assert (values["width"], values["height"], values["seed"], values["mask_blur_x"], values["inpaint_full_res_padding"]) == (768, 512, 11, 12, 40)
        assert values["inpaint_full_res"] is True and "Foo" in out[-1]
        Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
        assert "no 'parameters' text" in app.import_png_ui(str(tmp_path / "plain.png"))[-1]

    def test_import_api_body(self):
        img, _ = small_case()
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        body = json.dumps({"init_images": [base64.b64encode(buf.getvalue()).decode()], "width": 64, "height": 64, "zzz": 1})
        out = app.import_api_ui(body, None)
        editor, mask = out[0], out[1]
        assert editor["background"].size == (128, 96) and mask is None and "zzz" in out[-1]
        assert "⛔" in app.import_api_ui("{nope", None)[-1]

    def test_export_zip_and_compare(self):
        img, layer = small_case()
        path, status = app.export_ui(app.editor_value(img, layer), None, *DEFAULTS.values())
        with zipfile.ZipFile(path) as zf:
            assert "contact_sheet.png" in zf.namelist()
        peers = dict(diffusers_pipeline="sd", unet_channels=9, diffusers_strength=0, blur_factor=4, comfy_node="inpaint_model_conditioning",
                     grow_mask_by=6, noise_mask=True, grow_mask=2, tapered_corners=True, comfy_denoise=1.0, differential_diffusion=True)  # fmt: skip
        assert tuple(peers) == app.PEER_CONTROL_NAMES
        gallery, table = app.compare_ui(app.editor_value(img, layer), None, *peers.values(), *DEFAULTS.values())
        captions = " ".join(c for _, c in gallery)
        assert len(gallery) >= 8 and "ComfyUI" in table and "GrowMask +2" in table and "Differential Diffusion" in captions
        assert "9-channel" in table

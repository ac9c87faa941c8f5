"""Export, command line, sweep grid, and the diffusers / ComfyUI comparison."""

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
from inpaint_init import InitParams, expand_crop_region, get_crop_region, run_init
from inpaint_init.cli import SWEEP_VIEWS, main, parse_sweep, sweep_grid
from inpaint_init.compare import compare
from inpaint_init.examples import load_example
from inpaint_init.export import labelled_grid
from inpaint_init.peers import comfy_vae_encode_for_inpaint, diffusers_prepare, latent_mask_rules
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


class TestDiffusers:
    def test_binarises_at_half(self):
        img = Image.new("RGB", (16, 16), "gray")
        m = Image.fromarray(np.tile(np.array([127, 128], np.uint8), (16, 8)))
        prep = diffusers_prepare(img, m, 16, 16)
        assert prep.pixel_mask[0, 0, 0, :2].tolist() == [0.0, 1.0]

    def test_blur_before_binarising_does_not_move_a_straight_edge(self):
        img = Image.new("RGB", (64, 64), "gray")
        m = Image.new("L", (64, 64))
        m.paste(255, (0, 0, 32, 64))
        sharp = diffusers_prepare(img, m, 64, 64).pixel_mask
        blurred = diffusers_prepare(img, m, 64, 64, blur_factor=8).pixel_mask
        assert torch.equal(sharp, blurred)

    def test_nearest_latent_mask_takes_the_top_left_pixel(self):
        m = np.zeros((16, 16), np.uint8)
        m[0, 0] = 255  # top-left pixel of cell (0, 0)
        m[8 + 4, 8 + 4] = 255  # centre of cell (1, 1)
        prep = diffusers_prepare(Image.new("RGB", (16, 16)), Image.fromarray(m), 16, 16)
        assert prep.latent_mask[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]

    def test_masked_image_is_zero_under_the_mask_and_original_elsewhere(self):
        img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
        m = Image.new("L", (16, 16))
        m.paste(255, (0, 0, 8, 16))
        prep = diffusers_prepare(img, m, 16, 16)
        assert prep.masked_image[..., :8].abs().max() == 0 and torch.equal(prep.masked_image[..., 8:], prep.image[..., 8:])

    def test_padding_crop_is_the_webui_arithmetic(self):
        m = Image.new("L", (100, 80))
        m.paste(255, (40, 30, 52, 38))
        prep = diffusers_prepare(Image.new("RGB", (100, 80)), m, 64, 64, padding_mask_crop=5)
        assert prep.crop_region == expand_crop_region(get_crop_region(np.asarray(m), 5), 64, 64, 100, 80)

    def test_default_size_floors_to_multiples_of_8(self):
        prep = diffusers_prepare(Image.new("RGB", (101, 75)), Image.new("L", (101, 75), 255))
        assert prep.image.shape[-2:] == (72, 96)


class TestComfy:
    def test_grey_fill_and_grown_noise_mask(self):
        img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
        m = np.zeros((32, 32), np.uint8)
        m[10, 10] = 255
        prep = comfy_vae_encode_for_inpaint(img, Image.fromarray(m), grow_mask_by=6)
        assert prep.image[0, :, 10, 10].tolist() == [0.0, 0.0, 0.0]  # 0.5 grey in [-1, 1]
        assert prep.image[0, :, 10, 11].abs().sum() > 0
        # padding ceil(5/2) = 3: output i sums inputs i-3 … i+2, so pixel 10 reaches outputs 8 … 13.
        rows = torch.nonzero(prep.pixel_mask[0, 0].sum(1)).flatten().tolist()
        assert rows == list(range(8, 14)) and prep.pixel_mask.sum() == 36

    def test_no_growth_and_centre_crop(self):
        prep = comfy_vae_encode_for_inpaint(Image.new("RGB", (451, 300)), Image.new("L", (451, 300), 255), grow_mask_by=0)
        assert prep.image.shape[-2:] == (296, 448) and any("centre-cropped" in n for n in prep.notes)


def test_latent_mask_rules_on_one_cell():
    m = np.zeros((16, 16), np.uint8)
    m[0, 0] = 255  # one pixel in the top-left corner of cell (0, 0)
    rules = latent_mask_rules(Image.fromarray(m))
    assert rules["nearest"][0, 0] == 1 and rules["max over cell"][0, 0] == 1
    assert rules["bicubic + round"][0, 0] == 0 and rules["bilinear"][0, 0] == 0  # bilinear samples the cell centre


def test_compare_agrees_on_a_grid_aligned_block_and_differs_with_blur():
    img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    m = Image.new("L", (64, 64))
    m.paste(255, (16, 16, 48, 40))
    r = run_init(img, m, InitParams(width=64, height=64, mask_blur_x=0, mask_blur_y=0, seed=1))
    c = compare(r, img, grow_mask_by=0)
    assert "| diffusers | 64×64 | 768 | 0 |" in c.table and "| ComfyUI | 64×64 | 768 | 0 |" in c.table
    r = run_init(img, m, InitParams(width=64, height=64, mask_blur_x=16, mask_blur_y=16, seed=1))
    assert "| diffusers | 64×64 | 768 | 0 |" not in compare(r, img, grow_mask_by=0).table
    assert {"webui_encoded", "diffusers_encoded", "diffusers_masked", "comfyui_encoded", "latent_rules"} <= set(c.views)


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
        gallery, table = app.compare_ui(app.editor_value(img, layer), None, 6, *DEFAULTS.values())
        assert len(gallery) >= 6 and "ComfyUI" in table

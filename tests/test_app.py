"""The app: its functions directly, then the launched app through gradio_client."""

import io
import json
import re
import threading
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
from inpaint_init.examples import EXAMPLES, load_example
from inpaint_init.views import VIEW_NAMES
from webapp.layout import DEFAULT_VALUES

# The page's first control values, at a small size and with the Euler sampler.
DEFAULTS = DEFAULT_VALUES | dict(width=128, height=128, sampler_name="Euler")
VIEW_KEYS = list(VIEW_NAMES)


def outputs_by_name(out):
    """compute()'s tuple (views, timing, summary, notes, and its trailing state) or the /compute
    API's (no state) → {view: (image, caption)}, summary, notes."""
    if len(out) == 2 * len(VIEW_KEYS) + 4:
        out = out[:-1]
    views = {k: (out[2 * i], out[2 * i + 1]) for i, k in enumerate(VIEW_KEYS)}
    return views, out[-2], out[-1]


def small_case():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8))
    alpha = np.zeros((96, 128), np.uint8)
    alpha[30:60, 40:80] = 255
    layer = Image.merge("RGBA", (*Image.new("RGB", (128, 96), "white").split(), Image.fromarray(alpha)))
    return img, layer


class TestFunctions:
    def test_painted_layers_become_a_binary_mask(self):
        img, layer = small_case()
        soft = np.asarray(layer).copy()
        soft[30:60, 40:42, 3] = 100  # a faint stroke edge: ≤ 128 is dropped, as in the webui
        image, mask = app.mask_from_editor({"background": img.convert("RGBA"), "layers": [Image.fromarray(soft)], "composite": None})
        m = np.asarray(mask)
        assert mask.mode == "L" and set(np.unique(m)) == {0, 255}
        assert m[40, 41] == 0 and m[40, 50] == 255 and image.size == (128, 96)

    def test_exif_rotated_upload_is_turned_like_the_mask_and_the_webui(self):
        # A 60×40 photo with EXIF orientation 6 is shown 40×60; a stroke painted on what is shown
        # must land where it was painted, not be squashed into the raw 60×40 frame.
        buf = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.new("RGB", (60, 40), "red").save(buf, format="JPEG", exif=exif)
        raw = Image.open(io.BytesIO(buf.getvalue()))
        alpha = np.zeros((60, 40), np.uint8)
        alpha[10:30, 10:30] = 255  # a 20×20 square on the displayed 40×60 picture
        layer = Image.merge("RGBA", (*Image.new("RGB", (40, 60), "white").split(), Image.fromarray(alpha)))
        image, mask = app.mask_from_editor({"background": raw, "layers": [layer], "composite": None})
        assert image.size == (40, 60) and mask.getbbox() == (10, 10, 30, 30)

    def test_no_layers_is_a_blank_mask(self):
        img, _ = small_case()
        _, mask = app.mask_from_editor({"background": img, "layers": [], "composite": None})
        assert mask.getbbox() is None

    def test_compute_returns_every_view(self):
        img, layer = small_case()
        out = app.compute(app.editor_value(img, layer), None, **DEFAULTS)
        views, summary, notes = outputs_by_name(out)
        assert len(out) == 2 * len(VIEW_NAMES) + 4
        for key in ("binary_mask", "blurred_mask", "processed", "filled", "decoded", "latent_mask", "init_latent", "paste_back"):
            assert isinstance(views[key][0], Image.Image), key
        assert "1×4×16×16" in summary and "No warnings" in notes

    def test_noise_controls_reach_the_sampler_start(self):
        from inpaint_init import InitParams, run_init

        img, layer = small_case()
        changes = dict(randn_source="NV", subseed=7, subseed_strength=0.5, initial_noise_multiplier=0.9, img2img_extra_noise=0.1)
        views, summary, _ = outputs_by_name(app.compute(app.editor_value(img, layer), None, **(DEFAULTS | changes)))
        assert "NV: the webui's own Philox generator" in summary and "7 at strength 0.5" in summary
        assert "noise NV · 7 at strength 0.5" in views["sampler_start"][1]
        _, mask = app.mask_from_editor(app.editor_value(img, layer))
        expected = run_init(img, mask, app.params_from_controls(DEFAULTS | changes))
        plain = run_init(img, mask, InitParams(width=128, height=128, seed=1, sampler_name="Euler", randn_source="NV"))
        assert not np.array_equal(np.asarray(expected.decoded_start_latent), np.asarray(plain.decoded_start_latent))
        assert np.array_equal(np.asarray(views["sampler_start"][0]), np.asarray(expected.decoded_start_latent))

    def test_padding_changes_crop_numbers(self):
        img, layer = small_case()
        a = outputs_by_name(app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(inpaint_full_res=True, inpaint_full_res_padding=0))))
        b = outputs_by_name(app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(inpaint_full_res=True, inpaint_full_res_padding=8))))
        pa = re.search(r"paste_to x=(\d+) y=(\d+) w=(\d+) h=(\d+)", a[0]["crop"][1]).groups()
        pb = re.search(r"paste_to x=(\d+) y=(\d+) w=(\d+) h=(\d+)", b[0]["crop"][1]).groups()
        assert int(pb[0]) == int(pa[0]) - 8 and int(pb[2]) == int(pa[2]) + 16

    def test_bad_input_keeps_views_and_shows_message(self, page_checks):
        import gradio as gr

        img, layer = small_case()
        # Out of the slider's range: the nearest value the page offers is used, and said (#25).
        out = app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(width=4)))
        assert "Width: 4 is outside what the control offers (64–2048); used 64." in out[-2]
        assert "| init_latent | 1×4×16×8 |" in out[-3]  # computed at 64 wide (8 cells)
        out = app.compute(None, None, **DEFAULTS)
        assert "Load or upload an image" in out[-2]
        # A value no control can send: refused in one sentence, nothing computed.
        for bad in (None, float("nan"), float("inf"), "7", [1]):
            out = app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(seed=bad)))
            assert all(isinstance(o, type(gr.skip())) for o in out[:-2] + out[-1:])
            assert "⛔" in out[-2] and "Seed" in out[-2] and "must be a whole number" in out[-2], out[-2]
        # Without the page's ranges (a script of the library's own), init's own checks speak.
        from webapp import checks

        saved = dict(checks.SPECS)
        checks.SPECS.clear()
        try:
            out = app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(width=4)))
            assert "width must be between 8" in out[-2] and "⛔" in out[-2]
        finally:
            checks.SPECS.update(saved)

    def test_uploaded_mask_overrides_painting_and_stays_raw(self):
        img, layer = small_case()
        soft = Image.fromarray(np.full((96, 128), 100, np.uint8))
        views, _, _ = outputs_by_name(app.compute(app.editor_value(img, layer), soft, **DEFAULTS))
        assert np.unique(np.asarray(views["binary_mask"][0])).tolist() == [100]

    @pytest.mark.parametrize("name", [e.name for e in EXAMPLES])
    def test_every_example_runs_and_fits_the_canvas(self, name):
        editor, mask_upload, description, *settings = app.load_example_ui(name)
        image, mask, ex = load_example(name)
        # The editor's canvas is the image's size, so a painted layer shows where it is.
        assert editor.canvas_size == image.size
        settings = dict(zip(app.EXAMPLE_SETTINGS, settings))
        assert all(settings[k] == v for k, v in ex.settings.items())
        value = app.editor_value(image, None)
        held = Image.open(mask_upload)  # a file written atomically, lossless
        assert np.array_equal(np.asarray(held), np.asarray(mask))
        out = app.compute(value, held, **(DEFAULTS | dict(width=64, height=64) | settings))
        views, summary, notes = outputs_by_name(out)
        assert views["blurred_mask"][0].getbbox() is not None and description

    def test_soft_inpainting_views_follow_the_sliders_and_a_result_upload(self):
        img, layer = small_case()
        editor = app.editor_value(img, layer)
        off, _, _ = outputs_by_name(app.compute(editor, None, **DEFAULTS))
        # An empty view is a one-line card saying why, not a missing picture
        from webapp.pictures import text_card

        assert "off" in off["soft_blend"][1]
        assert np.array_equal(np.asarray(off["soft_blend"][0]), np.asarray(text_card(off["soft_blend"][1].removeprefix("● "))))
        args = DEFAULTS | dict(soft_inpainting=True, mask_blur_x=12, mask_blur_y=12)
        on, _, notes = outputs_by_name(app.compute(editor, None, **args))
        assert on["soft_blend"][0] is not None and "P 1 · K 0.5" in on["soft_blend"][1]
        assert "simulated result" in on["soft_overlay"][1] and "Soft inpainting is on" in notes
        bias, _, _ = outputs_by_name(app.compute(editor, None, **(args | dict(mask_blend_power=3))))
        assert "P 3" in bias["soft_blend"][1]
        assert not np.array_equal(np.asarray(bias["soft_blend"][0]), np.asarray(on["soft_blend"][0]))
        uploaded, _, _ = outputs_by_name(app.compute(editor, None, **args, soft_result=img))
        assert "result image" in uploaded["soft_overlay"][1] and "taken (> 127) at 0 px" in uploaded["soft_overlay"][1]

    def test_soft_example_turns_soft_inpainting_on(self):
        _, _, _, *settings = app.load_example_ui("Astronaut: the seam soft inpainting removes")
        settings = dict(zip(app.EXAMPLE_SETTINGS, settings))
        assert settings["soft_inpainting"] is True and settings["mask_blur_x"] == 24

    def test_soft_example_mask_reaches_init_unthresholded(self):
        _, mask, ex = load_example("Rocket: a soft mask that was never binary")
        assert ex.uploaded and len(np.unique(np.asarray(mask))) > 50


def client_editor(tmp_path, img, layer):
    from gradio_client import handle_file

    bg, lay = tmp_path / "bg.png", tmp_path / "layer.png"
    img.save(bg)
    layer.save(lay)
    return {"background": handle_file(str(bg)), "layers": [handle_file(str(lay))], "composite": None, "id": None}


class TestLaunchedApp:
    def test_padding_and_latent_nothing_through_the_api(self, running_app, tmp_path):
        from gradio_client import Client

        client = Client(running_app, verbose=False)
        img, layer = small_case()
        editor = client_editor(tmp_path, img, layer)
        args = DEFAULTS | dict(inpaint_full_res=True, inpaint_full_res_padding=0)
        out0 = client.predict(editor, None, *args.values(), api_name="/compute")
        out8 = client.predict(editor, None, *(args | dict(inpaint_full_res_padding=8)).values(), api_name="/compute")
        crop_i = 2 * VIEW_KEYS.index("crop") + 1
        x0 = int(re.search(r"paste_to x=(\d+)", out0[crop_i]).group(1))
        x8 = int(re.search(r"paste_to x=(\d+)", out8[crop_i]).group(1))
        assert x8 == x0 - 8
        # Latent nothing: every regenerated latent cell is exactly zero.
        lat_i = 2 * VIEW_KEYS.index("init_latent") + 1
        out3 = client.predict(editor, None, *(DEFAULTS | dict(inpainting_fill=3)).values(), api_name="/compute")
        out1 = client.predict(editor, None, *DEFAULTS.values(), api_name="/compute")
        assert "max |z| in regenerated cells 0 " in out3[lat_i] + " "
        assert "max |z| in regenerated cells 0 " not in out1[lat_i] + " "
        assert Path(out0[2 * VIEW_KEYS.index("blurred_mask")]).exists()

    def test_unchanged_pictures_are_not_sent_again(self):
        img, layer = small_case()
        editor = app.editor_value(img, layer)
        first = app.compute(editor, None, **DEFAULTS, shown={})
        state = first[-1]
        assert set(state) == set(VIEW_KEYS)
        second = app.compute(editor, None, **(DEFAULTS | dict(mask_blur_x=9)), shown=state)
        views, _, _ = outputs_by_name(second[:-1])
        skip = type(__import__("gradio").skip())
        # A blur change redraws the mask views and keeps the image-side ones.
        assert isinstance(views["blurred_mask"][0], Image.Image) and isinstance(views["overlay"][0], Image.Image)
        assert isinstance(views["processed"][0], skip) and isinstance(views["decoded"][0], skip)
        assert "blur x 9" in views["blurred_mask"][1]  # captions are always sent

    def test_two_clients_do_not_mix_results(self, running_app, tmp_path):
        from gradio_client import Client

        img, layer = small_case()
        editor = client_editor(tmp_path, img, layer)
        results = {}

        def run(name, padding):
            client = Client(running_app, verbose=False)
            outs = []
            for _ in range(3):
                args = DEFAULTS | dict(inpaint_full_res=True, inpaint_full_res_padding=padding)
                outs.append(client.predict(editor, None, *args.values(), api_name="/compute")[2 * VIEW_KEYS.index("crop") + 1])
            results[name] = outs

        threads = [threading.Thread(target=run, args=("a", 0)), threading.Thread(target=run, args=("b", 16))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(set(results["a"])) == 1 and len(set(results["b"])) == 1
        assert results["a"][0] != results["b"][0]


class TestVAEAndSampler:
    def test_load_vae_then_compute_with_it_and_switch_posterior(self, tmp_path):
        from vae_factories import tiny_kl

        tiny_kl(seed=2).save_pretrained(tmp_path / "myvae")
        dropdown, status = app.load_vae_ui(str(tmp_path / "myvae"), "auto")
        assert status.startswith("✅") and "AutoencoderKL" in status
        name = dropdown.value
        try:
            assert name in app.VAES
            img, layer = small_case()
            sample = outputs_by_name(app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(vae=name))))
            mean = outputs_by_name(app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(vae=name, vae_posterior="mean"))))
            assert "posterior sample (seed 0)" in sample[0]["decoded"][1] and "posterior mean" in mean[0]["decoded"][1]
            assert "AutoencoderKL" in sample[1]
            a, b = np.asarray(sample[0]["decoded"][0]), np.asarray(mean[0]["decoded"][0])
            assert a.shape == (128, 128, 3) and not np.array_equal(a, b)
        finally:
            app.VAES.pop(name, None)

    def test_failed_load_keeps_the_previous_vae(self, tmp_path):
        import gradio as gr

        before = dict(app.VAES)
        dropdown, status = app.load_vae_ui(str(tmp_path / "nope.safetensors"), "auto")
        assert isinstance(dropdown, type(gr.skip())) and "does not exist" in status and "previous VAE" in status
        assert app.VAES == before
        _, status = app.load_vae_ui("  ", "auto")
        assert "Enter the path" in status

    def test_sampler_controls_move_the_start(self):
        img, layer = small_case()
        hi = outputs_by_name(app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(denoising_strength=0.9))))
        lo = outputs_by_name(app.compute(app.editor_value(img, layer), None, **(DEFAULTS | dict(denoising_strength=0.3))))
        # 20 steps: t_enc 18 → 19 steps run; t_enc 6 → 7 steps run.
        assert "t_enc 18 · 19 of 20 steps run" in hi[0]["sampler_start"][1]
        assert "t_enc 6 · 7 of 20 steps run" in lo[0]["sampler_start"][1]
        assert isinstance(hi[0]["sigma_plot"][0], Image.Image)


class Request:
    def __init__(self, key):
        self.session_hash = key


def _page_values():
    return dict(DEFAULT_VALUES)


@pytest.fixture
def page_checks():
    """The page built once, so the server checks values against its controls' ranges."""
    from webapp import checks
    from webapp.layout import build_demo

    if not checks.SPECS:
        build_demo()
    return checks.SPECS


class TestSessionHandlers:
    """The page's handlers: state per session, one refresh per user action."""

    def test_controls_send_only_values_and_pictures_only_when_changed(self):
        from webapp import handlers as h

        values = _page_values() | dict(mask_blur_y=5)  # not the page's first state
        req = Request("controls")
        first = h.on_controls(*values.values(), request=req, progress=None)
        grid = first[0]
        assert 'id="view-blurred_mask"' in grid and "Binary mask" in grid
        values["mask_blur_x"] = 9
        second = h.on_controls(*values.values(), request=req, progress=None)
        assert "blur x 9" in second[0] and 'class="view changed" id="view-blurred_mask"' in second[0]
        assert 'class="view" id="view-processed"' in second[0]  # unchanged: not marked
        # the same state again: no view changed on this update, so none is marked ...
        third = h.on_controls(*values.values(), request=req, progress=None)
        assert "view changed" not in third[0]
        # ... and once more: nothing at all for the page to update
        fourth = h.on_controls(*values.values(), request=req, progress=None)
        assert isinstance(fourth[0], type(gr.skip())) and isinstance(fourth[2], type(gr.skip()))

    def test_own_upload_clears_the_example_and_painting_with_an_upload_is_said(self):
        from webapp import handlers as h

        values = _page_values()
        req = Request("own")
        h.on_controls(*values.values(), request=req, progress=None)
        img, layer = small_case()
        out = h.on_image_upload(img, *values.values(), request=req, progress=None)
        assert out[2] == "Your own image." and h.SESSIONS.get("own").image.size == (128, 96)
        # the editor re-sending a picture that is not the session's changes nothing
        stale = h.on_editor(app.editor_value(Image.new("RGB", (512, 512)), layer), *values.values(), request=req, progress=None)
        assert all(isinstance(o, type(gr.skip())) for o in stale) and h.SESSIONS.get("own").image.size == (128, 96)
        # strokes on the session's picture: the example's mask is still uploaded, so they are
        # ignored, and the notes say so
        out = h.on_editor(app.editor_value(img, layer), *values.values(), request=req, progress=None)
        notes = out[3]
        assert "brush strokes are ignored" in notes
        cleared = h.clear_upload(*values.values(), request=req, progress=None)
        assert cleared[0] is None and "brush strokes are ignored" not in (cleared[1 + 3] if isinstance(cleared[1 + 3], str) else "")
        assert h.SESSIONS.get("own").uploaded is None

    def test_api_import_is_one_refresh_and_lists_unknown_keys_once(self):
        import base64

        from webapp import handlers as h

        img, _ = small_case()
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        body = json.dumps({"init_images": [base64.b64encode(buf.getvalue()).decode()], "width": 64, "height": 64, "zzz": 1})
        before = app.STATS["computes"]
        out = h.on_import_api(body, None, *_page_values().values(), request=Request("import"), progress=None)
        assert app.STATS["computes"] == before + 1
        status = out[2 + len(h.CONTROL_NAMES)]
        assert status.count("zzz") == 1
        assert "1×4×8×8" in out[-7]  # the summary: the imported 64×64 size

    def test_compare_is_marked_out_of_date_after_a_change(self):
        from webapp import handlers as h

        values = _page_values()
        req = Request("compare")
        h.on_controls(*values.values(), request=req, progress=None)
        peers = ("sd", 4, 0, 4, "vae_encode_for_inpaint", 6, True, 0, True, 1.0, False)
        gallery, table, status = h.on_compare(*peers, *values.values(), request=req)
        assert gallery and status == ""
        values["mask_blur_x"] = 12
        out = h.on_controls(*values.values(), request=req, progress=None)
        assert "earlier state" in out[4]

    def test_pin_and_compare_results(self):
        from webapp import handlers as h

        values = _page_values()
        req = Request("pin")
        h.on_controls(*values.values(), request=req, progress=None)
        status, gallery, table = h.on_pin(request=req)
        assert "Pinned A" in status
        values["mask_blur_x"] = 20
        out = h.on_controls(*values.values(), request=req, progress=None)
        gallery, table = out[-4], out[-3]  # then the diagnosis and its fixes
        assert "mask_blur_x 4 → 20" in table
        rows = dict(re.findall(r"\| (\w+) \| (\d+) \|", table))
        assert int(rows["blurred_mask"]) > 0 and int(rows["binary_mask"]) == 0 and int(rows["processed"]) == 0
        assert any("blurred_mask" in caption for _, caption in gallery)

    def test_export_has_the_inputs_and_real_timings(self):
        from webapp import handlers as h

        values = _page_values()
        req = Request("export")
        h.on_controls(*values.values(), request=req, progress=None)
        path, status = h.on_export(*values.values(), request=req)
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            report = json.loads(zf.read("report.json"))
        assert "inputs/image.png" in names and "inputs/mask.png" in names
        assert report["cached_stages"] == [] and report["timings_ms"]["blur"] > 0
        # a second export replaces the first one on disk
        path2, _ = h.on_export(*values.values(), request=req)
        assert not Path(path).exists() and Path(path2).exists()


class TestExposure:
    """Served beyond this machine: VAEs only from --vae-dir, bounded; no URL is ever fetched."""

    @pytest.fixture(autouse=True)
    def restore(self):
        yield
        app.configure_exposure(True, None)
        for name in [k for k in app.VAES if k not in __import__("webapp.handlers").handlers.BUILTIN_VAES]:
            app.VAES.pop(name)

    def test_shared_without_vae_dir_loads_nothing(self, tmp_path):
        from vae_factories import tiny_kl

        tiny_kl(seed=2).save_pretrained(tmp_path / "vae")
        app.configure_exposure(False, None)
        dropdown, status = app.load_vae_ui(str(tmp_path / "vae"), "auto")
        assert isinstance(dropdown, type(gr.skip())) and "VAE loading is off" in status

    def test_vae_dir_confines_paths(self, tmp_path):
        from vae_factories import tiny_kl

        (tmp_path / "models").mkdir()
        tiny_kl(seed=2).save_pretrained(tmp_path / "models" / "vae")
        tiny_kl(seed=3).save_pretrained(tmp_path / "elsewhere")
        app.configure_exposure(False, str(tmp_path / "models"))
        for outside in (str(tmp_path / "elsewhere"), "../elsewhere", str(tmp_path / "models" / ".." / "elsewhere")):
            _, status = app.load_vae_ui(outside, "auto")
            assert "only VAEs under the operator's --vae-dir" in status, outside
        _, status = app.load_vae_ui("vae", "auto")  # relative to the folder
        assert status.startswith("✅")

    def test_loaded_vaes_are_bounded(self, tmp_path):
        from vae_factories import tiny_kl

        from webapp.handlers import BUILTIN_VAES, MAX_LOADED_VAES

        for i in range(MAX_LOADED_VAES + 2):
            tiny_kl(seed=i).save_pretrained(tmp_path / f"v{i}")
            assert app.load_vae_ui(str(tmp_path / f"v{i}"), "auto")[1].startswith("✅")
        loaded = [k for k in app.VAES if k not in BUILTIN_VAES]
        assert len(loaded) == MAX_LOADED_VAES and loaded[-1].startswith(f"v{MAX_LOADED_VAES + 1}")

    def test_urls_are_refused_not_fetched(self, running_app):
        from gradio_client import Client

        client = Client(running_app, verbose=False)
        url = {"path": "https://example.com/photo.png", "url": "https://example.com/photo.png", "meta": {"_type": "gradio.FileData"}}
        with pytest.raises(Exception, match="does not fetch URLs"):
            client.predict({"background": url, "layers": [], "composite": None, "id": None}, None, *DEFAULTS.values(), api_name="/compute")


class TestDiagnosisBox:
    """#22 in the app: the Diagnosis box says what will go wrong; Apply fix removes it."""

    def test_a_thin_stroke_is_diagnosed_and_its_fix_removes_the_finding(self, page_checks):
        from webapp import handlers as h

        values = _page_values() | dict(mask_blur_x=4, mask_blur_y=4)
        req = Request("diagnosis")
        h.on_controls(*values.values(), request=req, progress=None)
        session = h.SESSIONS.get("diagnosis")
        thin = Image.new("L", session.image.size)
        thin.paste(255, (200, 100, 206, 400))  # a 6 px stroke
        session.uploaded = thin
        out = h.on_controls(*values.values(), request=req, progress=None)
        diagnosis, fixes = out[-2], out[-1]
        assert "nothing-repainted" in diagnosis and "⛔" in diagnosis and 'href="#view-' in diagnosis
        assert fixes["choices"] and fixes["visible"]
        fixed = h.on_apply_fix(fixes["choices"][0][1], *values.values(), request=req, progress=None)
        changed = [v for v in fixed[: len(h.CONTROL_NAMES)] if not isinstance(v, type(gr.skip()))]
        assert changed  # the controls the fix names are set on the page
        assert "nothing-repainted" not in fixed[-2]

    def test_a_clean_job_says_one_quiet_line(self, page_checks):
        from webapp import handlers as h

        values = _page_values() | dict(mask_blur_x=5)
        h.on_controls(*values.values(), request=Request("quiet"), progress=None)
        shown = h.SESSIONS.get("quiet").texts["diagnosis"]  # what the page shows (sent only when it changes)
        assert "No findings" in shown and "<li" not in shown

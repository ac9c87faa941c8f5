"""Bad input never hurts: clear errors, the app stays up, invariants hold everywhere."""

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import app
from inpaint_init import BLANK_MASK_NOTE, InitError, InitParams, run_init
from inpaint_init.pipeline import MAX_PIXELS


def photo(w=64, h=48, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def truncated_png() -> Image.Image:
    buf = io.BytesIO()
    photo(256, 256).save(buf, format="PNG")
    return Image.open(io.BytesIO(buf.getvalue()[: len(buf.getvalue()) // 2]))


class TestLibraryInputs:
    @pytest.mark.parametrize(
        "size,mask,params,match",
        [
            ((3000, 1), None, dict(resize_mode=2), "scale the 3000×1 image to 512×0"),
            ((3000, 1), None, dict(resize_mode=1), "more than 64 MP"),
            ((1, 700), "white", dict(inpaint_full_res=True), "too thin"),
        ],
    )
    def test_very_thin_images_are_clear_errors(self, size, mask, params, match):
        m = Image.new("L", size, 255) if mask else None
        with pytest.raises(InitError, match=match):
            run_init(Image.new("RGB", size), m, InitParams(**params))

    def test_one_by_one_in_every_mode(self):
        for mode in range(3):
            r = run_init(Image.new("RGB", (1, 1)), Image.new("L", (1, 1), 255), InitParams(width=16, height=16, resize_mode=mode, inpaint_full_res=True))
            assert r.init_latent.shape == (1, 4, 2, 2)

    @pytest.mark.parametrize("blur", [513, 20000, 1e9, float("nan")])
    def test_blur_beyond_the_bound_is_refused_at_once(self, blur):
        with pytest.raises(InitError, match="mask_blur_x must be"):
            run_init(photo(), Image.new("L", (64, 48), 255), InitParams(width=64, height=64, mask_blur_x=blur))

    def test_not_an_image(self):
        with pytest.raises(InitError, match="must be a PIL image"):
            run_init("photo.png", None, InitParams(width=64, height=64))
        with pytest.raises(InitError, match="mask must be"):
            run_init(photo(), 42, InitParams(width=64, height=64))

    def test_truncated_png(self):
        with pytest.raises(InitError, match="could not be decoded"):
            run_init(truncated_png(), None, InitParams(width=64, height=64))

    def test_decompression_bomb_is_refused_before_decoding(self):
        side = int(MAX_PIXELS**0.5) + 8
        bomb = Image.new("1", (side, side))  # tiny in memory, too many pixels for the pipeline
        with pytest.raises(InitError, match="MP; the limit is"):
            run_init(bomb, None, InitParams(width=64, height=64))

    def test_one_by_one_image(self):
        r = run_init(Image.new("RGB", (1, 1), "red"), Image.new("L", (1, 1), 255), InitParams(width=64, height=64, seed=1, inpaint_full_res=True))
        assert r.crop_region == (0, 0, 1, 1) and r.init_latent.shape == (1, 4, 8, 8)

    @pytest.mark.parametrize("fill_value,box", [(0, None), (255, None), (0, (10, 10, 11, 11))])
    def test_black_white_single_pixel_masks(self, fill_value, box):
        m = Image.new("L", (64, 48), fill_value)
        if box:
            m.paste(255, box)
        for full_res in (False, True):
            r = run_init(photo(), m, InitParams(width=64, height=64, seed=1, inpaint_full_res=full_res, inpainting_fill=0))
            assert r.init_latent.shape == (1, 4, 8, 8)
            assert (BLANK_MASK_NOTE in r.notes) == (full_res and fill_value == 0 and box is None)

    @pytest.mark.parametrize("blur", [0, 200])
    def test_extreme_blurs(self, blur):
        m = Image.new("L", (64, 48))
        m.paste(255, (20, 20, 30, 30))
        r = run_init(photo(), m, InitParams(width=64, height=64, seed=1, mask_blur_x=blur, mask_blur_y=blur, inpaint_full_res=True))
        assert r.blurred_mask.size == (64, 48)
        if blur == 0:
            assert np.array_equal(np.asarray(r.blurred_mask), np.asarray(m))

    def test_padding_larger_than_the_image(self):
        m = Image.new("L", (64, 48))
        m.paste(255, (20, 20, 30, 30))
        r = run_init(photo(), m, InitParams(width=64, height=64, seed=1, inpaint_full_res=True, inpaint_full_res_padding=10_000))
        assert r.crop_region_unexpanded == (0, 0, 64, 48)

    def test_array_inputs(self):
        r = run_init(np.asarray(photo()), np.zeros((48, 64), bool), InitParams(width=64, height=64, seed=1))
        assert r.mask is not None and float(r.nmask.sum()) == 0
        with pytest.raises(InitError, match="cannot read an image"):
            run_init(np.zeros((4, 4, 7), np.float64), None, InitParams(width=64, height=64))


params_everywhere = st.builds(
    InitParams,
    width=st.sampled_from([8, 9, 16, 40, 64, 100, 4, "64", 64.0]),
    height=st.sampled_from([8, 13, 24, 64]),
    mask_blur_x=st.sampled_from([0, 0.5, 4, 33, 200, -1, 10**6, 1e9, "abc", float("inf")]),
    mask_blur_y=st.sampled_from([0, 4, 9.5, 512, 513]),
    inpainting_mask_invert=st.sampled_from([0, 1, 2]),
    inpainting_fill=st.sampled_from([0, 1, 2, 3, 5]),
    inpaint_full_res=st.booleans(),
    inpaint_full_res_padding=st.sampled_from([0, 7, 32, 10_000, -3]),
    resize_mode=st.integers(0, 4),
    mask_round=st.booleans(),
    inpainting_mask_weight=st.sampled_from([0.0, 0.35, 1.0, float("nan")]),
    batch_size=st.sampled_from([0, 1, 2, 3, 1.5, "2"]),
    seed=st.one_of(st.integers(-1, 2**32 - 1), st.sampled_from([2**64 - 1, 2**64, 10**30, -(2**63), 1e30])),
    subseed=st.one_of(st.integers(-1, 2**32 - 1), st.sampled_from([2**70, None])),
    subseed_strength=st.sampled_from([0.0, 0.3, 1.0, float("nan")]),
    seed_resize_from_w=st.sampled_from([0, -1, 8, 72, 10**6]),
    seed_resize_from_h=st.sampled_from([0, -1, 16, 64]),
    randn_source=st.sampled_from(["GPU", "CPU", "NV", "gpu", None]),
    initial_noise_multiplier=st.sampled_from([1.0, 0.5, float("inf")]),
    img2img_extra_noise=st.sampled_from([0.0, 0.2]),
    denoising_strength=st.sampled_from([0.0, 0.4, 1.0, 1.5]),
    steps=st.sampled_from([1, 20, 0]),
    sampler_name=st.sampled_from(["Euler", "Euler a", "DPM++ 2M", "DDIM", "LMS"]),
    img2img_fix_steps=st.booleans(),
    color_correction=st.booleans(),
    model_kind=st.sampled_from(["standard", "inpainting", "inpainting-sdxl", "depth"]),
    soft_inpainting=st.sampled_from([False, True, True, "yes"]),
    mask_blend_power=st.sampled_from([0.0, 1.0, 8.0, -1.0]),
    mask_blend_scale=st.sampled_from([0.0, 0.5, 8.0]),
    inpaint_detail_preservation=st.sampled_from([1.0, 4.0, 32.0, 0.0]),
    composite_mask_influence=st.sampled_from([0.0, 0.5, 1.0]),
    composite_difference_threshold=st.sampled_from([0.0, 0.5, 8.0]),
    composite_difference_contrast=st.sampled_from([0.0, 2.0, 8.0]),
)


@settings(max_examples=200)
@given(
    params_everywhere,
    st.one_of(st.integers(1, 70), st.sampled_from([1, 2, 300])),
    st.one_of(st.integers(1, 70), st.sampled_from([1, 2, 300])),
    st.sampled_from(["L", "RGB", "RGBA", "P", "none", "other-size"]),
    st.integers(1, 2),
    st.booleans(),
    st.integers(0, 2**31),
)
def test_whole_parameter_space(p, iw, ih, mask_kind, n_images, with_latent_mask, seed):
    """Any combination, thin and 1×1 images, blurs up to 10⁹, huge seeds and wrong types included,
    either raises our InitError (with a message) or gives a consistent result."""
    rng = np.random.default_rng(seed)
    images = [photo(iw, ih, seed + i) for i in range(n_images)]
    mask = None
    if mask_kind != "none":
        mw, mh = (iw, ih) if mask_kind != "other-size" else (iw + 5, max(ih - 3, 1))
        a = (rng.random((mh, mw)) < 0.3).astype(np.uint8) * 255
        mask = Image.fromarray(a)
        if mask_kind in ("RGB", "P"):
            mask = mask.convert(mask_kind)
        elif mask_kind == "RGBA":
            mask = Image.merge("RGBA", (*Image.new("RGB", (mw, mh)).split(), Image.fromarray(a)))
    if with_latent_mask and mask is not None:
        lw, lh = (p.width, p.height) if all(type(v) is int and v > 0 for v in (p.width, p.height)) else (8, 8)
        p = p.replace(latent_mask=Image.fromarray((rng.random((lh, lw)) < 0.5).astype(np.uint8) * 255))
    try:
        r = run_init(images, mask, p)
    except InitError as e:
        assert str(e)
        return
    h, w = p.height // 8, p.width // 8
    assert r.init_latent.shape == (r.batch_size, 4, h, w) and torch.isfinite(r.init_latent).all()
    if r.mask is not None:
        assert torch.equal(r.mask + r.nmask, torch.ones_like(r.mask))
        if p.effective_mask_round:
            assert set(torch.unique(r.nmask).tolist()) <= {0.0, 1.0}
        if p.soft_inpainting:
            assert r.soft is not None and r.soft.weights.shape[1:] == (h, w)
            assert ((r.soft.weights >= 0) & (r.soft.weights <= 1)).all()
            if r.soft.overlay_mask is not None:
                assert r.soft.overlay.size == r.overlay_images[0].size
    if r.crop_region is not None:
        x1, y1, x2, y2 = r.crop_region
        assert 0 <= x1 < x2 <= mask.width and 0 <= y1 < y2 <= mask.height
        assert r.paste_to == (x1, y1, x2 - x1, y2 - y1)
    expected_cond = (r.batch_size, 5, 1, 1) if p.model_kind == "standard" else (r.batch_size, 5, h, w)
    assert tuple(r.image_conditioning.shape) == expected_cond
    assert 0 <= r.sampler_plan.start_index < len(r.sampler_plan.sigmas)


class TestApp:
    def test_binds_localhost_unless_told(self):
        args = app.parse_args([])
        assert args.host == "127.0.0.1" and not args.share
        assert app.parse_args(["--host", "0.0.0.0", "--share", "--auth", "me:secret"]).share
        # Beyond this machine only with a login, or an explicit opt-out (#25).
        for argv in (["--host", "0.0.0.0"], ["--share"], ["--share", "--auth", "nopass"]):
            with pytest.raises(SystemExit):
                app.parse_args(argv)
        assert app.parse_args(["--host", "0.0.0.0", "--insecure-no-auth"]).insecure_no_auth

    def test_uploads_are_capped_and_bombs_refused_by_pil(self):
        assert app.MAX_UPLOAD == "25mb"
        assert Image.MAX_IMAGE_PIXELS * 2 == 4096 * 4096  # the page's limit; the library's is MAX_PIXELS

    def test_other_size_mask_upload_gives_a_note(self):
        from test_app import DEFAULTS, outputs_by_name, small_case

        img, layer = small_case()
        out = app.compute(app.editor_value(img, layer), Image.new("L", (30, 20), 255), **DEFAULTS)
        assert "does not check this" in out[-2]

    def test_bad_uploads_through_the_server_leave_it_up(self, running_app, tmp_path):
        from gradio_client import Client, handle_file

        from test_app import DEFAULTS, small_case

        client = Client(running_app, verbose=False)
        not_image = tmp_path / "notes.png"
        not_image.write_bytes(b"this is not a PNG at all")
        huge = tmp_path / "huge.png"
        huge.write_bytes(b"\0" * (26 * 1024 * 1024))
        bomb = tmp_path / "bomb.png"
        side = int(MAX_PIXELS**0.5) + 64
        Image.new("1", (side, side)).save(bomb)
        with pytest.raises(Exception):  # over the upload cap: refused before it is stored
            client.predict({"background": handle_file(str(huge)), "layers": [], "composite": None, "id": None}, None, *DEFAULTS.values(), api_name="/compute")
        # Stored but unreadable: one sentence naming the input, no traceback (#25).
        for bad, said in ((not_image, "could not be read as a picture"), (bomb, "too many pixels")):
            out = client.predict({"background": handle_file(str(bad)), "layers": [], "composite": None, "id": None}, None, *DEFAULTS.values(), api_name="/compute")
            assert said in out[-1] and "Traceback" not in out[-1], out[-1]
        # Still serving, with the right answer for a good request.
        img, _ = small_case()
        good = tmp_path / "good.png"
        img.save(good)
        out = client.predict({"background": handle_file(str(good)), "layers": [], "composite": None, "id": None}, None, *DEFAULTS.values(), api_name="/compute")
        assert "1×4×16×16" in out[-2]


def test_cold_start_from_several_threads_at_once(tmp_path):
    """Two app refreshes start together at page load. In a fresh process (nothing imported yet),
    concurrent first runs must not trip over diffusers' lazy import or matplotlib's text layout."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "cold.py"
    script.write_text(
        "import threading\n"
        "from PIL import Image\n"
        "from inpaint_init import InitParams, run_init\n"
        "from inpaint_init.views import render_views\n"
        "errors = []\n"
        "def work(i):\n"
        "    try:\n"
        "        img = Image.new('RGB', (32, 32), 'gray')\n"
        "        p = InitParams(width=32, height=32, seed=1, steps=10 + i, sampler_name=['Euler', 'DDIM', 'DPM++ 2M', 'Euler a'][i % 4])\n"
        "        render_views(run_init(img, Image.new('L', (32, 32), 255), p), img)\n"
        "    except Exception as e:\n"
        "        errors.append(repr(e))\n"
        "threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print('ERRORS', errors)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert "ERRORS []" in out.stdout, out.stdout + out.stderr[-2000:]


@settings(max_examples=60)
@given(
    st.integers(1, 24), st.integers(1, 24), st.sampled_from(["standard", "inpainting", "inpainting-sdxl"]), st.booleans(),
    st.integers(0, 3), st.booleans(),
)
def test_latent_upscale_with_tiny_pictures_and_every_model_kind_is_an_init_error(w, h, kind, full_res, fill, with_mask):
    """#25's fuzz: resize mode 3 with pictures smaller than a latent cell, or whose own latent
    disagrees with the resized init latent, failed with a RuntimeError; now a sentence."""
    img = Image.new("RGB", (w, h), (100, 50, 20))
    mask = Image.new("L", (w, h), 255) if with_mask else None
    p = InitParams(width=64, height=64, resize_mode=3, model_kind=kind, inpaint_full_res=full_res, inpainting_fill=fill, seed=1)
    try:
        run_init(img, mask, p)
    except InitError as e:
        assert str(e) and "Traceback" not in str(e)

"""The img2img tabs and the Batch tab (spec webui-tabs.md): §6's numbers, §7's failures, §5's carry-over."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from inpaint_init import InitError, InitParams, run_init
from inpaint_init.webui_tabs import TABS, BatchJob, batch_jobs, fix_image, tab_inputs

ORIENT = 0x0112


def rgb(w=64, h=48, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def with_orientation(img: Image.Image, tag: int) -> Image.Image:
    """``img`` saved as PNG with an EXIF orientation tag and opened again (as an upload arrives)."""
    exif = Image.Exif()
    exif[ORIENT] = tag
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    return Image.open(io.BytesIO(buf.getvalue()))


def arr(img):
    return np.asarray(img).astype(int)


# ---- §1 per tab -------------------------------------------------------------------------------


def test_tabs_names():
    assert TABS == ("img2img", "sketch", "inpaint", "inpaint sketch", "inpaint upload")


@pytest.mark.parametrize("tab", ["img2img", "sketch"])
def test_img2img_and_sketch_ignore_mask(tab):
    im = rgb()
    t = tab_inputs(tab, image=im, mask=Image.new("L", im.size, 255))
    assert t.mask is None and np.array_equal(arr(t.image), arr(im)) and t.image.mode == "RGB"
    assert (t.width, t.height) == (512, 512)


def test_inpaint_brush_alpha_threshold_128_129():
    layer = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    for x, a in enumerate((128, 129, 255, 0)):
        layer.putpixel((x, 0), (10, 20, 30, a))
    t = tab_inputs("inpaint", image=Image.new("RGBA", (4, 1)), mask=layer)
    assert t.mask.mode == "L" and arr(t.mask).tolist() == [[0, 255, 255, 0]]


def test_inpaint_opaque_layer_is_luma_not_thresholded():
    layer = Image.new("RGBA", (2, 1), (100, 150, 200, 255))
    t = tab_inputs("inpaint", image=rgb(2, 1), mask=layer)
    # Pillow's L = (299 R + 587 G + 114 B) / 1000, rounded: 29.9 + 88.05 + 22.8 = 140.75 -> 141
    assert arr(t.mask).tolist() == [[141, 141]]


def test_inpaint_without_layer_fails():
    with pytest.raises(InitError, match="brush"):
        tab_inputs("inpaint", image=rgb())


@pytest.mark.parametrize("alpha, value", [(0, 255), (30, 178), (50, 127), (70, 76), (80, 51), (100, 0)])
def test_mask_transparency_values(alpha, value):
    orig = rgb(16, 16)
    sketch = orig.copy()
    sketch.paste((255, 0, 0), (4, 4, 8, 8))
    t = tab_inputs("inpaint sketch", image=sketch, sketch_orig=orig, mask_alpha=alpha, mask_blur=0)
    m = arr(t.mask)
    assert m[5, 5] == value and m[0, 0] == 0
    assert arr(t.sketch_difference)[5, 5] == 255
    if alpha == 100:  # no strokes left: the picture is the original
        assert np.array_equal(arr(t.image), arr(orig))


def test_80_percent_is_float32_not_double():
    assert int((1 - 80 / 100) * 255) == 50  # what double precision would give
    t = tab_inputs("inpaint sketch", image=Image.new("RGB", (2, 2), "red"), sketch_orig=Image.new("RGB", (2, 2)), mask_alpha=80)
    assert set(arr(t.mask).ravel()) == {51}


def test_difference_any_channel_and_alpha():
    orig = Image.new("RGBA", (4, 1), (10, 20, 30, 255))
    sketch = orig.copy()
    sketch.putpixel((0, 0), (10, 20, 31, 255))  # one channel changed
    sketch.putpixel((1, 0), (10, 20, 30, 254))  # alpha only
    sketch.putpixel((2, 0), (10, 20, 30, 255))  # the underlying colour: not a stroke
    t = tab_inputs("inpaint sketch", image=sketch, sketch_orig=orig, mask_blur=0)
    assert arr(t.sketch_difference).tolist() == [[255, 255, 0, 0]]


def test_sketch_without_original_has_empty_mask():
    t = tab_inputs("inpaint sketch", image=rgb())
    assert t.mask.getextrema() == (0, 0)


def test_sketch_composite_formula_and_mask_not_blurred():
    """Pillow's composite, checked against the spec's integer formula on PIL-blurred inputs."""
    orig = rgb(40, 32, seed=3)
    sketch = orig.copy()
    sketch.paste((0, 255, 0), (10, 8, 25, 20))
    t = tab_inputs("inpaint sketch", image=sketch, sketch_orig=orig, mask_alpha=30, mask_blur=3)
    diff = np.zeros((32, 40), np.uint8)
    diff[8:20, 10:25] = 255
    step3 = np.where(diff == 255, 178, 0).astype(np.uint8)
    assert np.array_equal(arr(t.mask), step3)  # the step-3 mask, not the blurred one
    m = arr(Image.fromarray(step3).filter(ImageFilter.GaussianBlur(3)))[..., None]
    s = arr(sketch.filter(ImageFilter.GaussianBlur(3)))
    tt = arr(orig) * (255 - m) + s * m + 128
    assert np.array_equal(arr(t.image), ((tt >> 8) + tt) >> 8)
    assert np.array_equal(arr(t.sketch_blurred_mask)[..., None], m)


def test_sketch_failures():
    a = rgb(16, 16)
    with pytest.raises(InitError, match="size"):
        tab_inputs("inpaint sketch", image=a, sketch_orig=rgb(16, 17))
    with pytest.raises(InitError, match="mode"):
        tab_inputs("inpaint sketch", image=a, sketch_orig=a.convert("RGBA"))
    for mode in ("L", "P", "1"):
        with pytest.raises(InitError, match="channel"):
            tab_inputs("inpaint sketch", image=a.convert(mode), sketch_orig=a.convert(mode))


def test_sketch_composite_keeps_exif_and_turns_mask_does_not():
    orig = with_orientation(rgb(40, 24), 6)  # rotate 270: 40x24 -> 24x40
    sketch = orig.copy()
    sketch.paste((255, 255, 255), (0, 0, 5, 5))
    sketch.info = dict(orig.info)
    t = tab_inputs("inpaint sketch", image=sketch, sketch_orig=orig)
    assert t.image.size == (24, 40) and t.mask.size == (40, 24)
    assert any("EXIF" in n for n in t.notes)


def test_inpaint_upload_soft_mask_kept_and_none_allowed():
    soft = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), "L")
    t = tab_inputs("inpaint upload", image=rgb(8, 8), mask=soft)
    assert np.array_equal(arr(t.mask), arr(soft))
    grey = Image.new("RGB", (8, 8), (90, 90, 90))
    assert tab_inputs("inpaint upload", image=rgb(8, 8), mask=grey).mask.mode == "RGB"
    assert tab_inputs("inpaint upload", image=rgb(8, 8)).mask is None


# ---- §2 fix_image ------------------------------------------------------------------------------


def test_fix_image_exif_turns_each_image_by_its_own_tag():
    im = with_orientation(rgb(30, 20), 6)
    mask = with_orientation(Image.new("L", (30, 20)), 3)  # 180°: size unchanged
    t = tab_inputs("inpaint upload", image=im, mask=mask)
    assert t.image.size == (20, 30) and t.mask.size == (30, 20)
    assert ORIENT not in t.image.getexif()
    plain = np.asarray(rgb(30, 20))
    assert np.array_equal(np.asarray(t.image), np.rot90(plain, -1))  # tag 6: 90° clockwise


def test_fix_image_palette_transparency():
    p = Image.new("P", (2, 1))
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.putpixel((1, 0), 1)
    p.info["transparency"] = b"\x00\xff"
    fixed = fix_image(p)
    assert fixed.mode == "RGBA" and fixed.getpixel((0, 0))[3] == 0 and fixed.getpixel((1, 0)) == (255, 0, 0, 255)
    single = p.copy()
    single.info["transparency"] = 0  # one transparent index (int): left alone
    assert fix_image(single).mode == "P"
    key = Image.new("RGB", (2, 1))
    key.info["transparency"] = (0, 0, 0)
    assert fix_image(key).mode == "RGB"


def test_inputs_not_modified():
    im = with_orientation(rgb(20, 10), 6)
    before = (im.size, dict(im.info), im.tobytes())
    layer = Image.new("RGBA", (20, 10))
    tab_inputs("inpaint", image=im, mask=layer)
    tab_inputs("inpaint sketch", image=im, sketch_orig=im.copy(), mask_blur=2)
    assert (im.size, dict(im.info), im.tobytes()) == before and layer.getextrema()[-1] == (0, 0)


# ---- §3 Resize by ------------------------------------------------------------------------------


@pytest.mark.parametrize("size, scale, out", [((61, 47), 1.37, (83, 64)), ((96, 80), 0.5, (48, 40)), ((100, 76), 0.29, (28, 22))])
def test_resize_by_truncates(size, scale, out):
    t = tab_inputs("img2img", image=rgb(*size), scale_by=scale, width=8, height=8)
    assert (t.width, t.height) == out
    p = t.params(InitParams(steps=7))
    assert (p.width, p.height, p.steps) == (*out, 7)


def test_resize_by_without_picture_and_no_picture():
    with pytest.raises(InitError, match="scale"):
        tab_inputs("img2img", image=None, scale_by=0.5)
    for tab in TABS:
        with pytest.raises(InitError, match="picture"):
            tab_inputs(tab, image=None)


def test_unknown_tab():
    for bad in ("Inpaint", "inpaint_sketch", "", None):
        with pytest.raises(InitError, match="tab"):
            tab_inputs(bad, image=rgb())


# ---- params, blur and range rules --------------------------------------------------------------


def test_params_changes_only_size_and_blur():
    base = InitParams(seed=5, inpaint_full_res=True, inpainting_fill=0)
    p = tab_inputs("img2img", image=rgb(), mask_blur=9, width=64, height=72).params(base)
    assert p == base.replace(width=64, height=72, mask_blur_x=9, mask_blur_y=9)


def test_non_integer_blur_init_keeps_4():
    t = tab_inputs("inpaint sketch", image=rgb(16, 16), mask_blur=2.5)
    p = t.params(InitParams(mask_blur_x=11, mask_blur_y=11))
    assert (p.mask_blur_x, p.mask_blur_y) == (4, 4) and t.mask_blur == 2.5
    assert any("not an integer" in n for n in t.notes)


@pytest.mark.parametrize("blur", [float("nan"), float("inf"), -1, 10**6, "4"])
def test_bad_blur_never_reaches_pil(blur):
    with pytest.raises(InitError, match="mask_blur"):
        tab_inputs("inpaint sketch", image=rgb(16, 16), mask_blur=blur)


@pytest.mark.parametrize("alpha", [-1, 100.5, float("nan")])
def test_mask_alpha_outside_range(alpha):
    with pytest.raises(InitError, match="mask_alpha"):
        tab_inputs("inpaint sketch", image=rgb(16, 16), mask_alpha=alpha)


@pytest.mark.parametrize("tab", TABS)
def test_run_init_on_each_tab(tab):
    im = rgb(64, 64, seed=1)
    sketch = im.copy()
    sketch.paste((255, 0, 0), (20, 20, 40, 40))
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (20, 20, 40, 40))
    kw = {"inpaint sketch": dict(image=sketch, sketch_orig=im), "inpaint": dict(image=im, mask=layer)}.get(
        tab, dict(image=im, mask=Image.new("L", (64, 64), 255))
    )
    t = tab_inputs(tab, **kw, width=64, height=64)
    r = run_init(t.image, t.mask, t.params(InitParams(seed=3)))
    assert tuple(r.init_latent.shape) == (1, 4, 8, 8)
    assert (r.binary_mask is None) == (tab in ("img2img", "sketch"))


# ---- §4 the batch ------------------------------------------------------------------------------


def save(path: Path, img=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    (img if img is not None else rgb(16, 12)).save(path, **kw)
    return path


def test_batch_natural_order(tmp_path):
    names = ["a10/z.png", "rot.jpg", "img20.png", ".hid/h.png", "Img3.png", "t.tiff", "pal.png", "a2/z.png", ".dot.png"]
    for n in names:
        save(tmp_path / n)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "a2" / "readme.md").write_text("x")
    got = [str(j.image_path.relative_to(tmp_path)) for j in batch_jobs(tmp_path)]
    assert got == [".dot.png", "Img3.png", "img20.png", "pal.png", "rot.jpg", "t.tiff", ".hid/h.png", "a2/z.png", "a10/z.png"]


def test_batch_upper_case_extension_and_reading(tmp_path):
    save(tmp_path / "x.PNG")
    rot = with_orientation(rgb(20, 10), 6)
    rot.save(tmp_path / "y.png", exif=rot.getexif().tobytes())
    jobs = batch_jobs(tmp_path, scale_by=0.5)
    assert [j.image_path.name for j in jobs] == ["x.PNG", "y.png"]
    assert (jobs[1].params.width, jobs[1].params.height) == (5, 10)  # of the oriented 10x20 image
    images, mask = jobs[1].load()
    assert images[0].size == (10, 20) and mask is None


def test_batch_mask_matching(tmp_path):
    inp, md = tmp_path / "in", tmp_path / "m"
    for n in ("a.png", "b.jpg", "c.PNG", "e.PNG"):
        save(inp / n)
    (inp / "broken.png").write_text("not an image")
    for n in ("a.b.png", "b.webp", "e.png"):
        save(md / n, Image.new("L", (16, 12), 255))
    jobs = {j.image_path.name: j for j in batch_jobs(inp, mask_dir=md)}
    assert list(jobs) == ["a.png", "b.jpg", "broken.png", "c.PNG", "e.PNG"]
    assert jobs["a.png"].mask_path.name == "a.b.png" and jobs["b.jpg"].mask_path.name == "b.webp"
    assert jobs["e.PNG"].mask_path.name == "e.png"
    assert "unreadable" in jobs["broken.png"].skipped and jobs["broken.png"].mask_path is None
    assert "no mask" in jobs["c.PNG"].skipped and jobs["c.PNG"].mask_path is None
    assert all(jobs[n].skipped is None for n in ("a.png", "b.jpg", "e.PNG"))
    with pytest.raises(InitError, match="skipped"):
        jobs["c.PNG"].load()


def test_batch_single_mask_and_readme_counts(tmp_path):
    inp, md = tmp_path / "in", tmp_path / "m"
    for n in ("m.png", "x.png"):
        save(inp / n)
    save(md / "mask.png", Image.new("L", (16, 12), 255))
    save(md / ".hidden.png", Image.new("L", (16, 12)))  # hidden: not a candidate
    assert [j.mask_path.name for j in batch_jobs(inp, mask_dir=md)] == ["mask.png", "mask.png"]
    md2 = tmp_path / "m2"
    save(md2 / "m.jpg.png", Image.new("L", (16, 12), 255))
    (md2 / "readme.txt").write_text("masks")
    jobs = batch_jobs(inp, mask_dir=md2)
    assert jobs[0].mask_path.name == "m.jpg.png" and jobs[1].skipped and jobs[1].mask_path is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [j.mask_path for j in batch_jobs(inp, mask_dir=empty)] == [None, None]


def test_batch_several_matches_first_by_name_with_note(tmp_path):
    inp, md = tmp_path / "in", tmp_path / "m"
    save(inp / "a.png")
    for n in ("a.z.png", "a.png", "b.png"):
        save(md / n, Image.new("L", (16, 12), 255))
    (job,) = batch_jobs(inp, mask_dir=md)
    assert job.mask_path.name == "a.png" and any("listing order" in n for n in job.notes)


def test_batch_matched_text_file_fails_or_skips(tmp_path):
    inp, md = tmp_path / "in", tmp_path / "m"
    save(inp / "k1.png")
    save(inp / "k2.png")
    save(md / "k1.png", Image.new("L", (16, 12), 255))
    (md / "k2.txt").write_text("no")
    with pytest.raises(InitError, match="k2"):
        batch_jobs(inp, mask_dir=md)
    jobs = batch_jobs(inp, mask_dir=md, on_error="skip")
    assert jobs[0].skipped is None and "k2.txt" in jobs[1].skipped
    with pytest.raises(InitError, match="on_error"):
        batch_jobs(inp, on_error="ignore")


def test_batch_carry_over_only_masked(tmp_path):
    inp, md = tmp_path / "in", tmp_path / "m"
    soft = Image.new("L", (32, 32))
    soft.paste(200, (8, 8, 20, 20))
    masks = [soft, Image.new("L", (32, 32)), soft, soft]
    for i, m in enumerate(masks):
        save(inp / f"i{i}.png", rgb(32, 32, seed=i))
        save(md / f"i{i}.png", m)
    base = InitParams(inpaint_full_res=True, width=32, height=32, seed=1)
    jobs = batch_jobs(inp, mask_dir=md, base=base)
    assert [j.params.inpaint_full_res for j in jobs] == [True, True, False, False]
    assert any("Whole picture" in n for n in jobs[1].notes) and any("latent mask" in n for n in jobs[1].notes)
    assert any("crop box of i0.png" in n for n in jobs[2].notes)
    images, mask = jobs[1].load()
    r = run_init(images, mask, jobs[1].params)
    assert r.inpaint_full_res is False  # the blank image's own init reports the switch


def test_batch_blank_by_blur_and_by_invert(tmp_path):
    inp, md = tmp_path / "in", tmp_path / "m"
    dot = Image.new("L", (32, 32))
    dot.putpixel((16, 16), 255)  # blur 13 rounds one pixel away
    good = Image.new("L", (32, 32))
    good.paste(255, (4, 4, 20, 20))
    for i, m in enumerate([dot, good]):
        save(inp / f"i{i}.png", rgb(32, 32))
        save(md / f"i{i}.png", m)
    base = InitParams(inpaint_full_res=True, mask_blur_x=13, mask_blur_y=13)
    assert [j.params.inpaint_full_res for j in batch_jobs(inp, mask_dir=md, base=base)] == [True, False]
    white = Image.new("L", (32, 32), 255)
    save(md / "i0.png", white)
    inverted = base.replace(inpainting_mask_invert=1, mask_blur_x=4, mask_blur_y=4)
    assert [j.params.inpaint_full_res for j in batch_jobs(inp, mask_dir=md, base=inverted)] == [True, False]
    assert [j.params.inpaint_full_res for j in batch_jobs(inp, mask_dir=md, base=base.replace(inpaint_full_res=False))] == [False, False]


def test_batch_seed_minus_one_shared(tmp_path, monkeypatch):
    for n in ("a.png", "b.png", "c.png"):
        save(tmp_path / n)
    random.seed(0)
    jobs = batch_jobs(tmp_path, base=InitParams(seed=-1))
    seeds = {j.params.seed for j in jobs}
    assert len(seeds) == 1 and 0 <= seeds.pop() < 4294967294
    assert {j.params.seed for j in batch_jobs(tmp_path, base=InitParams(seed=77))} == {77}


def png_with_text(path: Path, text: str):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", text)
    save(path, pnginfo=info)


def test_png_info_fields(tmp_path):
    png_with_text(tmp_path / "a.png", 'cat\nNegative prompt: dog\nSteps: 7, Sampler: Euler a, Seed: 42, Size: 96x96, Mask blur: 9')
    png_with_text(tmp_path / "b.png", "Steps: 7, Seed: 42")  # two pairs: no parameters line
    png_with_text(tmp_path / "c.png", "x\nSteps: 9, Sampler: DPM++ 2M Karras, Seed: 3")
    base = InitParams(seed=5, steps=20, sampler_name="DDIM", mask_blur_x=4)
    jobs = batch_jobs(tmp_path, png_info=True, png_info_props=("Seed", "Steps", "Sampler"), base=base)
    a, b, c = (j.params for j in jobs)
    assert (a.seed, a.steps, a.sampler_name, a.width, a.mask_blur_x) == (42, 7, "Euler a", 512, 4)
    assert (b.seed, b.steps, b.sampler_name) == (5, 20, "DDIM")
    assert (c.seed, c.steps, c.sampler_name) == (3, 9, "DDIM") and any("Karras" in n for n in jobs[2].notes)
    only_seed = batch_jobs(tmp_path, png_info=True, png_info_props=("Seed",), base=base)[0].params
    assert (only_seed.seed, only_seed.steps) == (42, 20)
    off = batch_jobs(tmp_path, png_info=False, png_info_props=("Seed",), base=base)[0].params
    assert off.seed == 5


def test_png_info_dir_and_exif_comment(tmp_path):
    inp, info_dir = tmp_path / "in", tmp_path / "info"
    save(inp / "a.png")
    save(inp / "b.png")
    png_with_text(info_dir / "a.png", "x\nSteps: 11, Sampler: Euler, Seed: 8")
    jobs = batch_jobs(inp, png_info=True, png_info_props=("Seed", "Steps"), png_info_dir=info_dir)
    assert [(j.params.seed, j.params.steps) for j in jobs][0] == (8, 11) and jobs[1].params.steps == 20
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "Steps: 13, Sampler: Euler, Seed: 21".encode("utf_16_be")
    save(tmp_path / "e" / "e.jpg", exif=exif.tobytes())
    (job,) = batch_jobs(tmp_path / "e", png_info=True, png_info_props=("Seed", "Steps"))
    assert (job.params.seed, job.params.steps) == (21, 13)


@pytest.mark.parametrize("text", ["x\nSteps: twenty, Sampler: Euler, Seed: 1", "x\nSteps: 5, Sampler: Euler, Seed: 1.5"])
def test_png_info_non_integer_aborts(tmp_path, text):
    png_with_text(tmp_path / "bad.png", text)
    with pytest.raises(InitError, match="bad.png"):
        batch_jobs(tmp_path, png_info=True, png_info_props=("Seed", "Steps"))
    (job,) = batch_jobs(tmp_path, png_info=True, png_info_props=("Seed", "Steps"), on_error="skip")
    assert "not an integer" in job.skipped
    # not among the props: never read, never an error
    assert batch_jobs(tmp_path, png_info=True, png_info_props=("Sampler",))[0].skipped is None


def test_batch_input_dir_must_be_folder(tmp_path):
    with pytest.raises(InitError, match="input_dir"):
        batch_jobs(tmp_path / "nope")
    save(tmp_path / "a.png")
    with pytest.raises(InitError, match="mask_dir"):
        batch_jobs(tmp_path, mask_dir=tmp_path / "a.png")
    assert isinstance(batch_jobs(tmp_path)[0], BatchJob)

"""The CLI's tab options and ``python -m inpaint_init batch`` on generated folders (64 px)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from inpaint_init.cli import main


def rgb(seed=0, size=64):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def square_mask(box=(16, 16, 40, 40), size=64):
    m = Image.new("L", (size, size))
    if box:
        m.paste(255, box)
    return m


@pytest.fixture
def folders(tmp_path):
    inp, md = tmp_path / "in", tmp_path / "masks"
    (inp / "sub").mkdir(parents=True)
    md.mkdir()
    rgb(1).save(inp / "img2.png")
    rgb(2).save(inp / "img10.png")
    rgb(3).save(inp / "sub" / "img3.png")
    (inp / "broken.png").write_text("not a picture")
    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 9, Sampler: Euler a, Seed: 1234")
    rgb(4).save(inp / "blank.png", pnginfo=info)
    square_mask().save(md / "img2.png")
    square_mask().save(md / "img10.png")
    square_mask(None).save(md / "blank.png")
    square_mask().save(md / "img3.png")
    return inp, md


def test_batch_lists_and_exports(folders, tmp_path, capsys):
    inp, md = folders
    out = tmp_path / "out"
    rc = main(["batch", str(inp), "--mask-dir", str(md), "--png-info", "--png-info-props", "Seed,Steps",
               "--width", "64", "--height", "64", "--only-masked", "--seed", "5", "--out", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rows = json.loads((out / "jobs.json").read_text())["jobs"]
    # natural order: top-level files (blank, broken, img2, img10), then sub/
    assert [r["file"] for r in rows] == ["blank.png", "broken.png", "img2.png", "img10.png", "sub/img3.png"]
    blank, broken, img2, img10, img3 = rows
    assert "unreadable" in broken["skipped"] and "export" not in broken
    assert (blank["seed"], blank["steps"], blank["sampler"]) == (1234, 9, "DPM++ 2M")  # Sampler not in the props
    assert img2["seed"] == 5 and img2["size"] == "64x64"
    # the blank mask (first) switches Only masked off for every later image
    assert [r["inpaint_area"] for r in (blank, img2, img10, img3)] == ["Only masked"] + ["Whole picture"] * 3
    assert any("Blank mask" in n for n in blank["notes"]) and any("switched Only masked off" in n for n in img3["notes"])
    for r in (blank, img2, img10, img3):
        folder = Path(r["export"])
        report = json.loads((folder / "report.json").read_text())
        assert report["params"]["inpaint_full_res"] == (r is blank)
        assert (folder / "inputs" / "mask.png").is_file() and (folder / "stages" / "blurred_mask.png").is_file()
    assert "skipped: unreadable" in captured.out and "mask=" in captured.out
    assert "4/4" in captured.err  # the progress bar


def test_batch_scale_by_and_list_only(folders, tmp_path, capsys):
    inp, _ = folders
    out = tmp_path / "o"
    assert main(["batch", str(inp), "--scale-by", "0.5", "--list-only", "--out", str(out)]) == 0
    rows = json.loads((out / "jobs.json").read_text())["jobs"]
    assert {r["size"] for r in rows if not r["skipped"]} == {"32x32"} and not any("export" in r for r in rows)


def test_batch_png_info_abort_and_keep_going(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    info = PngInfo()
    info.add_text("parameters", "x\nSteps: twenty, Sampler: Euler, Seed: 1")
    rgb().save(inp / "bad.png", pnginfo=info)
    args = ["batch", str(inp), "--png-info", "--png-info-props", "Steps", "--width", "64", "--height", "64", "--list-only"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert main(args + ["--keep-going", "--out", str(tmp_path / "b")]) == 0
    assert "not an integer" in json.loads((tmp_path / "b" / "jobs.json").read_text())["jobs"][0]["skipped"]
    assert main(["batch", str(inp), "--png-info-props", "seed", "--out", str(tmp_path / "c")]) == 2


def test_single_job_inpaint_sketch(tmp_path):
    orig = rgb(7)
    sketch = orig.copy()
    sketch.paste((255, 0, 0), (20, 20, 44, 44))
    orig.save(tmp_path / "orig.png")
    sketch.save(tmp_path / "sketch.png")
    out = tmp_path / "out"
    rc = main([str(tmp_path / "sketch.png"), "--tab", "inpaint-sketch", "--sketch-orig", str(tmp_path / "orig.png"),
               "--mask-alpha", "50", "--mask-blur", "4", "--width", "64", "--height", "64", "--out", str(out)])  # fmt: skip
    assert rc == 0
    m = np.asarray(Image.open(out / "tab" / "sketch_mask.png"))
    assert m[30, 30] == 127 and m[0, 0] == 0  # 50 % transparency: 127, which the latent mask rounds to nothing
    assert (out / "tab" / "sketch_composite.png").is_file() and (out / "tab" / "sketch_difference.png").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["mask_blur_x"] == 4


def test_single_job_scale_by_and_errors(tmp_path, capsys):
    Image.new("RGB", (100, 76), "gray").save(tmp_path / "a.png")
    square_mask(size=100).resize((100, 76)).save(tmp_path / "m.png")
    out = tmp_path / "o"
    assert main([str(tmp_path / "a.png"), str(tmp_path / "m.png"), "--scale-by", "0.29", "--out", str(out)]) == 0
    assert json.loads((out / "report.json").read_text())["params"]["width"] == 28
    assert main([str(tmp_path / "a.png"), "--mask-alpha", "30", "--out", str(out)]) == 2
    assert main([str(tmp_path / "a.png"), "--tab", "inpaint", "--out", str(out)]) == 2
    assert "brush" in capsys.readouterr().err
    assert main([str(tmp_path / "a.png"), "--tab", "inpaint-sketch", "--mask-alpha", "120", "--out", str(out)]) == 2

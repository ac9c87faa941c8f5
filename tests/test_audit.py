"""The audit end to end: a generated folder, a local Dask cluster (2 workers, 127.0.0.1, no
dashboard), findings.csv and report.html checked against the library job by job."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inpaint_init import InitParams, diagnose, run_init
from inpaint_init.audit import CSV_COLUMNS, main

pytest.importorskip("distributed")
webui_tabs = pytest.importorskip("inpaint_init.webui_tabs")


def ellipse(size, box) -> Image.Image:
    m = Image.new("L", size)
    ImageDraw.Draw(m).ellipse(box, fill=255)
    return m


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """img1-img5 (64-128 px), masks by stem; img3's mask is blank, img4 has none; broken.png is
    text; notes.txt is not an image name at all."""
    root = tmp_path_factory.mktemp("audit")
    images, masks = root / "images", root / "masks"
    images.mkdir(), masks.mkdir()
    rng = np.random.default_rng(3)
    sizes = {"img1": (96, 64), "img2": (64, 64), "img3": (80, 80), "img4": (64, 96), "img5": (128, 96)}
    for stem, (w, h) in sizes.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(images / f"{stem}.png")
    ellipse(sizes["img1"], (20, 10, 70, 50)).save(masks / "img1.png")
    thin = Image.new("L", sizes["img2"])
    thin.paste(255, (30, 0, 36, 64))  # a 6 px stroke: nothing repainted at blur 4
    thin.save(masks / "img2.png")
    Image.new("L", sizes["img3"]).save(masks / "img3.png")  # blank
    ellipse(sizes["img5"], (30, 20, 90, 80)).save(masks / "img5.png")
    (images / "broken.png").write_text("not an image")
    (images / "notes.txt").write_text("not a job")
    return images, masks


@pytest.fixture(scope="module")
def cluster():
    from inpaint_init.audit import local_cluster

    with local_cluster(2) as c:
        yield c


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


ARGS = ["--width", "64", "--height", "64", "--seed", "1", "--only-masked", "--no-progress"]


def test_audit_end_to_end(folder, cluster, tmp_path, capsys):
    images, masks = folder
    out = tmp_path / "out"
    rc = main([str(images), "--mask-dir", str(masks), "--out", str(out), "--scheduler", cluster.scheduler_address, *ARGS])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = read_csv(out / "findings.csv")
    assert rows and list(rows[0]) == list(CSV_COLUMNS)
    by_file = {}
    for r in rows:
        by_file.setdefault(Path(r["file"]).name, []).append(r)
    assert set(by_file) == {"broken.png", "img1.png", "img2.png", "img3.png", "img4.png", "img5.png"}  # no notes.txt
    assert summary["jobs"] == 6
    # Bad files are rows with their error, never a traceback.
    for name in ("broken.png", "img4.png"):
        (row,) = by_file[name]
        assert row["error"] and not row["id"]
    # Every other job: exactly the library's findings for the job the webui's batch builds.
    jobs = webui_tabs.batch_jobs(images, mask_dir=masks, base=InitParams(width=64, height=64, seed=1, inpaint_full_res=True), on_error="skip")
    for job in jobs:
        if job.skipped:
            continue
        images, mask = job.load()
        want = [f.as_dict() for f in diagnose(run_init(images, mask, job.params, decode=False), images, mask)]
        got = [r for r in by_file[Path(job.image_path).name] if r["id"]]
        assert [(r["id"], r["severity"], json.loads(r["numbers"]), json.loads(r["fix"]) if r["fix"] else None) for r in got] == [
            (f["id"], f["severity"], f["numbers"], f["fix"]) for f in want
        ]
    ids = {name: [r["id"] for r in rs] for name, rs in by_file.items()}
    assert "blank-mask-fallback" in ids["img3.png"]
    assert "nothing-repainted" in ids["img2.png"]
    # After the blank mask the shared processing object runs Whole picture (webui-tabs §5).
    later = [j for j in jobs if Path(j.image_path).name == "img5.png"][0]
    assert later.params.inpaint_full_res is False
    text = (out / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "6 of 6 jobs audited." in text
    assert text.count("class='card'") == 6
    for note in later.notes:
        assert html.escape(note) in text  # the job's batch notes on its card
    assert "<td class='error'>⛔ blank-mask-fallback</td><td>error</td><td>1</td>" in text  # the summary table
    thumbs = sorted((out / "thumbs").glob("*.png"))
    assert len(thumbs) == 4 and all(Image.open(t).size == (2 * 160 + 4, 160) for t in thumbs)


def test_interrupted_audit_keeps_what_it_did(folder, cluster, tmp_path, monkeypatch):
    from distributed import Client

    from inpaint_init import audit

    images, masks = folder
    jobs = webui_tabs.batch_jobs(images, mask_dir=masks, base=InitParams(width=64, height=64, seed=1), on_error="skip")
    calls = []

    def step(self):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(audit._Progress, "step", step)
    with Client(cluster) as client, pytest.raises(KeyboardInterrupt):
        audit.run_audit(jobs, tmp_path / "o", client, progress=False)
    rows = read_csv(tmp_path / "o" / "findings.csv")
    assert len({r["job"] for r in rows}) == 2  # both finished jobs are on disk
    assert f"2 of {len(jobs)} jobs audited (interrupted)." in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("extra", [["--workers", "0"], ["--width", "3"], ["--resize-mode", "7"]])
def test_bad_arguments_exit_2(folder, tmp_path, extra, capsys):
    images, masks = folder
    assert main([str(images), "--mask-dir", str(masks), "--out", str(tmp_path / "o"), *extra]) == 2
    assert not (tmp_path / "o").exists()


def test_missing_input_folder_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_cli_dispatches_audit(tmp_path):
    from inpaint_init.cli import main as cli_main

    assert cli_main(["audit", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2


def test_default_local_cluster_one_mask_for_every_image(tmp_path, capsys):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir(), masks.mkdir()
    for n in ("a", "b"):
        Image.new("RGB", (64, 64), "gray").save(images / f"{n}.png")
    ellipse((64, 64), (16, 16, 48, 48)).save(masks / "only.png")  # one candidate: the mask of every image
    rc = main([str(images), "--mask-dir", str(masks), "--out", str(tmp_path / "o"), "--workers", "1", *ARGS])
    assert rc == 0
    rows = read_csv(tmp_path / "o" / "findings.csv")
    assert sorted(Path(r["file"]).name for r in rows) == ["a.png", "b.png"]
    assert all(Path(r["mask"]).name == "only.png" and not r["error"] for r in rows)

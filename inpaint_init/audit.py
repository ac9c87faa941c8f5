"""``python -m inpaint_init audit``: init and the findings over a folder of jobs, on Dask.

    python -m inpaint_init audit INPUT_DIR [--mask-dir DIR] [--png-info] [webui options] --out OUT
                                 [--scheduler ADDRESS | --workers N]

The jobs are built as the webui's img2img batch builds them (:func:`inpaint_init.webui_tabs.
batch_jobs`, webui-tabs.md §4-5: natural order, masks by stem, the carried-over Only masked).
Each job runs on a ``dask.distributed`` worker (a local cluster of processes by default, an
existing scheduler with ``--scheduler``; the same code path), and its rows are appended to
``OUT/findings.csv`` as it finishes, so an interrupted audit keeps what it did. ``OUT/report.html``
has one card per job (thumbnails in ``OUT/thumbs/``) and a table of ids × counts.

CSV columns (:data:`CSV_COLUMNS`): one row per job and finding, in the order jobs finish (``job``
is the job's index in batch order); a job without findings has one row with an empty ``id``; a
job that could not run (skipped by the batch, unreadable) has one row with its ``error``.
Exit status: 0 when the audit ran (whatever it found), 2 on bad arguments, 130 when interrupted.
With ``--scheduler``, the workers must see INPUT_DIR and the mask folder at the same paths and
be able to import ``inpaint_init``; the files are read on the workers.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from .pipeline import InitError, InitParams

__all__ = ["CSV_COLUMNS", "audit_job", "run_audit", "main", "build_parser", "local_cluster"]

CSV_COLUMNS = ("job", "file", "mask", "id", "severity", "message", "numbers", "fix", "error")
THUMB = 160


def build_parser() -> argparse.ArgumentParser:
    from .cli import add_webui_options

    ap = argparse.ArgumentParser(prog="python -m inpaint_init audit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("input_dir", help="folder of init images (walked recursively, as the webui's batch does)")
    ap.add_argument("--out", required=True, help="output folder (findings.csv, report.html, thumbs/)")
    ap.add_argument("--mask-dir", help="folder of masks: one file for all images, else matched by stem")
    ap.add_argument("--png-info", action="store_true", help="take Seed/Steps/Sampler from each image's PNG info")
    ap.add_argument("--png-info-props", default="Seed,Steps,Sampler", help="which PNG-info fields count (comma separated)")
    ap.add_argument("--png-info-dir", help="read the PNG info from the same-named files of this folder")
    ap.add_argument("--scale-by", type=float, help="Resize by: each image's size × this (replaces width/height)")
    d = ap.add_argument_group("Dask")
    d.add_argument("--scheduler", metavar="ADDRESS", help="an existing dask.distributed scheduler (default: a local cluster)")
    d.add_argument("--workers", type=int, default=2, help="local cluster: worker processes (default 2)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_webui_options(ap)
    return ap


def local_cluster(workers: int):
    """A LocalCluster of single-threaded worker processes bound to 127.0.0.1, no dashboard."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None, silence_logs=40)  # fmt: skip


def _load(job):
    """(images, mask) of a BatchJob, read on the worker: ``batch_size`` copies of the picture."""
    images, mask = job.load()
    return images, mask


def audit_job(job, thumb: int = THUMB) -> dict:
    """Run one BatchJob: init, findings with their fixes searched, a thumbnail (PNG bytes).

    Returns a plain, picklable dict: file, mask, findings (list of dicts, worst first), notes,
    error (None or one sentence), thumb (bytes or None), seconds. Never raises for a bad file.
    """
    from .findings import diagnose
    from .pipeline import run_init

    start = time.perf_counter()
    out = {"file": str(job.image_path), "mask": "" if job.mask_path is None else str(job.mask_path),
           "findings": [], "notes": list(getattr(job, "notes", []) or []), "error": None, "thumb": None}  # fmt: skip
    try:
        if job.skipped:
            raise InitError(f"skipped by the webui's batch: {job.skipped}")
        images, mask = _load(job)
        result = run_init(images, mask, job.params, decode=False)
        out["findings"] = [f.as_dict() for f in diagnose(result, images, mask)]
        out["notes"] += result.notes
        out["thumb"] = _thumbnail(result, thumb)
    except InitError as e:
        out["error"] = str(e)
    except Exception as e:  # a bad file is a row, never a traceback (the audit goes on)
        out["error"] = f"{type(e).__name__}: {e}"
    out["seconds"] = time.perf_counter() - start
    return out


def _thumbnail(result, size: int) -> bytes:
    """PNG: the blurred mask (left) and the repainted latent cells in red over the processed
    image (right), each fitted into ``size``×``size``."""
    import io

    import numpy as np
    from PIL import Image

    base = result.processed_images[0].convert("RGB")
    if result.nmask is not None:
        L = result.nmask[0].float().cpu().numpy() >= 0.5
        cells = np.zeros((base.height, base.width), bool)
        cells[: 8 * L.shape[0], : 8 * L.shape[1]] = np.kron(L, np.ones((8, 8), bool))
        arr = np.asarray(base).astype(np.float32)
        arr[cells] = arr[cells] * 0.45 + np.array([255, 0, 0]) * 0.55
        base = Image.fromarray(arr.astype(np.uint8))
    left = result.blurred_mask.convert("RGB") if result.blurred_mask is not None else Image.new("RGB", base.size, (40, 40, 40))
    sheet = Image.new("RGB", (2 * size + 4, size), "white")
    for i, im in enumerate((left, base)):
        k = size / max(im.size)  # small pictures are enlarged with nearest, so cells stay visible
        im = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))),
                       Image.Resampling.LANCZOS if k < 1 else Image.Resampling.NEAREST)  # fmt: skip
        sheet.paste(im, (i * (size + 4) + (size - im.width) // 2, (size - im.height) // 2))
    buf = io.BytesIO()
    sheet.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def _rows(done: dict) -> list[dict]:
    base = {"job": done["job"], "file": done["file"], "mask": done["mask"], "id": "", "severity": "", "message": "", "numbers": "",
            "fix": "", "error": done["error"] or ""}  # fmt: skip
    if done["error"] or not done["findings"]:
        return [base]
    return [base | {"id": f["id"], "severity": f["severity"], "message": f["message"], "numbers": json.dumps(f["numbers"]),
                    "fix": "" if f["fix"] is None else json.dumps(f["fix"])} for f in done["findings"]]  # fmt: skip


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done, self.start = total, enabled, 0, time.perf_counter()

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        filled = int(30 * self.done / max(self.total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} jobs  {rate:.1f} jobs/s")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run_audit(jobs, out: Path, client, progress: bool = True, thumb: int = THUMB) -> list[dict]:
    """Run ``jobs`` on the Dask ``client``, stream ``out/findings.csv``, then ``out/report.html``.

    Returns the jobs' dicts (without thumbnails) in job order. If interrupted, the CSV keeps
    every finished job and report.html is written for them.
    """
    from distributed import as_completed

    from .audit_report import write_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "thumbs").mkdir(exist_ok=True)
    done: dict[int, dict] = {}
    bar = _Progress(len(jobs), progress)
    futures = {client.submit(audit_job, job, thumb, pure=False): i for i, job in enumerate(jobs)}
    try:
        with open(out / "findings.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            fh.flush()
            for fut in as_completed(futures):
                i = futures[fut]
                item = dict(fut.result()) | {"job": i}
                thumb_bytes = item.pop("thumb", None)
                if thumb_bytes:
                    (out / "thumbs" / f"{i:06d}.png").write_bytes(thumb_bytes)
                    item["thumb_path"] = f"thumbs/{i:06d}.png"
                writer.writerows(_rows(item))
                fh.flush()
                done[i] = item
                bar.step()
    finally:
        for fut in futures:
            fut.cancel()
        write_report(out / "report.html", [done[i] for i in sorted(done)], total=len(jobs))
    return [done[i] for i in sorted(done)]


def _jobs(args, base: InitParams):
    from .webui_tabs import batch_jobs

    props = tuple(p.strip() for p in args.png_info_props.split(",") if p.strip())
    return batch_jobs(args.input_dir, mask_dir=args.mask_dir, scale_by=args.scale_by, png_info=args.png_info,
                      png_info_props=props, png_info_dir=args.png_info_dir, base=base, on_error="skip")  # fmt: skip


def main(argv=None) -> int:
    from .cli import _overrides

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: 2 on bad arguments, 0 for --help
        return int(e.code or 0)
    try:
        if not Path(args.input_dir).is_dir():
            raise InitError(f"INPUT_DIR {args.input_dir} is not a folder")
        if args.mask_dir is not None and not Path(args.mask_dir).is_dir():
            raise InitError(f"--mask-dir {args.mask_dir} is not a folder")
        if args.scheduler is None and not 1 <= args.workers <= 64:
            raise InitError(f"--workers must be between 1 and 64, got {args.workers}")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise InitError(f"--out {out} exists and is not a folder")
        base = InitParams().replace(**_overrides(args))
        base.validate()
        jobs = _jobs(args, base)
    except InitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from distributed import Client

    cluster = None
    try:
        cluster = None if args.scheduler else local_cluster(args.workers)
        client = Client(args.scheduler or cluster, timeout="20s")
    except (OSError, TimeoutError, RuntimeError, ValueError) as e:
        if cluster is not None:
            cluster.close()
        where = f"the scheduler at {args.scheduler}" if args.scheduler else "a local Dask cluster"
        print(f"error: cannot reach {where} ({e})", file=sys.stderr)
        return 2
    try:
        with client:
            results = run_audit(jobs, out, client, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {out / 'findings.csv'} and report.html keep the finished jobs", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.close()
    found = sum(len(r["findings"]) for r in results)
    errors = sum(1 for r in results if r["error"])
    print(json.dumps({"out": str(out), "jobs": len(results), "findings": found, "job_errors": errors}))
    return 0

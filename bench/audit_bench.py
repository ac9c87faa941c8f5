"""Audit benchmark: python -m bench.audit_bench [--jobs 24] [--size 512]

Jobs/s of ``python -m inpaint_init audit``'s job runner (:func:`inpaint_init.audit.run_audit`)
on a LocalCluster of 1 and of 2 single-threaded worker processes (127.0.0.1, no dashboard),
over a generated folder of ``--jobs`` photos-like images of ``--size``² with elliptic masks
(Mask blur 4, masked content "fill", whole picture). Cluster start-up and the workers'
imports are excluded (one warm-up job per worker first); CSV, thumbnails and report.html are
included, as the audit writes them.

Per-job memory: the worker's peak RSS (ru_maxrss) after the jobs minus its RSS after a 64²
warm-up job: what one job at a time adds on top of an idle, imported worker.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def make_folder(root: Path, jobs: int, size: int) -> tuple[Path, Path]:
    """``jobs`` images and masks by stem under root/images and root/masks."""
    rng = np.random.default_rng(0)
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for i in range(jobs):
        base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((size, size), Image.Resampling.BICUBIC).save(images / f"job{i:04d}.png")
        m = Image.new("L", (size, size))
        x, y = rng.integers(size // 8, size // 2, 2)
        ImageDraw.Draw(m).ellipse((int(x), int(y), int(x) + size // 3, int(y) + size // 3), fill=255)
        m.save(masks / f"job{i:04d}.png")
    return images, masks


def _rss() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in bytes (Linux)."""
    import resource

    with open("/proc/self/statm") as fh:
        current = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(workers: int, jobs, warm, out: Path) -> dict:
    from distributed import Client

    from inpaint_init.audit import audit_job, local_cluster, run_audit

    with local_cluster(workers) as cluster, Client(cluster) as client:
        # Warm-up: every worker imports and runs one job before the clock starts.
        client.run(lambda: __import__("inpaint_init.audit"))
        for w in client.scheduler_info()["workers"]:
            client.submit(audit_job, warm, pure=False, workers=[w]).result()
        before = client.run(_rss)
        start = time.perf_counter()
        run_audit(jobs, out, client, progress=False)
        seconds = time.perf_counter() - start
        after = client.run(_rss)
    extra = max(after[w][1] - before[w][0] for w in after)
    return {"workers": workers, "jobs": len(jobs), "seconds": seconds, "jobs_per_s": len(jobs) / seconds,
            "worker_rss_mb": max(v[0] for v in before.values()) / 2**20, "per_job_peak_mb": extra / 2**20}  # fmt: skip


def main(argv=None) -> int:
    from inpaint_init import InitParams
    from inpaint_init.webui_tabs import batch_jobs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=24)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        images, masks = make_folder(Path(tmp) / "jobs", args.jobs, args.size)
        base = InitParams(width=args.size, height=args.size, seed=1, inpainting_fill=0)
        jobs = batch_jobs(images, mask_dir=masks, base=base, on_error="skip")
        # A 64² warm-up job: imports and lazy set-up, without reaching a 512² job's peak memory.
        wi, wm = make_folder(Path(tmp) / "warm", 2, 64)
        warm = batch_jobs(wi, mask_dir=wm, base=base.replace(width=64, height=64), on_error="skip")[0]
        rows = [measure(n, jobs, warm, Path(tmp) / f"out{n}") for n in (1, 2)]
    print(f"{'workers':>7} {'jobs':>5} {'s':>7} {'jobs/s':>7} {'worker RSS MB':>13} {'per-job peak MB':>15}")
    for r in rows:
        print(f"{r['workers']:>7} {r['jobs']:>5} {r['seconds']:>7.2f} {r['jobs_per_s']:>7.2f} {r['worker_rss_mb']:>13.0f} "
              f"{r['per_job_peak_mb']:>15.1f}")
    print(f"speed-up 1 → 2 workers: ×{rows[1]['jobs_per_s'] / rows[0]['jobs_per_s']:.2f} (cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

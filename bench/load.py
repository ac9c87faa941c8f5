"""Many clients at once: python -m bench.load [--clients 8 20] [--seconds 60]

Starts the app (``python app.py``) as its own process on 127.0.0.1 with a private temporary
folder, then runs N gradio_client clients against the stateless ``/compute`` API (image and mask
uploaded with every call), each for ``--seconds``, each with its own sequence of Mask blur x /
padding values so that the stage cache does not answer everything. Each answer's blurred-mask
and crop-box pictures are downloaded and decoded (a truncated file is an error); the other 17
are not: downloading all 19 with gradio_client costs the client ~0.4 s of Python per request
on this machine, which would measure the client, not the server. Per request: latency (call +
the two downloads); whether the answer is for *this* request (the captions name the blur and
the crop that was asked for: "cross-talk" otherwise); any error. Server RSS (from /proc) and the
disk used by the app's pictures and Gradio's cache are sampled after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _disk_mb(folder: Path) -> float:
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total / 2**20


def _start_server(tmp: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmp), GRADIO_TEMP_DIR=str(tmp / "gradio"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not start")


def _inputs(tmp: Path):
    from gradio_client import handle_file

    from inpaint_init.examples import load_example

    image, mask, _ = load_example("Astronaut: face, whole picture")
    image.save(tmp / "photo.png")
    mask.save(tmp / "mask.png")
    editor = {"background": handle_file(str(tmp / "photo.png")), "layers": [], "composite": None, "id": None}
    return editor, handle_file(str(tmp / "mask.png"))


def _client_loop(url, editor, mask, index, seconds, results, downloads):
    from gradio_client import Client

    from webapp.layout import DEFAULT_VALUES

    import io

    from PIL import Image

    client = Client(url, verbose=False, download_files=False)
    keys = list(__import__("inpaint_init.views", fromlist=["VIEW_NAMES"]).VIEW_NAMES)
    blurred_i = 2 * keys.index("blurred_mask") + 1
    crop_i = 2 * keys.index("crop") + 1
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        blur = (index * 7 + i * 3) % 40
        padding = (index * 8 + i * 4) % 64
        values = dict(DEFAULT_VALUES) | dict(mask_blur_x=blur, inpaint_full_res=True, inpaint_full_res_padding=padding)
        start = time.monotonic()
        try:
            out = client.predict(editor, mask, *values.values(), api_name="/compute")
            for i_pic in (blurred_i - 1, crop_i - 1):
                with urllib.request.urlopen(out[i_pic]["url"], timeout=30) as response:
                    Image.open(io.BytesIO(response.read())).load()  # raises on a truncated file
            latency = time.monotonic() - start
            ok_blur = f"blur x {blur}," in out[blurred_i] or f"blur x {blur} " in out[blurred_i]
            m = re.search(r"crop \((\d+), (\d+), (\d+), (\d+)\)", out[crop_i])
            results.append((latency, None, not ok_blur or m is None, (blur, padding), m.groups() if m else None))
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            results.append((time.monotonic() - start, f"{type(e).__name__}: {str(e)[:120]}", False, (blur, padding), None))
        i += 1


def run(client_counts, seconds: int) -> list[tuple]:
    from tests.conftest import free_port

    tmp = Path(tempfile.mkdtemp(prefix="inpaint-init-load-"))
    port = free_port()
    proc = _start_server(tmp, port)
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        editor, mask = _inputs(tmp)
        downloads = tmp / "downloads"
        # warm-up: imports, first runs, caches
        warm = []
        _client_loop(url, editor, mask, 99, 8, warm, downloads)
        for n in client_counts:
            rss0, disk0 = _rss_mb(proc.pid), _disk_mb(tmp) - _disk_mb(downloads)
            results: list = []
            threads = [threading.Thread(target=_client_loop, args=(url, editor, mask, i, seconds, results, downloads)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            shutil.rmtree(downloads, ignore_errors=True)
            rss1, disk1 = _rss_mb(proc.pid), _disk_mb(tmp)
            latencies = sorted(r[0] for r in results if r[1] is None)
            errors = [r[1] for r in results if r[1] is not None]
            # Cross-talk: a caption for another request's blur, or a crop that differs from the
            # one every other answer for the same blur and padding gave.
            crops: dict = {}
            for r in results:
                if r[4] is not None:
                    crops.setdefault(r[3], set()).add(r[4])  # (blur, padding) → crops seen
            crosstalk = sum(r[2] for r in results) + sum(len(v) - 1 for v in crops.values())
            p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
            rows.append((n, seconds, len(results), len(results) / seconds, statistics.median(latencies) if latencies else float("nan"),
                         p95, max(latencies, default=float("nan")), len(errors), crosstalk, rss0, rss1, disk0, disk1, errors[:3]))  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, nargs="+", default=[8, 20])
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args(argv)
    rows = run(args.clients, args.seconds)
    print("| clients | s | requests | req/s | p50 s | p95 s | max s | errors | cross-talk | server RSS MB | pictures + Gradio cache MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for n, s, count, rate, p50, p95, mx, errors, crosstalk, rss0, rss1, disk0, disk1, samples in rows:
        print(f"| {n} | {s} | {count} | {rate:.1f} | {p50:.2f} | {p95:.2f} | {mx:.2f} | {errors} | {crosstalk} | {rss0:.0f} → {rss1:.0f} | {disk0:.0f} → {disk1:.0f} |")
        for e in samples:
            print(f"    error: {e}")


if __name__ == "__main__":
    main()

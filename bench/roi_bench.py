"""Big photos (issue #19): a Mask blur x change at 4096², ours (region of interest) beside the plain path.

    python -m bench.roi_bench [--size 4096] [--changes 7]

Scenario: an N×N photo (the Astronaut upscaled), an 800×1200 ellipse painted as alpha, processing
1024×1024, weightless VAE, masked content "original", a StageCache as the app has it (256 MB); one
warm-up run, then ``--changes`` runs each with another Mask blur x. Both "Only masked" and
"Whole picture". Printed: median ms per change, that over the median of one NumPy copy of the
picture timed in the same run (between the changes; into memory already in use, and into new
memory as a stage's output must be), and the median per-stage times
(``InitResult.timings``) - where the time goes.

"plain" is the code before #19: the whole-image blur / invert / bbox / resizes / overlay (the
functions ``tests/test_roi.py`` takes as references, patched in for the ROI ones) and a cache
that hashes the input pictures on every run. Both paths' results are asserted byte-identical.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from inpaint_init import CheapApproxVAE, InitParams, StageCache, _roi, run_init  # noqa: E402
from inpaint_init.masks import blur_mask, invert_mask  # noqa: E402
from inpaint_init.overlay import make_overlay  # noqa: E402

ROI = {name: getattr(_roi, name) for name in ("blur_roi", "invert_roi", "nonzero_box", "lanczos_roi", "overlay_roi", "doubled_roi", "crop_known")}
PLAIN = {
    "blur_roi": blur_mask,
    "invert_roi": invert_mask,
    "nonzero_box": lambda m: m.getbbox(alpha_only=False),
    "lanczos_roi": lambda im, size: im.resize(size, resample=Image.Resampling.LANCZOS),
    "overlay_roi": lambda image, mask, base=None: make_overlay(image, mask),
    "doubled_roi": lambda m: Image.fromarray(np.clip(np.asarray(m).astype(np.float32) * 2, 0, 255).astype(np.uint8)),
    "crop_known": lambda im, region: im.crop(region),
}
SHOWN = ("blur", "crop_region", "mask_resize", "overlay", "latent_mask", "noise", "decode")


def scene(n: int) -> tuple[Image.Image, Image.Image]:
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((n, n), Image.Resampling.LANCZOS)
    alpha = Image.new("L", (n, n), 0)
    cx, cy = n // 2, int(n * 0.45)
    ImageDraw.Draw(alpha).ellipse((cx - 400, cy - 600, cx + 400, cy + 600), fill=255)
    mask = Image.merge("RGBA", (*Image.new("RGB", (n, n), "white").split(), alpha))
    return image, mask


def use(path: dict) -> None:
    for name, fn in path.items():
        setattr(_roi, name, fn)


def changes(image, mask, full_res: bool, plain: bool, count: int):
    use(PLAIN if plain else ROI)
    try:
        vae = CheapApproxVAE()
        cache = StageCache(max_bytes=256 * 2**20, frozen_inputs=not plain)  # the app's size
        p = InitParams(width=1024, height=1024, inpaint_full_res=full_res, mask_blur_x=4, mask_blur_y=4, inpainting_fill=1)
        run_init(image, mask, p, vae, cache=cache)
        picture = np.asarray(image)
        into = np.empty_like(picture)
        totals, copies, stages, results = [], ([], []), {}, []
        for i in range(count):
            t = time.perf_counter()
            np.copyto(into, picture)  # into memory already in use
            copies[0].append(time.perf_counter() - t)
            t = time.perf_counter()
            picture.copy()  # into new memory, as a stage output must
            copies[1].append(time.perf_counter() - t)
            t = time.perf_counter()
            r = run_init(image, mask, replace(p, mask_blur_x=5 + i), vae, cache=cache)
            totals.append(time.perf_counter() - t)
            for k, v in r.timings.items():
                stages.setdefault(k, []).append(v)
            results.append(fingerprint(r))  # not the result itself: a session keeps only its last one
            del r
        return totals, copies, stages, results
    finally:
        use(ROI)


def fingerprint(r) -> tuple:
    from inpaint_init.cache import image_digest

    pics = [r.blurred_mask, r.image_mask, r.mask_for_overlay, *r.overlay_images]
    return (r.crop_region, *(image_digest(p) for p in pics))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--changes", type=int, default=7)
    args = ap.parse_args(argv)
    image, mask = scene(args.size)
    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    print(f"{args.size}² photo, 800×1200 ellipse, processing 1024², weightless VAE; median of {args.changes} Mask blur x changes\n")
    print("| mode | path | blur change ms | one copy ms (warm / new memory) | × a warm copy | × a new copy | " + " | ".join(SHOWN) + " |")
    print("|---|---|---:|---:|---:|---:|" + "---:|" * len(SHOWN))
    for full_res, label in ((True, "Only masked"), (False, "Whole picture")):
        outs = {}
        for plain in (True, False):
            totals, copies, stages, results = outs[plain] = changes(image, mask, full_res, plain, args.changes)
            per = " | ".join(f"{ms(stages[k]):.1f}" if k in stages else "-" for k in SHOWN)
            name = "plain (before #19)" if plain else "**ours (ROI)**"
            warm, new = ms(copies[0]), ms(copies[1])
            print(f"| {label} | {name} | {ms(totals):.0f} | {warm:.1f} / {new:.1f} | {ms(totals) / warm:.1f}× | {ms(totals) / new:.1f}× | {per} |")
        assert outs[True][3] == outs[False][3], "ROI and plain results differ"


if __name__ == "__main__":
    main()

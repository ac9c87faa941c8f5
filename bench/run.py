"""Stage benchmark: python -m bench.run [--sizes 512 1024 2048] [--repeats 5] [--memory]

1. Each mask-side stage in inpaint_init against the plain reference (bench/plain_reference.py),
   same inputs, outputs asserted identical before timing; median of ``--repeats`` runs.
2. ``run_init`` end to end with the weightless VAE (no cache), a cached Mask-blur change, and
   the app's whole server-side refresh for that change (``app.compute``: init + every view).
3. With ``--memory``: the app's RSS after 10, 50 and 100 blur-slider changes at 2048² (the stage
   cache is bounded in bytes, so RSS must level off).

Scenario: an N×N photo, an elliptic brush mask over ~12 % of it, Mask blur 4, processing size
N×N, whole picture, masked content "fill" (so the fill runs); the crop row uses Only masked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from bench import plain_reference as ref  # noqa: E402
from inpaint_init import (  # noqa: E402
    CheapApproxVAE,
    InitParams,
    StageCache,
    blur_mask,
    create_binary_mask,
    expand_crop_region,
    fill,
    get_crop_region,
    latent_mask_image,
    make_overlay,
    resize_image,
    run_init,
)


def scene(n: int) -> tuple[Image.Image, Image.Image]:
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((n, n), Image.Resampling.LANCZOS)
    alpha = Image.new("L", (n, n), 0)
    ImageDraw.Draw(alpha).ellipse((int(0.35 * n), int(0.15 * n), int(0.65 * n), int(0.6 * n)), fill=255)
    mask = Image.merge("RGBA", (*Image.new("RGB", (n, n), "white").split(), alpha))
    return image, mask


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def same(a, b, what):
    a = np.asarray(a) if not isinstance(a, tuple) else a
    b = np.asarray(b) if not isinstance(b, tuple) else b
    ok = a == b if isinstance(a, tuple) else np.array_equal(a, b)
    if not ok:
        raise AssertionError(f"{what}: our output differs from the plain reference")


def stage_table(n: int, repeats: int) -> list[tuple[str, float, float]]:
    image, brush = scene(n)
    binary = create_binary_mask(brush)
    blurred = blur_mask(binary, 4, 4)
    img_mask = resize_image(0, blurred, n, n)
    box = expand_crop_region(get_crop_region(np.asarray(blurred), 32), n, n, n, n)
    cases = [
        ("binary mask", lambda: create_binary_mask(brush), lambda: ref.binary_mask(brush)),
        ("blur x/y", lambda: blur_mask(binary, 4, 4), lambda: ref.blur(binary, 4, 4)),
        (
            "crop region",
            lambda: expand_crop_region(get_crop_region(np.asarray(blurred), 32), n, n, n, n),
            lambda: ref.expand(ref.crop_region(blurred, 32), n, n, n, n),
        ),
        ("mask resize (mode 2)", lambda: resize_image(2, blurred.crop(box), n, n), lambda: ref.resize(2, blurred.crop(box), n, n)),
        ("overlay", lambda: make_overlay(image, img_mask), lambda: _plain_overlay(image, img_mask)),
        ("fill", lambda: fill(image, img_mask), lambda: ref.fill(image, img_mask)),
        ("latent mask", lambda: latent_mask_image(img_mask, n // 8, n // 8), lambda: img_mask.convert("RGB").resize((n // 8, n // 8))),
    ]
    rows = []
    for name, ours, plain in cases:
        same(ours(), plain(), name)
        rows.append((name, median_ms(ours, repeats), median_ms(plain, repeats)))
    return rows


def _plain_overlay(image, mask):
    from PIL import ImageOps

    canvas = Image.new("RGBa", image.size)
    canvas.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    return canvas.convert("RGBA")


def app_args(n: int, blur: int, fill_mode: int = 1) -> dict:
    """The page's first control values (webapp.layout.DEFAULT_VALUES) with this scenario's."""
    from webapp.layout import DEFAULT_VALUES

    return dict(DEFAULT_VALUES) | dict(
        mask_blur_x=blur, mask_blur_y=4, inpainting_fill=fill_mode, inpaint_full_res=False, width=n, height=n, seed=1,
        sampler_name="Euler",
    )


def pipeline_rows(n: int, repeats: int) -> dict[str, float]:
    import app

    image, brush = scene(n)
    vae = CheapApproxVAE()
    out = {}
    for label, fill_mode in (("run_init, content original", 1), ("run_init, content fill", 0)):
        p = InitParams(width=n, height=n, seed=1, inpainting_fill=fill_mode)
        out[label] = median_ms(lambda: run_init(image, brush, p, vae=vae), repeats)
    cache = StageCache()
    p = InitParams(width=n, height=n, seed=1)
    blurs = iter(range(1, 10_000))

    def change():
        run_init(image, brush, p.replace(mask_blur_x=next(blurs) % 30 + 1), vae=vae, cache=cache)

    run_init(image, brush, p, vae=vae, cache=cache)
    out["blur change, cached run_init"] = median_ms(change, repeats)
    editor = app.editor_value(image, brush)
    app.compute(editor, None, **app_args(n, 4))

    def refresh():
        app.compute(editor, None, **app_args(n, next(blurs) % 30 + 1))

    out["blur change, app refresh (init + all views)"] = median_ms(refresh, repeats)
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(n: int = 2048, checkpoints=(10, 50, 100)) -> list[tuple[int, float, float]]:
    """(changes, RSS MB, stage-cache MB) after each checkpoint of blur changes at n×n."""
    import app

    image, brush = scene(n)
    editor = app.editor_value(image, brush)
    app.compute(editor, None, **app_args(n, 4))
    out = [(0, rss_mb(), app.CACHE.nbytes / 2**20)]
    for i in range(1, max(checkpoints) + 1):
        app.compute(editor, None, **app_args(n, i % 60 + 1))
        if i in checkpoints:
            out.append((i, rss_mb(), app.CACHE.nbytes / 2**20))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args(argv)
    print(f"median of {args.repeats} runs after a warm-up; {os.cpu_count()} CPUs\n")
    print("| stage | size | ours ms | plain ms | plain / ours |\n|---|---:|---:|---:|---:|")
    for n in args.sizes:
        rows = stage_table(n, args.repeats)
        for name, ours, plain in rows:
            print(f"| {name} | {n}² | {ours:.1f} | {plain:.1f} | {plain / ours:.2f}× |", flush=True)
        total_o, total_p = sum(r[1] for r in rows), sum(r[2] for r in rows)
        print(f"| **total** | {n}² | **{total_o:.1f}** | **{total_p:.1f}** | **{total_p / total_o:.2f}×** |", flush=True)
    print("\n| end to end (weightless VAE) | size | ms |\n|---|---:|---:|")
    for n in args.sizes:
        for label, ms in pipeline_rows(n, args.repeats).items():
            print(f"| {label} | {n}² | {ms:.1f} |", flush=True)
    if args.memory:
        print("\n| blur changes at 2048² | app RSS MB | stage cache MB |\n|---:|---:|---:|")
        for changes, rss, cached in memory():
            print(f"| {changes} | {rss:.0f} | {cached:.0f} |", flush=True)


if __name__ == "__main__":
    main()

"""Command line: the same export as the app, without the UI.

    python -m inpaint_init IMAGE MASK --out DIR [webui-style options]
    python -m inpaint_init --payload request.json --out DIR
    python -m inpaint_init IMAGE MASK --infotext webui_output.png --out DIR
    python -m inpaint_init IMAGE MASK --sweep mask_blur_x=0,4,8,16 --out DIR
    python -m inpaint_init SKETCH --tab inpaint-sketch --sketch-orig ORIG --mask-alpha 30 --out DIR
    python -m inpaint_init batch INPUT_DIR [--mask-dir DIR] [--png-info] --out DIR   (batch --help)
    python -m inpaint_init audit INPUT_DIR [--mask-dir DIR] [--png-info] [options] --out OUT  (see audit.py)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from PIL import Image  # noqa: E402

from .cache import StageCache  # noqa: E402
from .pipeline import InitError, InitParams, run_init  # noqa: E402
from .soft_inpainting import SOFT_PARAMS  # noqa: E402
from .flavour import FORGE_TRY_REPRODUCE  # noqa: E402
from .tabs_cli import add_tab_arguments, apply_tab, export_tab  # noqa: E402

__all__ = ["main", "build_parser", "parse_sweep", "sweep_grid", "SWEEP_VIEWS"]

FILL_CHOICES = {"fill": 0, "original": 1, "latent noise": 2, "latent nothing": 3, "0": 0, "1": 1, "2": 2, "3": 3}
#: Views shown per sweep value (columns of the grid).
SWEEP_VIEWS = ("blurred_mask", "crop", "filled", "latent_mask_overlay", "paste_back")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m inpaint_init", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", nargs="?", help="init image")
    ap.add_argument("mask", nargs="?", help="mask image (RGBA alpha or black/white; 255 = repaint); omit for plain img2img")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--zip", action="store_true", help="also write DIR.zip")
    ap.add_argument("--payload", help="an img2img API request body (JSON) to run instead of IMAGE/MASK")
    ap.add_argument("--infotext", help="a webui PNG (or a text file) whose parameters to start from")
    ap.add_argument("--sweep", help="NAME=V1,V2,…: one row per value in grid.png (e.g. mask_blur_x=0,4,8,16)")
    ap.add_argument("--json", action="store_true", help="print one JSON document (summary, notes, findings) and nothing else")
    add_webui_options(ap)
    v = ap.add_argument_group("VAE")
    v.add_argument("--vae", help="local VAE path (default: the weightless approximation)")
    v.add_argument("--vae-family", choices=["auto", "sd1", "sdxl", "sd3", "flux"], default="auto")
    v.add_argument("--posterior", choices=["sample", "mean"], default="sample")
    add_tab_arguments(ap)
    return ap


def add_webui_options(ap: argparse.ArgumentParser) -> None:
    """The webui's parameters as options (shared with ``audit``); read back by :func:`_overrides`."""
    g = ap.add_argument_group("webui parameters (override --infotext / --payload)")
    g.add_argument("--width", type=int)
    g.add_argument("--height", type=int)
    g.add_argument("--mask-blur", type=float, help="sets x and y")
    g.add_argument("--mask-blur-x", type=float)
    g.add_argument("--mask-blur-y", type=float)
    g.add_argument("--invert", action="store_const", const=1, dest="inpainting_mask_invert", help="Inpaint not masked")
    g.add_argument("--fill", choices=list(FILL_CHOICES), help="masked content")
    g.add_argument("--only-masked", action="store_const", const=True, dest="inpaint_full_res", help="Inpaint area: Only masked")
    g.add_argument("--whole-picture", action="store_const", const=False, dest="inpaint_full_res")
    g.add_argument("--padding", type=int, dest="inpaint_full_res_padding", help="Only masked padding, pixels")
    g.add_argument("--resize-mode", type=int, choices=[0, 1, 2, 3])
    g.add_argument("--no-round", action="store_const", const=False, dest="mask_round", help="mask_round off")
    g.add_argument("--seed", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--model-kind", choices=["standard", "inpainting", "inpainting-sdxl"])
    g.add_argument("--mask-weight", type=float, dest="inpainting_mask_weight")
    g.add_argument("--color-correction", action="store_const", const=True)
    g.add_argument("--sampler", dest="sampler_name")
    g.add_argument("--steps", type=int)
    g.add_argument("--denoising-strength", type=float)
    g.add_argument("--fix-steps", action="store_const", const=True, dest="img2img_fix_steps")
    g.add_argument("--flavour", choices=["webui", "forge"], help="whose rules: webui v1.10.1 (default) or Forge (dfdcbab6)")
    g.add_argument("--forge-try-reproduce", choices=list(FORGE_TRY_REPRODUCE), help="Forge's 'Try to reproduce' option")
    n = ap.add_argument_group("noise (the webui's seed extras and settings)")
    n.add_argument("--rng", choices=["GPU", "CPU", "NV"], dest="randn_source", help="random number generator source (default GPU)")
    n.add_argument("--subseed", type=int, help="variation seed")
    n.add_argument("--subseed-strength", type=float, help="variation strength")
    n.add_argument("--seed-resize-from", metavar="WxH", help="resize seed from width x height")
    n.add_argument("--ensd", type=int, dest="eta_noise_seed_delta", help="eta noise seed delta")
    n.add_argument("--noise-multiplier", type=float, dest="initial_noise_multiplier")
    n.add_argument("--extra-noise", type=float, dest="img2img_extra_noise")
    s = ap.add_argument_group("soft inpainting (the webui's built-in extension)")
    s.add_argument("--soft-inpainting", action="store_const", const=True, help="turn soft inpainting on")
    for sp in SOFT_PARAMS:
        s.add_argument(f"--{sp.name.replace('_', '-')}", type=float, help=f"{sp.label} (default {sp.default:g})")


def vae_from_args(args):
    """The VAE ``--vae/--vae-family/--posterior`` name, or None; a load failure is an InitError
    (the CLI's one-line exit 2). Imported only when asked for: diffusers takes seconds."""
    if not args.vae:
        return None
    from .vae_loaders import VAELoadError, load_vae

    try:
        return load_vae(args.vae, family=args.vae_family, posterior=args.posterior)
    except VAELoadError as e:
        raise InitError(str(e)) from e


def _overrides(args) -> dict:
    names = {f.name for f in dataclasses.fields(InitParams)}
    out = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if args.mask_blur is not None:
        out.setdefault("mask_blur_x", args.mask_blur)
        out.setdefault("mask_blur_y", args.mask_blur)
    if args.fill is not None:
        out["inpainting_fill"] = FILL_CHOICES[args.fill]
    if args.seed_resize_from is not None:
        try:
            w, h = (int(v) for v in args.seed_resize_from.lower().split("x"))
        except ValueError:
            raise InitError(f"--seed-resize-from {args.seed_resize_from!r} is not WIDTHxHEIGHT") from None
        out["seed_resize_from_w"], out["seed_resize_from_h"] = w, h
    return out


def parse_sweep(spec: str) -> tuple[str, list]:
    """``"mask_blur_x=0,4,8"`` → ``("mask_blur_x", [0, 4, 8])``, values typed like the field."""
    if "=" not in spec:
        raise InitError(f"--sweep wants NAME=V1,V2,…, got {spec!r}")
    name, values = spec.split("=", 1)
    name = name.strip()
    field = {f.name: f for f in dataclasses.fields(InitParams)}.get(name)
    if field is None or name == "latent_mask":
        raise InitError(f"--sweep: {name!r} is not a parameter; choose one of {[f.name for f in dataclasses.fields(InitParams) if f.name != 'latent_mask']}")
    kind = str(field.type)  # the annotation ("float", "int", "bool", "str"), not the default's type
    out = []
    for raw in values.split(","):
        raw = raw.strip()
        try:
            if kind == "bool":
                out.append(raw.lower() in ("1", "true", "yes", "on"))
            elif kind == "int":
                out.append(int(raw))
            elif kind == "float":
                out.append(float(raw))
            else:
                out.append(raw)
        except ValueError as e:
            raise InitError(f"--sweep {name}: {raw!r} is not a {kind}") from e
    if not out or out == [""]:
        raise InitError(f"--sweep {name}: no values")
    return name, out


def sweep_grid(image, mask, params: InitParams, name: str, values: list, vae=None, tile: int = 256) -> Image.Image:
    """One row per value of ``name``, the :data:`SWEEP_VIEWS` as columns (like the webui's X/Y plot)."""
    from .export import labelled_grid
    from .views import VIEW_NAMES, render_views

    cache = StageCache()
    rows = []
    for value in values:
        result = run_init(image, mask, params.replace(**{name: value}), vae=vae, cache=cache)
        views = render_views(result, image if isinstance(image, Image.Image) else image[0])
        rows.append([views[k].image for k in SWEEP_VIEWS])
    return labelled_grid(rows, [f"{name} = {v}" for v in values], [VIEW_NAMES[k] for k in SWEEP_VIEWS], tile=tile)


def _open(path: str, what: str) -> Image.Image:
    from .pipeline import MAX_PIXELS

    if Path(path).exists() and not Path(path).is_file():
        raise InitError(f"{what} {path} is not a regular file")
    too_big = f"the limit is {MAX_PIXELS // 2**20} MP (8192×8192)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            img = Image.open(path)
        # The size is in the header: refuse a bomb before decoding it.
        if img.width * img.height > MAX_PIXELS:
            raise InitError(f"{what} {path} is {img.width}×{img.height} = {img.width * img.height / 2**20:.0f} MP; {too_big}")
        img.load()
        return img
    except InitError:
        raise
    except Image.DecompressionBombError as e:
        raise InitError(f"{what} {path} has too many pixels to decode ({e}); {too_big}") from e
    except FileNotFoundError as e:
        raise InitError(f"{what} {path} does not exist") from e
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
        raise InitError(f"{what} {path} is not a readable image ({e})") from e


#: The largest request body read (the app's upload cap is the same).
MAX_PAYLOAD = 25 * 2**20


def read_text_file(path, what: str, limit: int = MAX_PAYLOAD) -> str:
    path = Path(path)
    if not path.exists():
        raise InitError(f"{what} {path} does not exist")
    if not path.is_file():
        raise InitError(f"{what} {path} is not a regular file")
    if path.stat().st_size > limit:
        raise InitError(f"{what} {path} is {path.stat().st_size / 2**20:.0f} MB; the limit is {limit // 2**20} MB")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InitError(f"{what} {path} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise InitError(f"cannot read {what} {path}: {e.strerror or e}") from e


def run(argv=None) -> list[Path]:
    """The CLI's work; raises InitError on bad input. Returns the files written."""
    from .export import export_result, zip_directory
    from .webui_io import params_from_infotext, parse_api_payload, read_png_infotext

    args = build_parser().parse_args(argv)
    # Everything is checked before anything is written.
    sweep = parse_sweep(args.sweep) if args.sweep else None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InitError(f"--out {out} exists and is not a folder")
    notes: list[str] = []
    params = InitParams()
    if args.payload:
        body = read_text_file(args.payload, "--payload", limit=MAX_PAYLOAD)
        job = parse_api_payload(body)
        images, mask, params = job.init_images, job.mask, job.params
        notes += job.notes
    else:
        if not args.image:
            raise InitError("give IMAGE (and MASK), or --payload")
        images = [_open(args.image, "image")]
        mask = _open(args.mask, "mask") if args.mask else None
    if args.infotext:
        path = Path(args.infotext)
        text = read_png_infotext(_open(str(path), "infotext PNG")) if path.suffix.lower() == ".png" else read_text_file(path, "--infotext")
        if not text:
            raise InitError(f"{path} has no 'parameters' text (not a webui PNG?)")
        job = params_from_infotext(text, params)
        params = job.params
        notes += job.notes + ([f"Unknown infotext keys: {', '.join(job.unknown)}"] if job.unknown else [])
    params = params.replace(**_overrides(args))
    image, mask, params, tab = apply_tab(args, images[0], mask, params, _open)
    if tab is not None:
        images, notes = [image], notes + tab.notes
    vae = vae_from_args(args)
    result = run_init(images, mask, params, vae=vae)
    if sweep:
        for value in sweep[1]:
            params.replace(**{sweep[0]: value}).validate()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InitError(f"cannot create --out {out}: {e.strerror or e}") from e
    result.notes[:0] = notes
    from .findings import diagnose

    findings = diagnose(result, images, mask)
    written = export_result(result, images[0], out, findings=findings)
    if tab is not None:
        written += export_tab(tab, out)
    if sweep:
        name, values = sweep
        grid = sweep_grid(images, mask, params, name, values, vae=vae)
        grid.save(out / "grid.png")
        written.append(out / "grid.png")
    if args.zip:
        written.append(zip_directory(out, out.with_suffix(".zip")))
    summary = {"out": str(out), "files": len(written), "crop_region": result.crop_region, "paste_to": result.paste_to,
               "findings": [f.as_dict() for f in findings]}  # fmt: skip
    if args.json:
        print(json.dumps(summary | {"notes": result.notes}))
        return written
    for note in result.notes:
        print(f"note: {note}")
    for f in findings:
        print(f"{f.severity}: {f.message}")
    print(json.dumps(summary))
    return written


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["batch"]:
        from .tabs_cli import batch_main

        return batch_main(argv[1:])
    if argv[:1] == ["audit"]:
        from .audit import main as audit_main

        return audit_main(argv[1:])
    try:
        run(argv)
    except InitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # writing the export: a full disk, a folder that vanished
        print(f"error: {e.strerror or e} ({e.filename or 'output'})", file=sys.stderr)
        return 2
    return 0

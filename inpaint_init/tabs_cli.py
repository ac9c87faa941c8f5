"""Command line for the img2img tabs (#20): the single job's ``--tab`` options and the batch.

    python -m inpaint_init IMAGE [MASK] --tab "inpaint sketch" --sketch-orig ORIG --mask-alpha 30 --out DIR
    python -m inpaint_init batch INPUT_DIR [--mask-dir DIR] [--png-info [--png-info-props Seed,Steps,Sampler]]
                                 [--scale-by S] [webui options] --out OUT
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .pipeline import InitError, InitParams, run_init

__all__ = ["add_tab_arguments", "apply_tab", "export_tab", "batch_main", "run_batch", "job_rows"]

PNG_INFO_PROPS = ("Seed", "Steps", "Sampler")


def _tab_name(value: str) -> str:
    """``inpaint-sketch`` / ``inpaint_sketch`` → ``inpaint sketch`` (the library's names are exact)."""
    return re.sub(r"[-_]", " ", value.strip())


def add_tab_arguments(ap: argparse.ArgumentParser) -> None:
    """The single job's tab options (cli.py's parser)."""
    from .webui_tabs import TABS

    g = ap.add_argument_group("webui tab (what the img2img page hands to init; MASK is the brush layer or upload)")
    g.add_argument("--tab", type=_tab_name, choices=TABS, help="img2img, sketch, inpaint, inpaint-sketch, inpaint-upload")
    g.add_argument("--sketch-orig", help="inpaint sketch: the picture without strokes (IMAGE is the sketch)")
    g.add_argument("--mask-alpha", type=float, help="inpaint sketch: Mask transparency, 0-100")
    g.add_argument("--scale-by", type=float, help="Resize by: width/height = int(side × S) of the picture")


def _blur_value(v):
    """The UI slider's integer when the float is whole (the webui's setter only takes ints)."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def apply_tab(args, image, mask, params: InitParams, opener):
    """``(image, mask, params, tab_inputs or None)`` after the chosen tab; ``opener(path, what)``
    reads an image file. Without ``--tab`` and its options nothing changes."""
    from .webui_tabs import tab_inputs

    tab = args.tab
    if tab is None:
        if args.sketch_orig is not None or args.mask_alpha is not None:
            raise InitError("--sketch-orig and --mask-alpha belong to --tab 'inpaint sketch'")
        if args.scale_by is None:
            return image, mask, params, None
        tab = "inpaint upload"  # IMAGE MASK as given: the inpaint upload tab
    if args.payload:
        raise InitError("--tab does not apply to --payload (an API request has no tab)")
    if tab != "inpaint sketch" and (args.sketch_orig is not None or args.mask_alpha is not None):
        raise InitError(f"--sketch-orig and --mask-alpha belong to --tab 'inpaint sketch', not {tab!r}")
    blur = args.mask_blur if args.mask_blur is not None else params.mask_blur_x
    t = tab_inputs(
        tab,
        image=image,
        mask=mask,
        sketch_orig=opener(args.sketch_orig, "--sketch-orig") if args.sketch_orig else None,
        mask_blur=_blur_value(blur),
        mask_alpha=0.0 if args.mask_alpha is None else args.mask_alpha,
        scale_by=args.scale_by,
        width=params.width,
        height=params.height,
    )
    return t.image, t.mask, t.params(params), t


def export_tab(t, out: Path) -> list[Path]:
    """The first view's images under ``out/tab/``: what the tab hands to init, and the sketch's steps."""
    d = out / "tab"
    d.mkdir(parents=True, exist_ok=True)
    items = {
        "picture": t.image, "mask": t.mask, "sketch_original": t.sketch_original, "sketch_difference": t.sketch_difference,
        "sketch_mask": t.sketch_mask, "sketch_blurred_mask": t.sketch_blurred_mask, "sketch_composite": t.sketch_composite,
    }  # fmt: skip
    written = []
    for name, img in items.items():
        if img is not None:
            img.save(d / f"{name}.png")
            written.append(d / f"{name}.png")
    return written


def build_batch_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m inpaint_init batch",
        description="The img2img Batch tab (from dir): list the jobs the webui makes and export each job's stages.",
        epilog="Also takes the single-job command's webui, noise, soft inpainting and VAE options (python -m inpaint_init --help).",
    )
    ap.add_argument("input_dir")
    ap.add_argument("--mask-dir", help="masks: one file for all, or per image <stem>.*")
    ap.add_argument("--png-info", action="store_true", help="read Seed/Steps/Sampler from each image's PNG info")
    ap.add_argument("--png-info-props", default="", help="comma-separated: which of Seed,Steps,Sampler PNG info sets")
    ap.add_argument("--png-info-dir", help="read PNG info from the same-named file in this folder")
    ap.add_argument("--scale-by", type=float, help="Resize by, per image")
    ap.add_argument("--keep-going", action="store_true", help="skip a job where the webui would abort the batch")
    ap.add_argument("--list-only", action="store_true", help="list the jobs, export nothing")
    ap.add_argument("--out", required=True)
    return ap


def job_rows(jobs, input_dir) -> list[dict]:
    """The listing, JSON-ready: file, mask, size, seed, steps, sampler, area, skipped, notes."""
    root = Path(input_dir)
    rows = []
    for i, j in enumerate(jobs):
        p = j.params
        rows.append({
            "index": i, "file": str(_rel(j.image_path, root)), "mask": None if j.mask_path is None else str(j.mask_path),
            "size": f"{p.width}x{p.height}", "seed": p.seed, "subseed": p.subseed, "steps": p.steps, "sampler": p.sampler_name,
            "inpaint_area": "Only masked" if p.inpaint_full_res else "Whole picture", "skipped": j.skipped, "notes": list(j.notes),
        })  # fmt: skip
    return rows


def _rel(path: Path, root: Path) -> Path:
    try:
        return Path(path).relative_to(root)
    except ValueError:
        return Path(path)


def _print_rows(rows, stream) -> None:
    for r in rows:
        state = f"skipped: {r['skipped']}" if r["skipped"] else f"{r['size']} seed {r['seed']} {r['inpaint_area']}"
        print(f"{r['index']:3d}  {r['file']}  mask={r['mask'] or '-'}  {state}", file=stream)
        for note in r["notes"]:
            print(f"       note: {note}", file=stream)


def _progress(done: int, total: int, name: str) -> None:
    width = 24
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:40]:<40}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def run_batch(argv) -> dict:
    """The batch command's work; raises InitError on bad input. Returns the jobs.json content."""
    from .cli import _overrides, build_parser, vae_from_args
    from .export import export_result
    from .webui_tabs import batch_jobs

    args, rest = build_batch_parser().parse_known_args(argv)
    # The webui options are the single-job parser's; its --out is satisfied with ours.
    webui = build_parser().parse_args(rest + ["--out", args.out])
    if webui.image is not None:
        raise InitError(f"batch takes one INPUT_DIR; unexpected argument {webui.image!r}")
    props = tuple(p.strip() for p in args.png_info_props.split(",") if p.strip())
    bad = [p for p in props if p not in PNG_INFO_PROPS]
    if bad:
        raise InitError(f"--png-info-props: {bad} not among {PNG_INFO_PROPS} (exact names)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InitError(f"--out {out} exists and is not a folder")
    base = InitParams().replace(**_overrides(webui))
    vae = vae_from_args(webui)
    jobs = batch_jobs(
        args.input_dir, mask_dir=args.mask_dir, scale_by=args.scale_by, png_info=args.png_info, png_info_props=props,
        png_info_dir=args.png_info_dir, base=base, on_error="skip" if args.keep_going else "raise",
    )  # fmt: skip
    rows = job_rows(jobs, args.input_dir)
    _print_rows(rows, sys.stdout)
    out.mkdir(parents=True, exist_ok=True)
    todo = [i for i, j in enumerate(jobs) if not j.skipped and not args.list_only]
    for n, i in enumerate(todo):
        job, row = jobs[i], rows[i]
        _progress(n, len(todo), row["file"])
        folder = out / f"{i:03d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', job.image_path.stem)}"
        try:
            images, mask = job.load()
            result = run_init(images, mask, job.params, vae=vae)
            result.notes[:0] = job.notes
            export_result(result, images[0], folder, mask=mask)
            row["export"] = str(folder)
        except (InitError, OSError) as e:
            row["failed"] = str(e)
            print(f"\nerror: {row['file']}: {e}", file=sys.stderr)
    if todo:
        _progress(len(todo), len(todo), "done")
    report = {"input_dir": str(args.input_dir), "mask_dir": args.mask_dir, "jobs": rows}
    (out / "jobs.json").write_text(json.dumps(report, indent=1))
    return report


def batch_main(argv) -> int:
    """``python -m inpaint_init batch …``: 0 ok, 1 some job failed, 2 bad input."""
    try:
        report = run_batch(argv)
    except InitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e} ({e.filename or 'output'})", file=sys.stderr)
        return 2
    return 1 if any("failed" in r for r in report["jobs"]) else 0

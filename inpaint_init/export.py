"""Export a result: every stage image, the tensors (safetensors), a JSON report, a contact sheet."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .pipeline import InitResult
from .views import VIEW_NAMES, render_views
from .webui_io import to_api_payload, to_infotext

__all__ = ["export_result", "zip_directory", "contact_sheet", "report", "labelled_grid", "TENSOR_FIELDS"]

#: InitResult tensors written to tensors.safetensors (when present).
TENSOR_FIELDS = (
    "init_latent", "encoded_latent", "mask", "nmask", "image_conditioning", "latent_noise", "start_noise", "start_latent",
    "conditioning_mask", "conditioning_masked_image",
)  # fmt: skip
#: InitResult images written under stages/ with the webui's names.
IMAGE_FIELDS = (
    "binary_mask", "blurred_mask", "image_mask", "mask_for_overlay", "latent_mask_image", "decoded_latent",
    "decoded_init_latent", "decoded_init_latent_approx", "decoded_start_latent",
)  # fmt: skip
LIST_IMAGE_FIELDS = ("overlay_images", "processed_images", "filled_images")


def _versions() -> dict[str, str]:
    import cv2
    import PIL

    return {"torch": torch.__version__, "pillow": PIL.__version__, "opencv": cv2.__version__, "numpy": np.__version__}


def report(result: InitResult, image=None, mask=None, findings=None) -> dict:
    """Parameters, shapes, crop numbers, sampler start, timings, notes and findings, JSON-ready.

    ``findings``: already diagnosed ones (:class:`~inpaint_init.findings.Finding`); otherwise
    :func:`~inpaint_init.findings.diagnose` runs on the result (``image``/``mask``: its inputs).
    """
    from .findings import diagnose

    r = result
    findings = diagnose(r, image, mask) if findings is None else findings
    shapes = {name: list(getattr(r, name).shape) for name in TENSOR_FIELDS if getattr(r, name) is not None}
    plan = r.sampler_plan
    return {
        "params": r.params.as_dict(),
        "shapes": shapes,
        "crop": {
            "inpaint_full_res": r.inpaint_full_res,
            "crop_region_padded": r.crop_region_unexpanded,
            "crop_region": r.crop_region,
            "paste_to": r.paste_to,
        },
        "batch_size": r.batch_size,
        "seeds": r.seeds,
        "noise": {
            "randn_source": r.params.randn_source,
            "randn_source_in_effect": r.randn_source,
            "how": r.noise_source,
            "subseeds": r.subseeds,
            "subseed_strength": r.params.subseed_strength,
            "seed_resize_from": [r.params.seed_resize_from_w, r.params.seed_resize_from_h],
            "eta_noise_seed_delta": r.params.eta_noise_seed_delta,
            "initial_noise_multiplier": r.params.initial_noise_multiplier,
            "img2img_extra_noise": r.params.img2img_extra_noise,
        },
        # What the webui would write and what to send it to run this init again.
        "infotext": to_infotext(r.params, r.seeds[0], r.subseeds[0]),
        "api_body": to_api_payload(r.params, r.seeds[0], r.subseeds[0]),
        "vae": r.vae_name,
        "sampler": {
            "sampler": plan.sampler,
            "steps": plan.steps,
            "schedule_steps": plan.schedule_steps,
            "t_enc": plan.t_enc,
            "start_index": plan.start_index,
            "steps_run": plan.steps_run,
            "sigma_start": plan.sigma_start,
        },
        "timings_ms": {k: round(v * 1000, 3) for k, v in r.timings.items()},
        "cached_stages": sorted(r.cached_stages),
        "notes": r.notes,
        "findings": [f.as_dict() for f in findings],
        "versions": _versions(),
    }


def labelled_grid(
    cells: list[list[Image.Image | None]],
    row_labels: list[str] = (),
    col_labels: list[str] = (),
    captions: list[list[str]] | None = None,
    tile: int = 256,
) -> Image.Image:
    """Images in a grid of ``tile``-sized cells (aspect kept, centred), with optional row labels,
    column labels and a caption above each cell.

    Size: ``(label_w + cols·(tile+6), header + rows·(caption + tile + 6))`` with ``label_w`` 170
    when there are row labels, ``header`` 22 with column labels (else 4), ``caption`` 16 with captions.
    """
    gap = 6
    label_w = 170 if row_labels else 0
    header = 22 if col_labels else 4
    cap_h = 16 if captions else 0
    rows, cols = len(cells), max((len(r) for r in cells), default=0)
    row_h = cap_h + tile + gap
    sheet = Image.new("RGB", (label_w + cols * (tile + gap), header + rows * row_h), "white")
    draw = ImageDraw.Draw(sheet)
    for c, text in enumerate(list(col_labels)[:cols]):
        draw.text((label_w + c * (tile + gap) + 2, 4), text[:40], fill=(0, 0, 0))
    for r, row in enumerate(cells):
        y0 = header + r * row_h
        if r < len(row_labels):
            draw.text((4, y0 + cap_h + tile // 2 - 6), row_labels[r][:28], fill=(0, 0, 0))
        for c, img in enumerate(row):
            x0 = label_w + c * (tile + gap)
            if captions and c < len(captions[r]):
                draw.text((x0 + 2, y0 + 2), captions[r][c][:42], fill=(0, 0, 0))
            if img is None:
                continue
            thumb = img.convert("RGB").copy()
            thumb.thumbnail((tile, tile), Image.Resampling.LANCZOS)
            sheet.paste(thumb, (x0 + (tile - thumb.width) // 2, y0 + cap_h + (tile - thumb.height) // 2))
    return sheet


def contact_sheet(result: InitResult, image: Image.Image, columns: int = 4, tile: int = 256, views=None) -> Image.Image:
    """Every view with its title, ``columns`` to a row (``views``: already rendered ones)."""
    views = views if views is not None else render_views(result, image)
    keys = [k for k in VIEW_NAMES if views[k].image is not None]
    rows = [keys[i : i + columns] for i in range(0, len(keys), columns)]
    return labelled_grid(
        [[views[k].image for k in row] for row in rows], captions=[[VIEW_NAMES[k] for k in row] for row in rows], tile=tile
    )


def export_result(
    result: InitResult, image: Image.Image, out_dir: str | Path, mask: Image.Image | None = None, findings=None
) -> list[Path]:
    """Write stages/*.png, views/*.png, tensors.safetensors, report.json and contact_sheet.png
    into ``out_dir``, and with ``mask`` given the inputs as inputs/image.png and inputs/mask.png
    (so the export alone reproduces the job); returns the paths written. ``findings``: see
    :func:`report`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    (out / "stages").mkdir(parents=True, exist_ok=True)
    (out / "views").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(img: Image.Image, path: Path):
        img.save(path)
        written.append(path)

    if mask is not None:
        (out / "inputs").mkdir(exist_ok=True)
        save(image, out / "inputs" / "image.png")
        save(mask, out / "inputs" / "mask.png")
    for name in IMAGE_FIELDS:
        img = getattr(result, name)
        if img is not None:
            save(img, out / "stages" / f"{name}.png")
    for name in LIST_IMAGE_FIELDS:
        for i, img in enumerate(getattr(result, name)):
            save(img, out / "stages" / f"{name}_{i}.png")
    views = render_views(result, image)
    for key, view in views.items():
        if view.image is not None:
            save(view.image, out / "views" / f"{key}.png")
    # clone(): init_latent is the same tensor as encoded_latent when no latent fill applies.
    tensors = {n: getattr(result, n).detach().float().cpu().clone(memory_format=torch.contiguous_format) for n in TENSOR_FIELDS if getattr(result, n) is not None}
    if result.soft is not None:
        # The soft-inpainting preview: per-call weights (as fp16 values), the stand-in result
        # and the overlay mask it gives.
        tensors["soft_weights"] = result.soft.weights.float().contiguous()
        tensors["soft_result_latent"] = result.soft.result_latent.detach().float().cpu().contiguous()
        tensors["soft_sigmas"] = torch.from_numpy(np.ascontiguousarray(result.soft.sigmas))
        if result.soft.overlay_mask is not None:
            save(result.soft.overlay_mask, out / "stages" / "soft_overlay_mask.png")
    for i, lab in enumerate(result.color_corrections or []):
        tensors[f"color_corrections_{i}"] = torch.from_numpy(np.ascontiguousarray(lab))
    save_file(tensors, str(out / "tensors.safetensors"), metadata={"source": "inpaint_init"})
    written.append(out / "tensors.safetensors")
    (out / "report.json").write_text(json.dumps(report(result, image, mask, findings), indent=2, default=str))
    written.append(out / "report.json")
    save(contact_sheet(result, image, views=views), out / "contact_sheet.png")
    return written


def zip_directory(directory: str | Path, zip_path: str | Path) -> Path:
    """Zip every file under ``directory`` (paths relative to it)."""
    directory, zip_path = Path(directory), Path(zip_path)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(directory.rglob("*")):
            if f.is_file() and f != zip_path:
                zf.write(f, f.relative_to(directory))
    return zip_path

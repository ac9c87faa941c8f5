"""inpaint-init debugger: every stage of the webui's inpaint init, live on every control.

    python app.py                 # http://127.0.0.1:7860, local only
    python app.py --port 8000 --host 0.0.0.0 --share   # explicit opt-ins
"""

from __future__ import annotations

import os

# Before gradio / huggingface_hub are imported: nothing may reach out.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from inpaint_init import CheapApproxVAE, InitError, InitParams, StageCache, create_binary_mask, run_init  # noqa: E402
from inpaint_init.cache import image_digest  # noqa: E402
from inpaint_init.cli import MAX_PAYLOAD, read_text_file  # noqa: E402
from inpaint_init.pipeline import MAX_PIXELS  # noqa: E402
from inpaint_init.examples import EXAMPLES, load_example  # noqa: E402
from inpaint_init.noise import describe_source  # noqa: E402
from inpaint_init.resize import RESIZE_MODE_LABELS  # noqa: E402
from inpaint_init.sampler import SAMPLERS  # noqa: E402
from inpaint_init.peers import COMFY_NODES  # noqa: E402
from inpaint_init.soft_inpainting import SOFT_PARAMS  # noqa: E402
from inpaint_init.views import VIEW_NAMES, WHY, notes_markdown, render_views, summary_markdown  # noqa: E402

MAX_UPLOAD = "25mb"
# PIL refuses to decode more than twice this many pixels (DecompressionBombError); Gradio's
# upload decoding goes through PIL, so a bomb upload is an error message, not an OOM.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
# Content-keyed, so sessions can share it without seeing each other's results. Bounded in
# bytes: at 2048² one refresh adds ~30 MB, so this holds the last ~17 states of a slider.
CACHE = StageCache(max_bytes=512 * 1024 * 1024)
VAES = {
    "Weightless approximation (SD1.x/2.x)": CheapApproxVAE("sd1"),
    "Weightless approximation (SDXL)": CheapApproxVAE("sdxl"),
}

# compute()'s control parameters, in order: the webui's names, plus the VAE choice.
CONTROL_NAMES = (
    "mask_blur_x",
    "mask_blur_y",
    "inpainting_mask_invert",
    "inpainting_fill",
    "inpaint_full_res",
    "inpaint_full_res_padding",
    "resize_mode",
    "width",
    "height",
    "mask_round",
    "seed",
    "model_kind",
    "inpainting_mask_weight",
    "color_correction",
    "sampler_name",
    "steps",
    "denoising_strength",
    "img2img_fix_steps",
    "randn_source",
    "subseed",
    "subseed_strength",
    "seed_resize_from_w",
    "seed_resize_from_h",
    "eta_noise_seed_delta",
    "initial_noise_multiplier",
    "img2img_extra_noise",
    "soft_inpainting",
    "mask_blend_power",
    "mask_blend_scale",
    "inpaint_detail_preservation",
    "composite_mask_influence",
    "composite_difference_threshold",
    "composite_difference_contrast",
    "vae",
    "vae_posterior",
    "vae_sample_seed",
)


def editor_value(image: Image.Image, mask: Image.Image | None) -> dict:
    """An ImageEditor value: the image as background and a painted mask as one layer."""
    layers = []
    if mask is not None and mask.mode == "RGBA":
        layers = [mask]
    return {"background": image.convert("RGBA"), "layers": layers, "composite": None}


def mask_from_editor(editor: dict | None) -> tuple[Image.Image | None, Image.Image | None]:
    """(image, painted mask) from an ImageEditor value.

    Brush layers become one RGBA mask (white, alpha = the strongest stroke), then go through
    ``create_binary_mask`` with rounding, as the webui's inpaint tab does before init.
    """
    if not editor or editor.get("background") is None:
        return None, None
    background = editor["background"]
    if not isinstance(background, Image.Image):
        background = Image.fromarray(np.asarray(background))
    # The browser shows (and the user paints on) the picture turned by its EXIF orientation; the
    # webui turns uploads the same way (and so does its API, and so does our mask upload).
    background = ImageOps.exif_transpose(background)
    alpha = np.zeros((background.height, background.width), np.uint8)
    for layer in editor.get("layers") or []:
        if layer is None:
            continue
        layer = layer if isinstance(layer, Image.Image) else Image.fromarray(np.asarray(layer))
        if layer.size != background.size:
            layer = layer.resize(background.size, Image.Resampling.NEAREST)
        a = np.asarray(layer.convert("RGBA"))[..., 3]
        alpha = np.maximum(alpha, a)
    rgba = Image.merge("RGBA", (*Image.new("RGB", background.size, (255, 255, 255)).split(), Image.fromarray(alpha)))
    return background, create_binary_mask(rgba, round=True)


def params_from_controls(values: dict) -> InitParams:
    """InitParams from the controls; an emptied or garbled field is an InitError naming it."""
    for name, value in values.items():
        if value is None or (isinstance(value, float) and value != value):
            raise InitError(f"'{name}' has no value: fill it in (the webui's default is {getattr(InitParams(), name, '–')!r}).")
    try:
        return _params(values)
    except (TypeError, ValueError) as e:
        raise InitError(f"a control has a value of the wrong kind: {e}") from e


def _params(values: dict) -> InitParams:
    return InitParams(
        width=int(values["width"]),
        height=int(values["height"]),
        mask_blur_x=values["mask_blur_x"],
        mask_blur_y=values["mask_blur_y"],
        inpainting_mask_invert=int(values["inpainting_mask_invert"]),
        inpainting_fill=int(values["inpainting_fill"]),
        inpaint_full_res=bool(values["inpaint_full_res"]),
        inpaint_full_res_padding=int(values["inpaint_full_res_padding"]),
        resize_mode=int(values["resize_mode"]),
        mask_round=bool(values["mask_round"]),
        seed=int(values["seed"]),
        model_kind=values["model_kind"],
        inpainting_mask_weight=float(values["inpainting_mask_weight"]),
        color_correction=bool(values["color_correction"]),
        sampler_name=values["sampler_name"],
        steps=int(values["steps"]),
        denoising_strength=float(values["denoising_strength"]),
        img2img_fix_steps=bool(values["img2img_fix_steps"]),
        randn_source=values["randn_source"],
        subseed=int(values["subseed"]),
        subseed_strength=float(values["subseed_strength"]),
        seed_resize_from_w=int(values["seed_resize_from_w"]),
        seed_resize_from_h=int(values["seed_resize_from_h"]),
        eta_noise_seed_delta=int(values["eta_noise_seed_delta"]),
        initial_noise_multiplier=float(values["initial_noise_multiplier"]),
        img2img_extra_noise=float(values["img2img_extra_noise"]),
        soft_inpainting=bool(values["soft_inpainting"]),
        **{sp.name: float(values[sp.name]) for sp in SOFT_PARAMS},
    )


def vae_backend(choice: str, posterior: str, sample_seed):
    """The backend for a dropdown choice, with the posterior setting applied where it exists."""
    backend = VAES.get(choice)
    if backend is None:
        raise InitError(f"unknown VAE choice {choice!r}; load it again")
    if hasattr(backend, "with_posterior"):
        backend = backend.with_posterior(posterior, int(sample_seed))
    return backend


def load_vae_ui(path: str, family: str, progress=gr.Progress()):
    """Load a VAE from a local path into the VAE choices; on failure keep the current one."""
    from inpaint_init.vae_loaders import VAELoadError, load_vae

    if not path or not path.strip():
        return gr.skip(), "⛔ Enter the path of a VAE folder or file on this machine."
    progress(0.1, desc="loading VAE")
    try:
        backend = load_vae(path.strip(), family=family)
    except VAELoadError as e:
        return gr.skip(), f"⛔ {e} (the previous VAE stays selected)"
    label = f"{Path(path.strip()).name} ({family})"
    VAES[label] = backend
    return gr.Dropdown(choices=list(VAES), value=label), f"✅ Loaded {backend.name}"


def run_current(editor, mask_upload, values: dict, progress=None, result_image=None):
    """(image, InitResult) for the current inputs, through the shared stage cache."""
    image, painted = mask_from_editor(editor)
    if image is None:
        raise InitError("Load or upload an image first (or pick an example).")
    mask = mask_upload if mask_upload is not None else painted
    params = params_from_controls(values)
    backend = vae_backend(values["vae"], values["vae_posterior"], values["vae_sample_seed"])
    report = None if progress is None else (lambda f, s: progress(f, desc=s))
    return image, run_init(image, mask, params, vae=backend, cache=CACHE, progress=report, result_image=result_image)


def compute(
    editor,
    mask_upload,
    mask_blur_x,
    mask_blur_y,
    inpainting_mask_invert,
    inpainting_fill,
    inpaint_full_res,
    inpaint_full_res_padding,
    resize_mode,
    width,
    height,
    mask_round,
    seed,
    model_kind,
    inpainting_mask_weight,
    color_correction,
    sampler_name,
    steps,
    denoising_strength,
    img2img_fix_steps,
    randn_source,
    subseed,
    subseed_strength,
    seed_resize_from_w,
    seed_resize_from_h,
    eta_noise_seed_delta,
    initial_noise_multiplier,
    img2img_extra_noise,
    soft_inpainting,
    mask_blend_power,
    mask_blend_scale,
    inpaint_detail_preservation,
    composite_mask_influence,
    composite_difference_threshold,
    composite_difference_contrast,
    vae,
    vae_posterior,
    vae_sample_seed,
    shown=None,
    soft_result=None,
    progress=gr.Progress(),
):
    """Run init for the current inputs; returns every view (image, caption), the summary, the
    notes and ``shown``. On bad input the views keep their previous pictures and the notes say why.

    ``shown`` (a session's gr.State: view → content digest of the picture it shows) lets an
    unchanged picture be skipped: Gradio encodes every picture sent as PNG, which costs far more
    than computing it, and most controls change only a few views. None: send everything.
    ``soft_result``: an optional result image for soft inpainting's overlay view.
    """
    values = {k: v for k, v in locals().items() if k in CONTROL_NAMES}
    n_views = len(VIEW_NAMES)
    try:
        image, result = run_current(editor, mask_upload, values, progress, soft_result)
    except InitError as e:
        return (*[gr.skip()] * (2 * n_views), gr.skip(), notes_markdown(None, str(e)), gr.skip())
    views = render_views(result, image)
    shown = dict(shown) if shown is not None else None
    out = []
    for key in VIEW_NAMES:
        picture = views[key].image
        if shown is not None:
            digest = image_digest(picture)
            if shown.get(key, "unset") == digest:
                picture = gr.skip()
            else:
                shown[key] = digest
        out += [picture, views[key].caption]
    return (*out, summary_markdown(result), notes_markdown(result), shown if shown is not None else gr.skip())


def controls_from_params(params: InitParams) -> list:
    """Control values for ``params`` in CONTROL_NAMES order; the VAE controls stay as they are."""
    return [getattr(params, name) if hasattr(params, name) else gr.skip() for name in CONTROL_NAMES]


def _import_report(job) -> str:
    lines = [f"✅ Imported {len(job.used)} parameters: " + ", ".join(f"{k} = {v}" for k, v in job.used.items())]
    if job.ignored:
        lines.append(f"Not used before sampling: {', '.join(job.ignored)}")
    if job.unknown:
        lines.append(f"⚠️ Unknown keys: {', '.join(job.unknown)}")
    lines += [f"⚠️ {n}" for n in job.notes]
    return "\n\n".join(lines)


def import_png_ui(path):
    """A webui output PNG → its infotext parameters into the controls."""
    from inpaint_init.webui_io import params_from_infotext, read_png_infotext

    n = len(CONTROL_NAMES)
    if not path:
        return (*[gr.skip()] * n, gr.skip())
    try:
        with Image.open(path) as png:
            text = read_png_infotext(png)
        if not text:
            raise InitError(f"{Path(path).name} has no 'parameters' text: not a PNG saved by the webui (or it was stripped).")
        job = params_from_infotext(text)
    except (OSError, Image.DecompressionBombError) as e:
        return (*[gr.skip()] * n, f"⛔ {Path(path).name} is not a readable PNG ({e})")
    except InitError as e:
        return (*[gr.skip()] * n, f"⛔ {e}")
    return (*controls_from_params(job.params), _import_report(job))


def import_api_ui(text: str, path):
    """An img2img API body (pasted or uploaded) → image, raw mask and controls."""
    from inpaint_init.webui_io import parse_api_payload

    n = len(CONTROL_NAMES)
    try:
        if path:
            text = read_text_file(path, "the uploaded JSON", limit=MAX_PAYLOAD)
        if text and len(text) > MAX_PAYLOAD:
            raise InitError(f"the pasted body is {len(text) / 2**20:.0f} MB; the limit is {MAX_PAYLOAD // 2**20} MB, as for uploads")
        if not text or not text.strip():
            raise InitError("Paste an img2img API request body (JSON) or upload one.")
        job = parse_api_payload(text)
    except (InitError, OSError, UnicodeDecodeError) as e:
        return (gr.skip(), gr.skip(), *[gr.skip()] * n, f"⛔ {e}")
    if len(job.init_images) > 1:
        job.notes.append(f"{len(job.init_images)} init images: the app shows the first (the library and CLI take all).")
    return (editor_value(job.init_images[0], None), job.mask, *controls_from_params(job.params), _import_report(job))


def export_ui(editor, mask_upload, *control_values):
    """Every stage image, the tensors, a JSON report and a contact sheet, as one zip."""
    import tempfile

    from inpaint_init.export import export_result, zip_directory

    try:
        image, result = run_current(editor, mask_upload, dict(zip(CONTROL_NAMES, control_values)))
    except InitError as e:
        return None, f"⛔ {e}"
    folder = Path(tempfile.mkdtemp(prefix="inpaint-init-")) / "export"
    written = export_result(result, image, folder)
    return str(zip_directory(folder, folder.with_suffix(".zip"))), f"✅ {len(written)} files"


#: compare_ui()'s own controls, in order: PeerSettings fields.
PEER_CONTROL_NAMES = (
    "diffusers_pipeline",
    "unet_channels",
    "diffusers_strength",
    "blur_factor",
    "comfy_node",
    "grow_mask_by",
    "noise_mask",
    "grow_mask",
    "tapered_corners",
    "comfy_denoise",
    "differential_diffusion",
)


def peer_settings(values: dict):
    """PeerSettings from the comparison's controls (strength 0: the pipeline's default)."""
    from inpaint_init.compare import PeerSettings

    v = dict(values)
    v["diffusers_strength"] = None if not v["diffusers_strength"] else float(v["diffusers_strength"])
    for name in ("unet_channels", "grow_mask_by", "grow_mask"):
        v[name] = int(v[name])
    return PeerSettings(**v)


def compare_ui(editor, mask_upload, *values):
    """The same image and mask prepared by diffusers and ComfyUI, next to the webui's.
    ``values``: PEER_CONTROL_NAMES' values, then CONTROL_NAMES'."""
    from inpaint_init.compare import compare

    n = len(PEER_CONTROL_NAMES)
    try:
        settings = peer_settings(dict(zip(PEER_CONTROL_NAMES, values[:n])))
        image, result = run_current(editor, mask_upload, dict(zip(CONTROL_NAMES, values[n:])))
    except (InitError, TypeError, ValueError) as e:
        return [], f"⛔ {e}"
    comparison = compare(result, image, settings=settings)
    return [(v.image, v.caption) for v in comparison.views.values() if v.image is not None], comparison.table


#: The controls an example may set, with the value used when it sets none.
EXAMPLE_SETTINGS = {
    "inpaint_full_res": False,
    "inpaint_full_res_padding": 32,
    "mask_blur_x": 4,
    "mask_blur_y": 4,
    "soft_inpainting": False,
}


def load_example_ui(name: str):
    """Example dropdown → editor value, uploaded mask (or none), description, and the example's
    settings for EXAMPLE_SETTINGS' controls (the defaults when it sets none)."""
    image, mask, ex = load_example(name)
    return (
        # canvas_size = the image's: Gradio otherwise centres layers in its default 800×800 canvas,
        # and the painted mask shows away from where it is.
        gr.ImageEditor(value=editor_value(image, None if ex.uploaded else mask), canvas_size=image.size),
        mask if ex.uploaded else None,
        ex.description,
        *[ex.settings.get(name, default) for name, default in EXAMPLE_SETTINGS.items()],
    )


def build_demo() -> gr.Blocks:
    first_image, first_mask, first = load_example(EXAMPLES[0].name)
    with gr.Blocks(title="inpaint-init") as demo:
        gr.Markdown(
            "# inpaint-init\nWhat the AUTOMATIC1111 webui does to an image and a mask **before** it paints: every "
            "stage of img2img's inpaint initialisation, recomputed on every change."
        )
        with gr.Row():
            with gr.Column(scale=2, min_width=360):
                example = gr.Dropdown([e.name for e in EXAMPLES], value=first.name, label="Example")
                example_info = gr.Markdown(first.description)
                editor = gr.ImageEditor(
                    value=editor_value(first_image, first_mask),
                    canvas_size=first_image.size,
                    type="pil",
                    image_mode="RGBA",
                    format="png",  # lossless: a WebP round trip would soften the painted alpha
                    brush=gr.Brush(colors=["#ffffff"], default_size=24, color_mode="fixed"),
                    label="Image — paint the mask with the brush",
                    sources=("upload", "clipboard"),
                    elem_id="editor",
                )
                mask_upload = gr.Image(
                    type="pil",
                    image_mode=None,
                    label="…or upload a mask (RGBA alpha, or black/white; used raw, as the API does)",
                    sources=("upload", "clipboard"),
                    height=160,
                    elem_id="mask-upload",
                )
                with gr.Accordion("Import a webui job", open=False):
                    png_in = gr.File(label="webui output PNG (reads its parameters)", file_types=[".png"], type="filepath")
                    api_text = gr.Textbox(label="…or an img2img API request body (JSON)", lines=3, max_lines=8)
                    api_file = gr.File(label="…or upload the JSON", file_types=[".json"], type="filepath")
                    api_run = gr.Button("Run the API body")
                    import_status = gr.Markdown("")
                with gr.Accordion("Mask", open=True):
                    blur_x = gr.Slider(0, 64, value=4, step=1, label="Mask blur x", elem_id="mask-blur-x")
                    blur_y = gr.Slider(0, 64, value=4, step=1, label="Mask blur y", elem_id="mask-blur-y")
                    invert = gr.Radio([("Inpaint masked", 0), ("Inpaint not masked", 1)], value=0, label="Mask mode")
                    mask_round = gr.Checkbox(value=True, label="Round the mask (mask_round; off with soft inpainting)")
                with gr.Accordion("Inpaint", open=True):
                    fill_mode = gr.Radio(
                        [("fill", 0), ("original", 1), ("latent noise", 2), ("latent nothing", 3)], value=1, label="Masked content"
                    )
                    full_res = gr.Radio([("Whole picture", False), ("Only masked", True)], value=False, label="Inpaint area")
                    padding = gr.Slider(0, 256, value=32, step=4, label="Only masked padding, pixels", elem_id="padding")
                with gr.Accordion("Size", open=False):
                    resize_mode = gr.Radio([(v, int(k)) for k, v in RESIZE_MODE_LABELS.items()], value=0, label="Resize mode")
                    width = gr.Slider(64, 2048, value=512, step=8, label="Width")
                    height = gr.Slider(64, 2048, value=512, step=8, label="Height")
                with gr.Accordion("Model, seed, colour", open=False):
                    model_kind = gr.Radio(
                        [("standard", "standard"), ("inpainting (SD1.x/2.x)", "inpainting"), ("inpainting (SDXL)", "inpainting-sdxl")],
                        value="standard",
                        label="Model kind",
                    )
                    mask_weight = gr.Slider(0, 1, value=1.0, step=0.05, label="Inpainting conditioning mask strength")
                    seed = gr.Number(value=1, precision=0, label="Seed (for latent noise; -1 = random each run)")
                    randn_source = gr.Radio(
                        [("GPU (the webui's default)", "GPU"), ("CPU", "CPU"), ("NV", "NV")],
                        value="GPU",
                        label="Random number generator source",
                        info=describe_source("GPU"),
                    )
                    with gr.Row():
                        subseed = gr.Number(value=-1, precision=0, label="Variation seed", min_width=120)
                        subseed_strength = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength", min_width=160)
                    with gr.Row():
                        seed_resize_w = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from width", min_width=160)
                        seed_resize_h = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from height", min_width=160)
                    ensd = gr.Number(value=0, precision=0, label="Eta noise seed delta (later sampler draws only)")
                    color_correction = gr.Checkbox(value=False, label="Apply color correction to img2img results to match original colors")
                with gr.Accordion("Sampler", open=False):
                    sampler_name = gr.Dropdown(list(SAMPLERS), value="DPM++ 2M", label="Sampling method")
                    steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps")
                    strength = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength")
                    fix_steps = gr.Checkbox(value=False, label="With img2img, do exactly the amount of steps the slider specifies")
                    noise_multiplier = gr.Slider(0, 1.5, value=1.0, step=0.001, label="Noise multiplier for img2img")
                    extra_noise = gr.Slider(0, 1, value=0.0, step=0.01, label="Extra noise multiplier for img2img and hires fix")
                with gr.Accordion("Soft inpainting", open=False):
                    soft_on = gr.Checkbox(value=False, label="Soft inpainting", elem_id="soft-inpainting")
                    soft_sliders = [
                        gr.Slider(sp.minimum, sp.maximum, value=sp.default, step=sp.step, label=sp.label, elem_id=f"soft-{sp.name}")
                        for sp in SOFT_PARAMS
                    ]
                    soft_result = gr.Image(
                        type="pil",
                        image_mode=None,
                        label="Result to rebuild the overlay from (optional; default: a simulated result)",
                        sources=("upload", "clipboard"),
                        height=140,
                        elem_id="soft-result",
                    )
                with gr.Accordion("VAE", open=False):
                    vae = gr.Dropdown(list(VAES), value=next(iter(VAES)), label="VAE")
                    vae_posterior = gr.Radio(
                        [("sample (the webui's choice)", "sample"), ("mean", "mean")], value="sample", label="Posterior (real VAEs)"
                    )
                    vae_seed = gr.Number(value=0, precision=0, label="Posterior sample seed")
                    vae_path = gr.Textbox(label="Load a VAE from a local path", placeholder="/models/VAE/vae-ft-mse-840000-ema-pruned.safetensors")
                    vae_family = gr.Radio(
                        [("auto", "auto"), ("SD1.x/2.x", "sd1"), ("SDXL", "sdxl")], value="auto", label="VAE family (sets the scaling factor)"
                    )
                    vae_load = gr.Button("Load VAE")
                    vae_status = gr.Markdown("Diffusers folders, single .safetensors/.pt files (LDM or diffusers keys, or a full checkpoint) and TAESD files. Offline; pickles are only read as plain tensors.")
            with gr.Column(scale=5):
                notes = gr.Markdown("", elem_id="notes")
                view_outputs = []
                keys = list(VIEW_NAMES)
                for row_start in range(0, len(keys), 3):
                    with gr.Row(equal_height=False):
                        for key in keys[row_start : row_start + 3]:
                            with gr.Column(min_width=220):
                                img = gr.Image(label=f"{keys.index(key) + 1} · {VIEW_NAMES[key]}", type="pil", format="png", interactive=False, elem_id=f"view-{key}", buttons=["download", "fullscreen"])
                                caption = gr.Markdown(elem_id=f"caption-{key}")
                                with gr.Accordion("Why?", open=False):
                                    gr.Markdown(WHY[key])
                                view_outputs += [img, caption]
                with gr.Accordion("Shapes, crop numbers, timings", open=True):
                    summary = gr.Markdown(elem_id="summary")
                with gr.Accordion("Export", open=False):
                    export_btn = gr.Button("Export every stage (zip: PNGs, tensors, report, contact sheet)")
                    export_file = gr.File(label="export", interactive=False)
                    export_status = gr.Markdown("")
                with gr.Accordion("Compare with diffusers and ComfyUI", open=False):
                    with gr.Row():
                        unet_channels = gr.Radio([("standard (4 channels)", 4), ("inpainting (9 channels)", 9)], value=4, label="Model (both tools)")
                        diffusers_pipeline = gr.Radio([("SD 1.5", "sd"), ("SDXL", "sdxl")], value="sd", label="diffusers pipeline")
                    with gr.Row():
                        diffusers_strength = gr.Slider(0, 1, value=0, step=0.01, label="diffusers strength (0 = the pipeline's default: 1.0 SD, 0.9999 SDXL)")
                        blur_factor = gr.Slider(0, 64, value=4, step=1, label="diffusers blur_factor (mask_processor.blur: PIL, one radius; 0 = none)")
                    comfy_node = gr.Radio([(label, key) for key, label in COMFY_NODES.items()], value="vae_encode_for_inpaint", label="ComfyUI node")
                    with gr.Row():
                        grow = gr.Slider(0, 32, value=6, step=1, label="ComfyUI grow_mask_by")
                        grow_mask = gr.Slider(-16, 16, value=0, step=1, label="GrowMask node: expand (0 = no node)")
                        tapered = gr.Checkbox(value=True, label="GrowMask tapered corners")
                    with gr.Row():
                        noise_mask = gr.Checkbox(value=True, label="InpaintModelConditioning noise_mask")
                        comfy_denoise = gr.Slider(0.01, 1, value=1.0, step=0.01, label="ComfyUI denoise")
                        differential = gr.Checkbox(value=False, label="Differential Diffusion")
                    compare_btn = gr.Button("Compare")
                    compare_gallery = gr.Gallery(label="webui vs diffusers vs ComfyUI", columns=3, height="auto", elem_id="compare")
                    compare_table = gr.Markdown("")

        controls = [
            blur_x, blur_y, invert, fill_mode, full_res, padding, resize_mode, width, height, mask_round, seed,
            model_kind, mask_weight, color_correction, sampler_name, steps, strength, fix_steps, randn_source, subseed,
            subseed_strength, seed_resize_w, seed_resize_h, ensd, noise_multiplier, extra_noise, soft_on, *soft_sliders, vae,
            vae_posterior, vae_seed,
        ]  # fmt: skip
        assert len(controls) == len(CONTROL_NAMES)
        shown = gr.State({})  # per session (Gradio copies it): what each view shows now, see compute()
        outputs = [*view_outputs, summary, notes, shown]
        inputs = [editor, mask_upload, *controls]
        gr.on(
            triggers=[editor.change, mask_upload.change, soft_result.change, *[c.change for c in controls]],
            fn=compute,
            inputs=[*inputs, shown, soft_result],
            outputs=outputs,
            trigger_mode="always_last",
            show_progress="minimal",
            api_name="compute",
        )
        example.change(
            load_example_ui,
            inputs=example,
            outputs=[editor, mask_upload, example_info, full_res, padding, blur_x, blur_y, soft_on],
            api_name="load_example",
        )
        png_in.change(import_png_ui, inputs=png_in, outputs=[*controls, import_status])
        api_run.click(import_api_ui, inputs=[api_text, api_file], outputs=[editor, mask_upload, *controls, import_status])
        export_btn.click(export_ui, inputs=inputs, outputs=[export_file, export_status], api_name="export")
        peer_controls = [
            diffusers_pipeline, unet_channels, diffusers_strength, blur_factor, comfy_node, grow, noise_mask, grow_mask, tapered,
            comfy_denoise, differential,
        ]  # fmt: skip
        assert len(peer_controls) == len(PEER_CONTROL_NAMES)
        compare_btn.click(compare_ui, inputs=[editor, mask_upload, *peer_controls, *controls], outputs=[compare_gallery, compare_table], api_name="compare")
        vae_load.click(load_vae_ui, inputs=[vae_path, vae_family], outputs=[vae, vae_status], api_name="load_vae")
        demo.load(compute, inputs=[*inputs, shown, soft_result], outputs=outputs, api_visibility="private")
    return demo


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default: local only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="open a public Gradio share link (off by default)")
    return ap.parse_args(argv)


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, **kwargs) -> gr.Blocks:
    """Build and start the app: local only unless told otherwise, uploads capped, errors shown."""
    demo = build_demo().queue(default_concurrency_limit=2)
    demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_UPLOAD, show_error=True, **kwargs)
    return demo


def main(argv=None) -> None:
    args = parse_args(argv)
    launch(args.host, args.port, args.share)


if __name__ == "__main__":
    main()

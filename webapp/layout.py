"""The page: where each control and view sits (handlers.py wires their events to the flows).

The main controls live in a left column that stays in view (sticky) while the views scroll, so
a slider and the view it changes are on screen together at 1280×800 and up. Control labels are
the webui's; view titles are ``VIEW_NAMES``'.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from inpaint_init.examples import EXAMPLES
from inpaint_init.flavour import FORGE_TRY_REPRODUCE
from inpaint_init.noise import describe_source
from inpaint_init.peers import COMFY_NODES
from inpaint_init.resize import RESIZE_MODE_LABELS
from inpaint_init.sampler import SAMPLERS
from inpaint_init.soft_inpainting import SOFT_PARAMS
from inpaint_init.views import VIEW_NAMES, WHY

from . import handlers as h
from .handlers import wire
from .viewgrid import GRID_CSS, SIZES

CSS = GRID_CSS + """
/* Gradio's container hides overflow, which makes it the sticky column's scroll box (so it never
   sticks); clip (not a scroll container) keeps the page from scrolling sideways instead. */
.gradio-container { overflow-x: clip !important; overflow-y: visible !important; }
#main-row { align-items: flex-start; }
#controls { position: sticky; top: 6px; align-self: flex-start; max-height: calc(100vh - 12px); overflow-y: auto;
            overflow-x: hidden; padding-right: 4px; flex-wrap: nowrap !important; }
#controls > * { flex-shrink: 0; }
/* (Gradio's columns wrap: with a max-height, the accordions would flow into a second, hidden
   column beside the main controls instead of scrolling below them.) */
#mask-upload img, #image-upload img { background: repeating-conic-gradient(#999 0 25%, #666 0 50%) 0 0 / 16px 16px; }
#controls .form { gap: 4px; }
#controls { gap: 6px; }
#controls fieldset label { padding: 2px 8px; }
.view-cell img { object-fit: contain; }
.view-caption p { font-size: 12px; margin: 2px 0; }
#header h1 { margin: 0; font-size: 22px; }
#header p { margin: 2px 0 6px; }
"""

#: The control values the page starts with (the first example's settings applied).
DEFAULT_VALUES = {
    "mask_blur_x": 4, "mask_blur_y": 4, "inpainting_mask_invert": 0, "inpainting_fill": 1, "inpaint_full_res": False,
    "inpaint_full_res_padding": 32, "resize_mode": 0, "width": 512, "height": 512, "mask_round": True, "seed": 1,
    "model_kind": "standard", "inpainting_mask_weight": 1.0, "color_correction": False, "sampler_name": "DPM++ 2M",
    "steps": 20, "denoising_strength": 0.75, "img2img_fix_steps": False, "randn_source": "GPU", "subseed": -1,
    "subseed_strength": 0.0, "seed_resize_from_w": 0, "seed_resize_from_h": 0, "eta_noise_seed_delta": 0,
    "initial_noise_multiplier": 1.0, "img2img_extra_noise": 0.0, "soft_inpainting": False,
    **{sp.name: sp.default for sp in SOFT_PARAMS}, "flavour": "webui", "forge_try_reproduce": "None",
    "vae": next(iter(h.VAES)), "vae_posterior": "sample", "vae_sample_seed": 0,
}  # fmt: skip


#: Replaces an event's last input (the hidden stamp) with the time the browser sends it. Gradio
#: runs this when it sends the request, and reads the other inputs then too, so the stamp dates
#: the control values the request carries (measured: a pending always_last event is sent later
#: with the values of that moment).
def refuse_urls(*components) -> None:
    """Make these inputs refuse a URL instead of downloading it. Gradio fetches a file input
    given as an http(s) URL on the server (SSRF protection only blocks private addresses); this
    app reads only what the visitor uploads."""

    def refused(path):
        raise gr.Error("This app does not fetch URLs: upload the file instead.")

    for component in components:
        for name in ("move_resource_to_block_cache", "async_move_resource_to_block_cache"):
            original = getattr(component, name)

            def guard(url_or_file_path, _original=original, _name=name):
                from gradio_client.utils import is_http_url_like

                if url_or_file_path is not None and is_http_url_like(str(url_or_file_path)):
                    if _name.startswith("async"):

                        async def fail():
                            refused(url_or_file_path)

                        return fail()
                    refused(url_or_file_path)
                return _original(url_or_file_path)

            setattr(component, name, guard)


def build_demo() -> gr.Blocks:
    from inpaint_init.examples import load_example

    assert tuple(DEFAULT_VALUES) == h.CONTROL_NAMES
    first_image, first_mask, first = load_example(EXAMPLES[0].name)
    initial = h.initial_page(DEFAULT_VALUES)
    d = DEFAULT_VALUES
    # Gradio keeps a copy of every file it serves: delete those older than 15 minutes, every 5 minutes.
    with gr.Blocks(title="inpaint-init", delete_cache=(300, 900)) as demo:
        gr.Markdown(
            "# inpaint-init\nWhat the AUTOMATIC1111 webui does to an image and a mask **before** it paints: every stage of "
            "img2img's inpaint initialisation, recomputed on every change.",
            elem_id="header",
        )
        with gr.Row(elem_id="main-row", equal_height=False):
            with gr.Column(scale=1, min_width=330, elem_id="controls"):
                with gr.Row():
                    blur_x = gr.Slider(0, 64, value=d["mask_blur_x"], step=1, label="Mask blur x", elem_id="mask-blur-x", min_width=140)
                    blur_y = gr.Slider(0, 64, value=d["mask_blur_y"], step=1, label="Mask blur y", elem_id="mask-blur-y", min_width=140)
                fill_mode = gr.Radio(
                    [("fill", 0), ("original", 1), ("latent noise", 2), ("latent nothing", 3)],
                    value=d["inpainting_fill"], label="Masked content", elem_id="masked-content",
                )  # fmt: skip
                with gr.Row():
                    full_res = gr.Radio([("Whole picture", False), ("Only masked", True)], value=False, label="Inpaint area", elem_id="inpaint-area", min_width=140)
                    invert = gr.Radio([("Inpaint masked", 0), ("Inpaint not masked", 1)], value=0, label="Mask mode", elem_id="mask-mode", min_width=140)
                padding = gr.Slider(0, 256, value=d["inpaint_full_res_padding"], step=4, label="Only masked padding, pixels", elem_id="padding")
                with gr.Row():
                    width = gr.Slider(64, 2048, value=d["width"], step=8, label="Width", elem_id="width", min_width=140)
                    height = gr.Slider(64, 2048, value=d["height"], step=8, label="Height", elem_id="height", min_width=140)
                resize_mode = gr.Radio([(v, int(k)) for k, v in RESIZE_MODE_LABELS.items()], value=0, label="Resize mode", elem_id="resize-mode")
                mask_round = gr.Checkbox(value=True, label="Round the mask (mask_round; off with soft inpainting)")
                example = gr.Dropdown([e.name for e in EXAMPLES], value=first.name, label="Example", elem_id="example")
                example_info = gr.Markdown(first.description + h.EXAMPLE_MASK_NOTE, elem_id="example-info")
                with gr.Accordion("Views: which, how big", open=False):
                    chooser = gr.CheckboxGroup(list(VIEW_NAMES.values()), value=list(VIEW_NAMES.values()), label="Views shown", elem_id="view-chooser")
                    view_size = gr.Radio(list(SIZES), value="medium", label="View size", elem_id="view-size")
                    full_resolution = gr.Checkbox(
                        value=False,
                        label=f"Full resolution (pictures over {h.DISPLAY_MAX} px are otherwise shown reduced; slower)",
                        elem_id="full-resolution",
                    )
                with gr.Accordion("Model, seed, colour", open=False):
                    with gr.Row():
                        flavour = gr.Radio(
                            [("webui v1.10.1", "webui"), ("Forge (dfdcbab6)", "forge")], value="webui", label="Program", elem_id="flavour",
                            min_width=160,
                        )  # fmt: skip
                        forge_try_reproduce = gr.Dropdown(
                            list(FORGE_TRY_REPRODUCE), value="None", label="Forge: Try to reproduce the results from external software",
                            min_width=160,
                        )  # fmt: skip
                    model_kind = gr.Radio(
                        [("standard", "standard"), ("inpainting (SD1.x/2.x)", "inpainting"), ("inpainting (SDXL)", "inpainting-sdxl")],
                        value="standard", label="Model kind",
                    )  # fmt: skip
                    mask_weight = gr.Slider(0, 1, value=1.0, step=0.05, label="Inpainting conditioning mask strength")
                    seed = gr.Number(value=d["seed"], precision=0, label="Seed (for latent noise; -1 = random each run)")
                    randn_source = gr.Radio(
                        [("GPU (the webui's default)", "GPU"), ("CPU", "CPU"), ("NV", "NV")], value="GPU",
                        label="Random number generator source", info=describe_source("GPU"),
                    )  # fmt: skip
                    with gr.Row():
                        subseed = gr.Number(value=-1, precision=0, label="Variation seed", min_width=120)
                        subseed_strength = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength", min_width=160)
                    with gr.Row():
                        seed_resize_w = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from width", min_width=140)
                        seed_resize_h = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from height", min_width=140)
                    ensd = gr.Number(value=0, precision=0, label="Eta noise seed delta (later sampler draws only)")
                    color_correction = gr.Checkbox(value=False, label="Apply color correction to img2img results to match original colors")
                with gr.Accordion("Sampler", open=False):
                    sampler_name = gr.Dropdown(list(SAMPLERS), value=d["sampler_name"], label="Sampling method")
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
                        type="pil", image_mode=None, format="png", height=140, elem_id="soft-result", sources=("upload", "clipboard"),
                        label="Result to rebuild the overlay from (optional; default: a simulated result)",
                    )  # fmt: skip
                with gr.Accordion("VAE", open=False):
                    vae = gr.Dropdown(list(h.VAES), value=d["vae"], label="VAE")
                    vae_posterior = gr.Radio(
                        [("sample (the webui's choice)", "sample"), ("mean", "mean")], value="sample", label="Posterior (real VAEs)"
                    )
                    vae_seed = gr.Number(value=0, precision=0, label="Posterior sample seed")
                    vae_path = gr.Textbox(label="Load a VAE from a local path", placeholder="/models/VAE/vae-ft-mse-840000-ema-pruned.safetensors")
                    vae_family = gr.Radio(
                        [("auto", "auto"), ("SD1.x/2.x", "sd1"), ("SDXL", "sdxl"), ("SD3", "sd3"), ("Flux", "flux")], value="auto",
                        label="VAE family (sets the scaling factor and shift)",
                    )
                    vae_load = gr.Button("Load VAE")
                    vae_status = gr.Markdown(h.VAE_HELP)
                with gr.Accordion("Import a webui job", open=False):
                    png_in = gr.File(label="webui output PNG (reads its parameters)", file_types=[".png"], type="filepath")
                    api_text = gr.Textbox(label="…or an img2img API request body (JSON)", lines=3, max_lines=8)
                    api_file = gr.File(label="…or upload the JSON", file_types=[".json"], type="filepath")
                    api_run = gr.Button("Run the API body")
                    import_status = gr.Markdown("")
                with gr.Accordion("Export", open=False):
                    export_btn = gr.Button("Export every stage (zip: inputs, PNGs, tensors, report, contact sheet)")
                    export_file = gr.File(label="export", interactive=False)
                    export_status = gr.Markdown("")
            with gr.Column(scale=3, elem_id="views"):
                diagnosis = gr.HTML(initial["diagnosis"], elem_id="diagnosis")
                fix_choice = gr.Dropdown(
                    initial["fixes"], value=None, label="Apply a fix: pick one, the controls are set and the views refresh",
                    visible=bool(initial["fixes"]), elem_id="fix-choice",
                )  # fmt: skip
                notes = gr.Markdown(initial["notes"], elem_id="notes")
                timing = gr.Markdown(initial["timing"], elem_id="timing")
                with gr.Tabs(elem_id="tabs"):
                    with gr.Tab("Views", id="views-tab", elem_id="views-tab"):
                        grid = gr.HTML(initial["grid"], elem_id="view-grid-box")
                        with gr.Accordion("Why? Every view explained", open=False):
                            gr.Markdown("\n\n".join(f"**{i + 1} · {VIEW_NAMES[k]}.** {WHY[k]}" for i, k in enumerate(VIEW_NAMES)))
                        with gr.Accordion("Shapes, crop numbers", open=True):
                            summary = gr.Markdown(initial["summary"], elem_id="summary")
                        with gr.Accordion("A/B: pin a result and see what changed", open=False):
                            with gr.Row():
                                pin = gr.Button("📌 Pin current as A", size="sm", elem_id="pin")
                                unpin = gr.Button("Unpin", size="sm")
                            pin_status = gr.Markdown("Nothing pinned.", elem_id="pin-status")
                            ab_gallery = gr.Gallery(label="B − A: where each stage changed (red)", columns=4, height="auto", elem_id="ab-gallery")
                            ab_table = gr.Markdown("", elem_id="ab-table")
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
                            compare_status = gr.Markdown("", elem_id="compare-status")
                            compare_gallery = gr.Gallery(label="webui vs diffusers vs ComfyUI", columns=3, height="auto", elem_id="compare")
                            compare_table = gr.Markdown("")
                    with gr.Tab("Image & mask", id="image-tab", elem_id="image-tab"):
                        gr.Markdown(
                            "Upload your picture on the right, then paint the mask with the brush (white) — or upload a "
                            "mask. The views follow each stroke. (The editor sits in its own tab: Gradio's editor re-sends "
                            "its picture whenever the page updates, which would slow every slider down.)"
                        )
                        with gr.Row(equal_height=False):
                            editor = gr.ImageEditor(
                                value=h.editor_value(first_image, None),
                                canvas_size=first_image.size,
                                type="pil",
                                image_mode="RGBA",
                                format="png",  # lossless: a WebP round trip would soften the painted alpha
                                brush=gr.Brush(colors=["#ffffff"], default_size=24, color_mode="fixed"),
                                label="Paint the mask with the brush",
                                sources=(),  # the picture comes from the image upload (see on_editor)
                                elem_id="editor",
                                height=560,
                                scale=3,
                            )
                            with gr.Column(scale=1, min_width=200):
                                image_upload = gr.Image(
                                    type="pil",
                                    image_mode=None,
                                    format="png",
                                    label="Upload your picture",
                                    sources=("upload", "clipboard"),
                                    height=200,
                                    elem_id="image-upload",
                                )
                                mask_upload = gr.Image(
                                    value=first_mask,
                                    type="pil",
                                    image_mode=None,
                                    format="png",  # lossless: a mask's grey levels must survive the page
                                    label="…or upload a mask (RGBA alpha, or black/white; used raw, as the API does)",
                                    sources=("upload", "clipboard"),
                                    height=240,
                                    elem_id="mask-upload",
                                )
                                clear_mask = gr.Button("Clear uploaded mask", size="sm", elem_id="clear-mask")
        # The stateless /compute API keeps one output per view (scripts, load tests); hidden.
        with gr.Column(visible=False):
            api_compute = gr.Button()
            api_outputs = []
            for key in VIEW_NAMES:
                api_outputs += [gr.Image(type="filepath", format="png", label=VIEW_NAMES[key]), gr.Markdown()]
            api_texts = [gr.Markdown(), gr.Markdown(), gr.Markdown()]

        refuse_urls(editor, image_upload, mask_upload, soft_result, png_in, api_file)
        # The handlers wire the events by the names given above.
        wire(SimpleNamespace(**locals()))
    return demo

"""The page's wiring: which event of which component runs which flow, with what inputs and
outputs. The flows themselves live one per file (see docs/architecture.md):

- ``refresh.py``  controls → init → views → the grid, timing, summary, notes
- ``inputs.py``   the painter, the picture and mask uploads
- ``example_picker.py``, ``imports.py`` (PNG infotext, API body), ``vae_panel.py``,
  ``compare_panel.py``, ``ab_panel.py``, ``export_flow.py``
- ``api.py`` the stateless /compute form; ``state.py`` what they share; ``session.py`` sessions.

The names below are re-exported for app.py, the benchmarks and the tests.
"""

from __future__ import annotations

import gradio as gr

from .checks import accept_raw, guard_bad_inputs, register
from .ab_panel import ab_outputs, on_pin, on_unpin  # noqa: F401
from .api import compute, compute_api, refresh, stateless_session  # noqa: F401
from .compare_panel import PEER_CONTROL_NAMES, compare_ui, on_compare, peer_settings  # noqa: F401
from .controls import CONTROL_NAMES, EXAMPLE_SETTINGS, controls_from_params, params_from_controls, vae_backend  # noqa: F401
from .diagnosis import on_apply_fix
from .editor import editor_value, mask_from_editor  # noqa: F401
from .example_picker import EXAMPLE_MASK_NOTE, load_example_ui, on_example  # noqa: F401
from .export_flow import export_session, export_ui, on_export  # noqa: F401
from .imports import import_api_ui, import_png_ui, on_import_api, on_import_png  # noqa: F401
from .inputs import clear_upload, on_editor, on_image_upload, on_mask_upload, on_soft_result  # noqa: F401
from .refresh import (  # noqa: F401
    DISPLAY_MAX, VIEW_KEYS, initial_page, on_controls, on_view_options, on_visibility, page_refresh, run_refresh, run_session,
)  # fmt: skip
from .state import (  # noqa: F401
    CACHE, MAX_UPLOAD, PICTURES, SESSIONS, STATS, VAES, for_gradio, session_for, skip_page, start_with_example,
)  # fmt: skip
from .vae_panel import BUILTIN_VAES, MAX_LOADED_VAES, VAE_HELP, VAE_POLICY, configure_exposure, load_vae_ui  # noqa: F401
from inpaint_init.examples import EXAMPLES  # noqa: F401,E402

#: The browser stamps each refresh request with the time it was sent (see Session.newest).
STAMP_JS = "(...args) => { args[args.length - 1] = performance.now(); return args; }"
#: Older names of the tests and benchmarks.
_start_with_example = start_with_example


def wire(ui) -> None:
    """Connect the page's events to the flows; ``ui`` holds the components layout.py built,
    by the names it gave them. Called inside the page's ``gr.Blocks``."""
    controls = [
        ui.blur_x, ui.blur_y, ui.invert, ui.fill_mode, ui.full_res, ui.padding, ui.resize_mode, ui.width, ui.height, ui.mask_round, ui.seed,
        ui.model_kind, ui.mask_weight, ui.color_correction, ui.sampler_name, ui.steps, ui.strength, ui.fix_steps, ui.randn_source, ui.subseed,
        ui.subseed_strength, ui.seed_resize_w, ui.seed_resize_h, ui.ensd, ui.noise_multiplier, ui.extra_noise, ui.soft_on, *ui.soft_sliders, ui.flavour, ui.forge_try_reproduce, ui.vae,
        ui.vae_posterior, ui.vae_seed,
    ]  # fmt: skip
    assert len(controls) == len(CONTROL_NAMES)
    peer_controls = [
        ui.diffusers_pipeline, ui.unet_channels, ui.diffusers_strength, ui.blur_factor, ui.comfy_node, ui.grow, ui.noise_mask, ui.grow_mask, ui.tapered,
        ui.comfy_denoise, ui.differential,
    ]  # fmt: skip
    assert len(peer_controls) == len(PEER_CONTROL_NAMES)
    example_settings = [ui.full_res, ui.padding, ui.blur_x, ui.blur_y, ui.soft_on]
    assert len(example_settings) == len(EXAMPLE_SETTINGS)
    # Every value a request brings is checked on the server, against what these controls offer.
    register(CONTROL_NAMES, controls, {"vae": lambda: tuple(VAES)})
    register(PEER_CONTROL_NAMES, peer_controls)
    accept_raw(
        *controls, *peer_controls, ui.editor, ui.image_upload, ui.mask_upload, ui.soft_result, ui.png_in, ui.api_file,
        ui.api_text, ui.vae_path, ui.vae_family, ui.example, ui.chooser, ui.view_size, ui.full_resolution, ui.fix_choice,
    )  # fmt: skip

    refreshed = [ui.grid, ui.timing, ui.summary, ui.notes, ui.compare_status, ui.ab_gallery, ui.ab_table, ui.diagnosis, ui.fix_choice]
    # Every refresh's last input is the time the browser sent it (see Session.newest).
    stamp = gr.Number(value=0, visible=False)
    live = dict(trigger_mode="always_last", show_progress="hidden", js=STAMP_JS)
    # .input, not .change: values the server sets (example, import) must not fire a refresh
    # per control; those handlers refresh once themselves.
    gr.on([c.input for c in controls], for_gradio(on_controls), inputs=[*controls, stamp], outputs=refreshed, api_visibility="private", **live)
    # Gradio's ImageEditor fires .upload (and re-sends its picture) whenever other outputs
    # update, but only while it is on screen: it lives in its own tab, and an event that
    # brings no new strokes returns at once (on_editor).
    gr.on(
        [ui.editor.input, ui.editor.upload, ui.editor.apply, ui.editor.clear],
        for_gradio(on_editor),
        inputs=[ui.editor, *controls, stamp],
        outputs=refreshed,
        api_visibility="private",
        **live,
    )
    ui.image_upload.upload(
        for_gradio(on_image_upload),
        inputs=[ui.image_upload, *controls, stamp],
        outputs=[ui.editor, ui.example, ui.example_info, *refreshed],
        api_visibility="private",
        **live,
    )
    gr.on([ui.mask_upload.upload, ui.mask_upload.clear], for_gradio(on_mask_upload), inputs=[ui.mask_upload, *controls, stamp], outputs=refreshed, api_visibility="private", **live)
    gr.on([ui.soft_result.upload, ui.soft_result.clear], for_gradio(on_soft_result), inputs=[ui.soft_result, *controls, stamp], outputs=refreshed, api_visibility="private", **live)
    ui.clear_mask.click(for_gradio(clear_upload), inputs=[*controls, stamp], outputs=[ui.mask_upload, *refreshed], api_visibility="private", js=STAMP_JS)
    ui.example.input(
        for_gradio(on_example),
        inputs=[ui.example, *controls, stamp],
        outputs=[ui.editor, ui.mask_upload, ui.example_info, *example_settings, *refreshed],
        api_name="load_example",
        **live,
    )
    ui.png_in.upload(
        for_gradio(on_import_png), inputs=[ui.png_in, *controls, stamp], outputs=[*controls, ui.import_status, *refreshed], api_visibility="private", js=STAMP_JS
    )
    ui.api_run.click(
        for_gradio(on_import_api),
        inputs=[ui.api_text, ui.api_file, *controls, stamp],
        outputs=[ui.editor, ui.mask_upload, *controls, ui.import_status, ui.example, ui.example_info, *refreshed],
        api_visibility="private",
        js=STAMP_JS,
    )
    ui.chooser.input(for_gradio(on_visibility), inputs=[ui.chooser, *controls, stamp], outputs=refreshed, api_visibility="private", **live)
    gr.on(
        [ui.view_size.input, ui.full_resolution.input],
        for_gradio(on_view_options),
        inputs=[ui.view_size, ui.full_resolution, *controls, stamp],
        outputs=refreshed,
        api_visibility="private",
        **live,
    )
    ui.fix_choice.input(
        for_gradio(on_apply_fix), inputs=[ui.fix_choice, *controls, stamp], outputs=[*controls, *refreshed], api_visibility="private", js=STAMP_JS
    )
    ui.pin.click(on_pin, outputs=[ui.pin_status, ui.ab_gallery, ui.ab_table], api_visibility="private")
    ui.unpin.click(on_unpin, outputs=[ui.pin_status, ui.ab_gallery, ui.ab_table], api_visibility="private")
    ui.export_btn.click(for_gradio(on_export, progress=False), inputs=controls, outputs=[ui.export_file, ui.export_status], api_name="export")
    ui.compare_btn.click(for_gradio(on_compare, progress=False), inputs=[*peer_controls, *controls], outputs=[ui.compare_gallery, ui.compare_table, ui.compare_status], api_name="compare")
    ui.vae_load.click(load_vae_ui, inputs=[ui.vae_path, ui.vae_family], outputs=[ui.vae, ui.vae_status], api_name="load_vae").then(
        for_gradio(on_controls), inputs=[*controls, stamp], outputs=refreshed, api_visibility="private", js=STAMP_JS
    )
    # The stateless API: image, mask and controls in, every view out (scripts, load tests).
    ui.api_compute.click(compute_api, inputs=[ui.editor, ui.mask_upload, *controls], outputs=[*ui.api_outputs, *ui.api_texts], api_name="compute")
    guard_bad_inputs(ui.demo, ui.notes)

"""Compare: the same image and mask prepared by diffusers and ComfyUI, next to the webui's."""

from __future__ import annotations

import gradio as gr

from inpaint_init import InitError

from .checks import check_values
from .controls import CONTROL_NAMES
from .api import stateless_session
from .refresh import run_session, state_key
from .session import Session
from .state import as_file, session_for


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

    v, _ = check_values(dict(values))
    v["diffusers_strength"] = None if not v["diffusers_strength"] else float(v["diffusers_strength"])
    for name in ("unet_channels", "grow_mask_by", "grow_mask"):
        v[name] = int(v[name])
    return PeerSettings(**v)


def _compare(session: Session, values: tuple):
    from inpaint_init.compare import compare

    n = len(PEER_CONTROL_NAMES)
    try:
        settings = peer_settings(dict(zip(PEER_CONTROL_NAMES, values[:n])))
        image, result = run_session(session, dict(zip(CONTROL_NAMES, values[n:])))
    except (InitError, TypeError, ValueError) as e:
        return [], f"⛔ {e}"
    comparison = compare(result, image, settings=settings)
    return [(as_file(v.image), v.caption) for v in comparison.views.values() if v.image is not None], comparison.table


def compare_ui(editor, mask_upload, *values):
    """The same image and mask prepared by diffusers and ComfyUI, next to the webui's.
    ``values``: PEER_CONTROL_NAMES' values, then CONTROL_NAMES'."""
    session = stateless_session(editor, mask_upload)
    return _compare(session, values)


def on_compare(*values, request: gr.Request = None):
    session = session_for(request)
    gallery, table = _compare(session, values)
    n = len(PEER_CONTROL_NAMES)
    if session.last is not None:
        image, result, last_values = session.last
        if dict(zip(CONTROL_NAMES, values[n:])) == last_values:
            session.compared_key = state_key(session)
    return gallery, table, ""

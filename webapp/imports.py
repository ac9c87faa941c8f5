"""Importing a webui job: a PNG's infotext or an img2img API body into the controls (and for a
body, the picture and the mask), then one refresh."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import Image

from inpaint_init import InitError
from inpaint_init.cli import MAX_PAYLOAD, read_text_file

from .controls import CONTROL_NAMES, controls_from_params, merge_imported, newest_values
from .editor import editor_file_value, editor_value
from .refresh import refresh_page
from .state import PAGE_MAX_PIXELS, as_file, session_for, skip_page


def _import_report(job) -> str:
    lines = [f"✅ Imported {len(job.used)} parameters: " + ", ".join(f"{k} = {v}" for k, v in job.used.items())]
    if job.ignored:
        lines.append(f"Not used before sampling: {', '.join(dict.fromkeys(job.ignored))}")
    if job.unknown:
        lines.append(f"⚠️ Unknown keys: {', '.join(dict.fromkeys(job.unknown))}")
    lines += [f"⚠️ {n}" for n in dict.fromkeys(job.notes)]
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
        if text is not None and not isinstance(text, str):
            raise InitError("The API body must be text (JSON).")
        if path:
            text = read_text_file(path, "the uploaded JSON", limit=MAX_PAYLOAD)
        if text and len(text) > MAX_PAYLOAD:
            raise InitError(f"the pasted body is {len(text) / 2**20:.0f} MB; the limit is {MAX_PAYLOAD // 2**20} MB, as for uploads")
        if not text or not text.strip():
            raise InitError("Paste an img2img API request body (JSON) or upload one.")
        job = parse_api_payload(text, decode_images=1, max_pixels=PAGE_MAX_PIXELS)  # the page shows the first: nothing else is decoded
    except (InitError, OSError, UnicodeDecodeError) as e:
        return (gr.skip(), gr.skip(), *[gr.skip()] * n, f"⛔ {e}")
    return (editor_value(job.init_images[0], None), job.mask, *controls_from_params(job.params), _import_report(job))


def _as_used(imported: list, values: dict) -> list:
    """The imported controls as the refresh uses them: held to the page's limits (the notes name
    each value that was clamped or refused)."""
    skip = type(gr.skip())
    return [new if isinstance(new, skip) else values[name] for name, new in zip(CONTROL_NAMES, imported)]


def on_import_png(path, *args, request: gr.Request = None, progress=gr.Progress()):
    """Import a PNG's parameters, then one refresh with them."""
    out = import_png_ui(path)
    controls, status = list(out[:-1]), out[-1]
    session = session_for(request)
    if str(status).startswith("⛔") or not path:
        return [*controls, status, *skip_page()]
    values = newest_values(session, args, merge_imported(args, controls))
    return [*_as_used(controls, values), status, *refresh_page(session, values, progress)]


def on_import_api(text, path, *args, request: gr.Request = None, progress=gr.Progress()):
    """Import an API body: image, mask and parameters, then one refresh with them."""
    out = import_api_ui(text, path)
    editor, mask, controls, status = out[0], out[1], list(out[2:-1]), out[-1]
    session = session_for(request)
    if str(status).startswith("⛔"):
        return [editor, mask, *controls, status, gr.skip(), gr.skip(), *skip_page()]
    session.image, session.painted, session.uploaded, session.example = editor["background"].convert("RGB"), None, mask, None
    session.shown = {}
    editor, mask = editor_file_value(session.image), as_file(mask)
    values = newest_values(session, args, merge_imported(args, controls))
    return [
        editor, mask, *_as_used(controls, values), status, gr.update(value=None), "Imported from an API body.",
        *refresh_page(session, values, progress),
    ]  # fmt: skip

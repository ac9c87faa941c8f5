"""The example picker: an example's picture, mask and settings into the page and the session."""

from __future__ import annotations

import gradio as gr

from inpaint_init.examples import EXAMPLES, load_example

from .controls import EXAMPLE_SETTINGS, newest_values
from .editor import editor_file_value
from .refresh import refresh_page
from .state import as_file, session_for, skip_page, start_with_example


EXAMPLE_MASK_NOTE = " *(Its mask is in the upload slot of Image & mask: clear it there to paint your own.)*"


def load_example_ui(name: str):
    """Example dropdown → editor value (the picture, no layer), the mask for the upload slot,
    the description, and the example's settings for EXAMPLE_SETTINGS' controls (the defaults
    when it sets none)."""
    image, mask, ex = load_example(name)
    return (
        # canvas_size = the image's: Gradio otherwise fits the picture into its default 800×800 canvas.
        gr.ImageEditor(value=editor_file_value(image), canvas_size=image.size),
        as_file(mask),
        ex.description + EXAMPLE_MASK_NOTE,
        *[ex.settings.get(name, default) for name, default in EXAMPLE_SETTINGS.items()],
    )


def on_example(name, *args, request: gr.Request = None, progress=gr.Progress()):
    """An example was picked: its image, mask and settings go to the page and the session, and
    one refresh runs with them (the page's control events do not fire for values set here)."""
    if not isinstance(name, str) or name not in {e.name for e in EXAMPLES}:
        return [gr.skip()] * (3 + len(EXAMPLE_SETTINGS)) + skip_page()
    session = session_for(request)
    editor, upload, description, *settings = load_example_ui(name)
    start_with_example(session, name)
    session.shown = {}
    values = newest_values(session, args, dict(zip(EXAMPLE_SETTINGS, settings)))
    return [editor, upload, description, *settings, *refresh_page(session, values, progress)]

"""The picture and the masks: the painter's strokes, the uploads, clearing an upload."""

from __future__ import annotations

import gradio as gr
from PIL import ImageOps

from inpaint_init.cache import image_digest

from .controls import newest_values, stamp_of
from .editor import editor_file_value, mask_from_editor
from .refresh import refresh_page
from .state import session_for, skip_page


def on_editor(editor, *args, request: gr.Request = None, progress=gr.Progress()):
    """The user painted: take the editor's strokes as the painted mask, then refresh.

    The editor is never a source of the picture (the image upload is, or an example, or an
    import): Gradio's editor fires events of its own, and some carry the picture it showed
    before (measured: after the user's upload, a page update made it send the old one). An
    event whose picture is not the session's is one of those and changes nothing; so does one
    whose strokes are the ones the session holds (a redraw would resize the page, which makes
    the editor fire again)."""
    session = session_for(request)
    if not session.newer_input("editor", stamp_of(args)):
        return skip_page()
    image, painted = mask_from_editor(editor)
    if image is None or session.image is None or image.size != session.image.size:
        return skip_page()
    if image_digest(image.convert("RGB")) != image_digest(session.image.convert("RGB")):
        return skip_page()
    painted = painted if painted is not None and painted.getbbox() is not None else None
    if (painted is None and session.painted is None) or (
        painted is not None and session.painted is not None and image_digest(painted) == image_digest(session.painted)
    ):
        return skip_page()
    session.painted = painted
    values = newest_values(session, args)
    return refresh_page(session, values, progress)


def on_image_upload(image, *args, request: gr.Request = None, progress=gr.Progress()):
    """The user uploaded their own picture: it replaces the image (turned by its EXIF
    orientation, as the browser shows it and the webui reads it), the painting is cleared, the
    editor shows it to paint on, and the example's name and description go."""
    session = session_for(request)
    if image is None or not session.newer_input("image", stamp_of(args)):
        return [gr.skip()] * 3 + skip_page()
    image = ImageOps.exif_transpose(image)
    session.image, session.painted, session.example = image, None, None
    values = newest_values(session, args)
    editor = gr.ImageEditor(value=editor_file_value(image), canvas_size=image.size)
    out = refresh_page(session, values, progress)
    return [editor, gr.update(value=None), "Your own image.", *out]


def on_mask_upload(mask, *args, request: gr.Request = None, progress=gr.Progress()):
    session = session_for(request)
    if not session.newer_input("mask", stamp_of(args)):
        return skip_page()
    session.uploaded = mask
    values = newest_values(session, args)
    return refresh_page(session, values, progress)


def on_soft_result(result_image, *args, request: gr.Request = None, progress=gr.Progress()):
    session = session_for(request)
    if not session.newer_input("soft_result", stamp_of(args)):
        return skip_page()
    session.soft_result = result_image
    values = newest_values(session, args)
    return refresh_page(session, values, progress)


def clear_upload(*args, request: gr.Request = None, progress=gr.Progress()):
    """*Clear uploaded mask*: back to the painted mask."""
    session = session_for(request)
    session.uploaded = None
    values = newest_values(session, args)
    return [None, *refresh_page(session, values, progress)]

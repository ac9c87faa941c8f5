"""The stateless forms of the refresh: image and mask with every call (the ``/compute`` API,
scripts, tests, and the compare and export panels' stateless entry points)."""

from __future__ import annotations

import gradio as gr

from inpaint_init import InitError
from inpaint_init.views import notes_markdown

from .checks import BadInput
from .controls import CONTROL_NAMES, checked
from .editor import mask_from_editor
from .refresh import VIEW_KEYS, run_refresh
from .session import Session
from .state import CHANGED, PICTURES


def refresh(session: Session, values: dict, progress=None, as_files: bool = False) -> list:
    """Per view (picture, caption), then timing, summary and notes: the API's and the tests'
    form. A picture the page already shows (``session.shown``) is a ``gr.skip()``; ``as_files``:
    pictures as PNG file paths, else PIL images."""
    try:
        values = checked(values, session, keep_last=False)  # a script's values: refused, not replaced
        r = run_refresh(session, values, progress)
    except InitError as e:
        return [*[gr.skip()] * (2 * len(VIEW_KEYS)), gr.skip(), gr.skip(), notes_markdown(None, str(e))]
    out = []
    by_key = {v[0]: v for v in r.views}
    for key in VIEW_KEYS:
        if key not in by_key:
            out += [gr.skip(), gr.skip()]
            continue
        _, picture, digest, changed, caption = by_key[key]
        out.append((PICTURES.path(picture, digest) if as_files else picture) if changed else gr.skip())
        out.append((CHANGED if changed else "") + caption)
    return [*out, r.timing.replace("{files}", "–").replace("{total}", "–"), r.summary, r.notes]


def stateless_session(editor, mask_upload, soft_result=None) -> Session:
    """A throwaway session for the stateless forms (API, tests): inputs given with the call."""
    for given in (editor, mask_upload, soft_result):
        if isinstance(given, BadInput):
            raise InitError(given.message)
    session = Session()
    session.image, session.painted = mask_from_editor(editor)
    session.uploaded, session.soft_result = mask_upload, soft_result
    return session


def compute(editor, mask_upload, *args, shown=None, soft_result=None, progress=None, **controls):
    """The stateless refresh (the ``/compute`` API and tests): image and mask with every call.

    ``controls``: CONTROL_NAMES by keyword (or positionally after the mask). ``shown``: the
    previous call's returned state (view → digest) to skip unchanged pictures; None sends all.
    Returns every view (picture, caption), the timing, the summary, the notes and the new
    ``shown``."""
    values = dict(zip(CONTROL_NAMES, args)) | controls
    session = stateless_session(editor, mask_upload, soft_result)
    session.shown = dict(shown) if shown is not None else {}
    out = refresh(session, values, progress, as_files=False)
    return (*out, session.shown if shown is not None else gr.skip())


def compute_api(editor, mask_upload, *args):
    """``/compute``: the stateless refresh with pictures as files, every picture sent."""
    values = dict(zip(CONTROL_NAMES, args))
    try:
        session = stateless_session(editor, mask_upload)
    except InitError as e:
        return (*[gr.skip()] * (2 * len(VIEW_KEYS) + 2), notes_markdown(None, str(e)))
    return tuple(refresh(session, values, as_files=True))

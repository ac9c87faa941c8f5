"""The refresh: controls → init → views → the page's grid, timing, summary and notes.

The page's events carry only control values; the image and masks reach the server once, when the
user uploads or paints, and stay in the browser session's :class:`~webapp.session.Session`.
``compute`` (also the ``/compute`` API) is the stateless form: image and mask with every call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from inpaint_init import InitError, run_init
from inpaint_init.cache import image_digest
from inpaint_init.examples import EXAMPLES
from inpaint_init.views import VIEW_NAMES, WHY, SameInputs, notes_markdown, render_views, summary_markdown, timings_markdown

from .ab_panel import ab_outputs
from .diagnosis import diagnosis_html, findings_for, fix_choices
from .controls import newest_values, params_from_controls, vae_backend
from .pictures import text_card
from .session import Session
from .state import (
    CACHE, CHANGED, DEFAULT_SHOWN, DEFAULT_TEXTS, PAGE_OUTPUTS, PICTURES, POOL, STATS, sequenced, session_for,
    start_with_example, text_out,
)  # fmt: skip
from .viewgrid import SIZES, Cell, grid_html


VIEW_KEYS = tuple(VIEW_NAMES)


_DIGESTS = SameInputs(size=512)


def _digest(picture: Image.Image) -> str:
    return _DIGESTS(image_digest, picture)


def run_session(session: Session, values: dict, progress=None):
    """(image, InitResult) for the session's image and mask and the control values."""
    if session.image is None:
        raise InitError("Load or upload an image first (or pick an example).")
    params = params_from_controls(values)
    backend = vae_backend(values["vae"], values["vae_posterior"], values["vae_sample_seed"])
    report = None if progress is None else (lambda f, s: progress(f, desc=s))
    result = run_init(session.image, session.mask, params, vae=backend, cache=CACHE, progress=report, result_image=session.soft_result)
    return session.image, result


def _painting_ignored(session: Session) -> str | None:
    if session.uploaded is not None and session.painted is not None and session.painted.getbbox() is not None:
        return (
            "A mask is uploaded, so your brush strokes are ignored (the upload wins, as through the webui's API). "
            "Clear the uploaded mask (its ×, or *Clear uploaded mask*) to use the painting."
        )
    return None


@dataclass
class Refresh:
    """One refresh's result: per view (in VIEW_KEYS order, visible ones only) the picture, its
    digest, whether it differs from what the page shows, and the caption; plus the texts."""

    result: object
    image: Image.Image
    views: list[tuple[str, Image.Image, str, bool, str]]
    timing: str
    summary: str
    notes: str
    diagnosis: str = ""
    fixes: list = None


def run_refresh(session: Session, values: dict, progress=None) -> Refresh:
    """Run init for the session and draw the visible views; ``session.shown`` is updated to
    the new pictures. Raises InitError."""
    start = time.perf_counter()
    STATS["computes"] += 1
    image, result = run_session(session, values, progress)
    computed = time.perf_counter()
    drawn = render_views(result, image)
    keys = [k for k in VIEW_KEYS if session.visible is None or k in session.visible]
    for key in set(VIEW_KEYS) - set(keys):
        session.shown.pop(key, None)  # drawn again when it is shown again
    pictures = [drawn[k].image if drawn[k].image is not None else text_card(drawn[k].caption) for k in keys]
    # hashlib releases the GIL on large buffers: two threads hash two pictures at once.
    digests = list(POOL.map(_digest, pictures))
    views = []
    for key, picture, digest in zip(keys, pictures, digests):
        changed = session.shown.get(key) != digest
        session.shown[key] = digest
        views.append((key, picture, digest, changed, drawn[key].caption))
    session.last = (image, result, dict(values))
    notes = notes_markdown(result)
    said = [*session.input_notes, *filter(None, [_painting_ignored(session)])]
    if said:
        notes = "\n\n".join(f"⚠️ {n}" for n in said) + ("\n\n" + notes if notes != "No warnings." else "")
    findings = findings_for(session, result, image)
    refresh = Refresh(result, image, views, "", summary_markdown(result, timings=False), notes, diagnosis_html(findings), fix_choices(findings))
    refresh.timing = _timing_line(result, start, computed)
    return refresh


def _timing_line(result, start: float, computed: float) -> str:
    """The whole refresh the user waited for on the server; ``{files}``/``{total}`` are filled in
    by the page's refresh once the picture files are written."""
    views = time.perf_counter() - computed
    return (
        f"**Refresh: {{total}} ms** on the server: init {(computed - start) * 1000:.0f} ms, views {views * 1000:.0f} ms, "
        f"picture files {{files}} ms · {CHANGED.strip()} marks the views that changed"
        "\n\n<details><summary>per stage</summary>\n\n" + timings_markdown(result) + "\n\n</details>"
    )


def _scale_note(picture: Image.Image, path: str) -> str:
    stem = Path(path).stem
    if "-r" not in stem:
        return ""
    factor = stem.rsplit("-r", 1)[1]
    return f"(shown at 1/{factor}) "


#: Pictures whose long side is above this are shown reduced (a view cell is ~330–500 px wide),
#: unless the user asks for full resolution: a 1024² picture is 3 MB to hash, write, fetch and
#: decode, a quarter of that reduced.
DISPLAY_MAX = 768


def _display_path(session: Session, picture: Image.Image, digest: str) -> str:
    factor = -(-max(picture.size) // DISPLAY_MAX)
    if session.full_resolution or factor <= 1:
        return PICTURES.path(picture, digest)
    # Keyed by the full picture's digest: the reduced copy is made only when that changed.
    return PICTURES.path(None, f"{digest}-r{factor}", make=lambda: picture.reduce(factor))


def page_refresh(session: Session, values: dict, progress=None) -> list:
    """The page's refresh outputs: the view grid (HTML), timing, summary, notes. Text that did
    not change is not sent: every output the page updates costs it time."""
    start = time.perf_counter()
    try:
        r = run_refresh(session, values, progress)
    except InitError as e:
        session.texts.pop("notes", None)
        return [gr.skip(), gr.skip(), gr.skip(), text_out(session, "notes", notes_markdown(None, str(e))), gr.skip(), gr.skip()]
    drawn = time.perf_counter()
    # Written once, touched while shown; zlib and file writes release the GIL too.
    paths = list(POOL.map(lambda v: _display_path(session, v[1], v[2]), r.views))
    cells = [
        Cell(key, VIEW_KEYS.index(key) + 1, VIEW_NAMES[key], path, _scale_note(picture, path) + caption, WHY[key], changed)
        for (key, picture, _, changed, caption), path in zip(r.views, paths)
    ]
    html = grid_html(cells, session.view_size)
    end = time.perf_counter()
    timing = r.timing.replace("{files}", f"{(end - drawn) * 1000:.0f}").replace("{total}", f"{(end - start) * 1000:.0f}")
    return [
        text_out(session, "grid", html),
        timing,
        text_out(session, "summary", r.summary),
        text_out(session, "notes", r.notes),
        text_out(session, "diagnosis", r.diagnosis),
        _fix_dropdown(session, r.fixes),
    ]


def _fix_dropdown(session: Session, fixes: list):
    if session.texts.get("fixes") == repr(fixes):
        return gr.skip()
    session.texts["fixes"] = repr(fixes)
    return gr.update(choices=fixes, value=None, visible=bool(fixes))


def refresh_page(session: Session, values: dict, progress=None) -> list:
    """Refresh the page in the session's turn (nothing, if a newer request is waiting)."""
    return sequenced(session, lambda: with_status(session, page_refresh(session, values, progress)), PAGE_OUTPUTS)


def with_status(session: Session, out: list) -> list:
    """A refresh's outputs plus the comparison's and the pin's status lines."""
    key = state_key(session)
    stale = session.compared_key is not None and session.compared_key != key
    compare_status = "⚠️ The comparison below is for an earlier state: press **Compare** to update it." if stale else ""
    return [*out[:4], text_out(session, "compare-status", compare_status), *ab_outputs(session), *out[4:]]


def state_key(session: Session):
    if session.last is None:
        return None
    image, result, values = session.last
    return (image_digest(image), image_digest(session.mask), tuple(sorted((k, str(v)) for k, v in values.items())))


def on_controls(*args, request: gr.Request = None, progress=gr.Progress()):
    """Any control changed: only the control values travel."""
    session = session_for(request)
    values = newest_values(session, args)
    return refresh_page(session, values, progress)


def on_visibility(selected, *args, request: gr.Request = None, progress=gr.Progress()):
    """Which views to show: hidden views are neither drawn nor sent."""
    session = session_for(request)
    chosen = set(selected) if isinstance(selected, list) and all(isinstance(t, str) for t in selected) else set()
    session.visible = tuple(k for k, title in VIEW_NAMES.items() if title in chosen)
    values = newest_values(session, args)
    return refresh_page(session, values, progress)


def on_view_options(size, full_resolution, *args, request: gr.Request = None, progress=gr.Progress()):
    """How big: the grid's column width, and whether large pictures are sent at full resolution."""
    session = session_for(request)
    session.view_size = size if isinstance(size, str) and size in SIZES else "medium"
    session.full_resolution = full_resolution is True
    values = newest_values(session, args)
    return refresh_page(session, values, progress)


DEFAULT_PAGE: dict[str, str] = {}


def initial_page(values: dict) -> dict[str, str]:
    """The page's first state (the first example at ``values``): grid, timing, summary, notes.
    Rendered once when the app is built, so the first pictures arrive with the page, without a
    compute per visitor; new sessions start from it (DEFAULT_SHOWN / DEFAULT_TEXTS)."""
    if not DEFAULT_PAGE:
        session = Session()
        start_with_example(session, EXAMPLES[0].name)
        session.shown, session.texts = {}, {}
        out = page_refresh(session, values)
        # As the page first shows them: no view is marked as changed.
        out[0] = out[0].replace(" changed\"", "\"").replace(CHANGED, "")
        session.texts["grid"] = out[0]
        # Its timing is the cold start (imports, first runs): not what a refresh costs.
        timing = "The first state was rendered when the app started. Move a control to see what a refresh costs."
        DEFAULT_PAGE.update(grid=out[0], timing=timing, summary=out[2], notes=out[3], diagnosis=out[4], fixes=fix_choices(session.findings))
        DEFAULT_SHOWN.update(session.shown)
        DEFAULT_TEXTS.update(session.texts)
    return DEFAULT_PAGE

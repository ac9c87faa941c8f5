"""What each control does: run the pipeline, turn its result into outputs. No layout here.

The page's events carry only control values; the image and masks reach the server once, when the
user uploads or paints, and stay in the browser session's :class:`~webapp.session.Session`.
``compute`` (also the ``/compute`` API) is the stateless form: image and mask with every call.
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image, ImageOps

from inpaint_init import CheapApproxVAE, InitError, InitParams, StageCache, create_binary_mask, run_init
from inpaint_init.cache import image_digest
from inpaint_init.cli import MAX_PAYLOAD, read_text_file
from inpaint_init.examples import EXAMPLES, load_example
from inpaint_init.pipeline import MAX_PIXELS
from inpaint_init.soft_inpainting import SOFT_PARAMS
from inpaint_init.views import VIEW_NAMES, WHY, SameInputs, notes_markdown, render_views, summary_markdown, timings_markdown

from .pictures import PictureStore, text_card
from .session import Session, SessionStore
from .viewgrid import SIZES, Cell, grid_html

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
SESSIONS = SessionStore()
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pictures")
def _picture_folder() -> str:
    # Inside Gradio's own cache folder: Gradio serves files from there as they are, where it would
    # otherwise hash and copy every output picture into it (~3 ms per 512² picture).
    from gradio.utils import get_upload_folder

    Path(get_upload_folder()).mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix="inpaint-init-views-", dir=get_upload_folder())


PICTURES = PictureStore(_picture_folder(), level=1)
#: Counters for the benchmarks and tests (computes run by this process).
STATS = {"computes": 0}
VAE_HELP = (
    "Diffusers folders, single .safetensors/.pt files (LDM or diffusers keys, or a full checkpoint) and TAESD files. "
    "Offline; pickles are only read as plain tensors."
)
CHANGED = "● "  # caption mark of a view whose picture changed on the last update

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
#: The controls an example may set, with the value used when it sets none.
EXAMPLE_SETTINGS = {
    "inpaint_full_res": False,
    "inpaint_full_res_padding": 32,
    "mask_blur_x": 4,
    "mask_blur_y": 4,
    "soft_inpainting": False,
}
VIEW_KEYS = tuple(VIEW_NAMES)


# ----------------------------------------------------------------------------- inputs
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
    except (TypeError, ValueError) as e:
        raise InitError(f"a control has a value of the wrong kind: {e}") from e


def vae_backend(choice: str, posterior: str, sample_seed):
    """The backend for a dropdown choice, with the posterior setting applied where it exists."""
    backend = VAES.get(choice)
    if backend is None:
        raise InitError(f"unknown VAE choice {choice!r}; load it again")
    if hasattr(backend, "with_posterior"):
        backend = backend.with_posterior(posterior, int(sample_seed))
    return backend


def _session(request: gr.Request | None) -> Session:
    # Never a shared fallback: a request without a session would mix visitors' pictures.
    session = SESSIONS.get(_session_key(request))
    if session.image is None:
        _start_with_example(session, EXAMPLES[0].name)
    return session


def _start_with_example(session: Session, name: str) -> None:
    """An example's image and mask into the session. The mask goes in as the uploaded mask, also
    for the painted (RGBA brush) ones: Gradio's editor, given a new picture and a mask layer,
    can lay the layer out in the previous picture's canvas (the Chelsea mask showed a fifth of
    the picture away from where the views used it). Init reads an RGBA mask the same way either
    way (alpha > 128)."""
    image, mask, ex = load_example(name)
    session.image = image
    session.painted = None
    session.uploaded = mask
    session.example = name
    first = name == EXAMPLES[0].name
    session.shown = dict(DEFAULT_SHOWN) if first else {}
    session.texts = dict(DEFAULT_TEXTS) if first else {}


# ----------------------------------------------------------------------------- one refresh
# image_digest, remembered per picture object (the views' identity memo): unchanged views come
# back as the same objects (stage cache, views' memo), and hashing every picture of a refresh
# would cost more than the refresh.
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
    digests = list(_POOL.map(_digest, pictures))
    views = []
    for key, picture, digest in zip(keys, pictures, digests):
        changed = session.shown.get(key) != digest
        session.shown[key] = digest
        views.append((key, picture, digest, changed, drawn[key].caption))
    session.last = (image, result, dict(values))
    notes = notes_markdown(result)
    ignored = _painting_ignored(session)
    if ignored:
        notes = f"⚠️ {ignored}\n\n" + (notes if notes != "No warnings." else "")
    refresh = Refresh(result, image, views, "", summary_markdown(result, timings=False), notes)
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


def page_refresh(session: Session, values: dict, progress=None) -> list:
    """The page's refresh outputs: the view grid (HTML), timing, summary, notes. Text that did
    not change is not sent: every output the page updates costs it time."""
    start = time.perf_counter()
    try:
        r = run_refresh(session, values, progress)
    except InitError as e:
        session.texts.pop("notes", None)
        return [gr.skip(), gr.skip(), gr.skip(), _text(session, "notes", notes_markdown(None, str(e)))]
    drawn = time.perf_counter()
    # Written once, touched while shown; zlib and file writes release the GIL too.
    paths = list(_POOL.map(lambda v: _display_path(session, v[1], v[2]), r.views))
    cells = [
        Cell(key, VIEW_KEYS.index(key) + 1, VIEW_NAMES[key], path, _scale_note(picture, path) + caption, WHY[key], changed)
        for (key, picture, _, changed, caption), path in zip(r.views, paths)
    ]
    html = grid_html(cells, session.view_size)
    end = time.perf_counter()
    timing = r.timing.replace("{files}", f"{(end - drawn) * 1000:.0f}").replace("{total}", f"{(end - start) * 1000:.0f}")
    return [
        _text(session, "grid", html),
        timing,
        _text(session, "summary", r.summary),
        _text(session, "notes", r.notes),
    ]


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


def refresh(session: Session, values: dict, progress=None, as_files: bool = False) -> list:
    """Per view (picture, caption), then timing, summary and notes: the API's and the tests'
    form. A picture the page already shows (``session.shown``) is a ``gr.skip()``; ``as_files``:
    pictures as PNG file paths, else PIL images."""
    try:
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


def _text(session: Session, key: str, text: str):
    if session.texts.get(key) == text:
        return gr.skip()
    session.texts[key] = text
    return text


def _stateless_session(editor, mask_upload, soft_result=None) -> Session:
    """A throwaway session for the stateless forms (API, tests): inputs given with the call."""
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
    session = _stateless_session(editor, mask_upload, soft_result)
    session.shown = dict(shown) if shown is not None else {}
    out = refresh(session, values, progress, as_files=False)
    return (*out, session.shown if shown is not None else gr.skip())


def compute_api(editor, mask_upload, *args):
    """``/compute``: the stateless refresh with pictures as files, every picture sent."""
    values = dict(zip(CONTROL_NAMES, args))
    session = _stateless_session(editor, mask_upload)
    return tuple(refresh(session, values, as_files=True))


def for_gradio(handler, progress: bool = True):
    """``handler`` as Gradio must see it. Gradio hands a handler the request (and a progress
    tracker) only through parameters that come *before* ``*args``; a keyword-only
    ``request`` after ``*args`` stays None, and every page would share one session. The
    handlers keep the readable ``(*inputs, request=...)`` form for tests and scripts."""
    if progress:

        def wrapped(request: gr.Request, progress=gr.Progress(), *args):
            return handler(*args, request=request, progress=progress)

    else:

        def wrapped(request: gr.Request, *args):
            return handler(*args, request=request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _session_key(request) -> str:
    key = getattr(request, "session_hash", None)
    if not key:
        raise gr.Error("No browser session came with this request: reload the page.")
    return key


def _sequenced(session: Session, work, n_outputs: int):
    """Run ``work()`` in the session's turn; a request that is no longer the newest changes
    nothing on the page."""
    with session.turn() as is_newest:
        if not is_newest():
            return [gr.skip()] * n_outputs
        return work()


N_REFRESH = 4  # the view grid, timing, summary, notes


#: A page refresh's outputs (grid, timing, summary, notes) plus the comparison's status and the
#: A/B gallery and table.
PAGE_OUTPUTS = N_REFRESH + 3


def skip_page() -> list:
    """Leave every output of a page refresh as it is (a new list: Gradio may alter its items)."""
    return [gr.skip() for _ in range(PAGE_OUTPUTS)]


def _refresh_page(session: Session, values: dict, progress=None) -> list:
    """Refresh the page in the session's turn (nothing, if a newer request is waiting)."""
    return _sequenced(session, lambda: _with_status(session, page_refresh(session, values, progress)), PAGE_OUTPUTS)


def _with_status(session: Session, out: list) -> list:
    """A refresh's outputs plus the comparison's and the pin's status lines."""
    key = _state_key(session)
    stale = session.compared_key is not None and session.compared_key != key
    compare_status = "⚠️ The comparison below is for an earlier state: press **Compare** to update it." if stale else ""
    return [*out, _text(session, "compare-status", compare_status), *ab_outputs(session)]


def _state_key(session: Session):
    if session.last is None:
        return None
    image, result, values = session.last
    return (image_digest(image), image_digest(session.mask), tuple(sorted((k, str(v)) for k, v in values.items())))


def _stamp(args) -> float | None:
    return args[len(CONTROL_NAMES)] if len(args) > len(CONTROL_NAMES) else None


def _newest(session: Session, args, overrides: dict | None = None) -> dict:
    """The control values a refresh must render: ``args`` are CONTROL_NAMES' values, optionally
    followed by the page's stamp (``performance.now()`` when the browser sent the request,
    added by STAMP_JS); values sent later win, whichever request the server happens to start
    first (Gradio starts queued requests of different listeners in its own order)."""
    values = dict(zip(CONTROL_NAMES, args)) | (overrides or {})
    stamp = args[len(CONTROL_NAMES)] if len(args) > len(CONTROL_NAMES) else None
    return session.newest(values, stamp)


def on_controls(*args, request: gr.Request = None, progress=gr.Progress()):
    """Any control changed: only the control values travel."""
    session = _session(request)
    values = _newest(session, args)
    return _refresh_page(session, values, progress)


def on_editor(editor, *args, request: gr.Request = None, progress=gr.Progress()):
    """The user painted: take the editor's strokes as the painted mask, then refresh.

    The editor is never a source of the picture (the image upload is, or an example, or an
    import): Gradio's editor fires events of its own, and some carry the picture it showed
    before (measured: after the user's upload, a page update made it send the old one). An
    event whose picture is not the session's is one of those and changes nothing; so does one
    whose strokes are the ones the session holds (a redraw would resize the page, which makes
    the editor fire again)."""
    session = _session(request)
    if not session.newer_input("editor", _stamp(args)):
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
    values = _newest(session, args)
    return _refresh_page(session, values, progress)


def on_image_upload(image, *args, request: gr.Request = None, progress=gr.Progress()):
    """The user uploaded their own picture: it replaces the image (turned by its EXIF
    orientation, as the browser shows it and the webui reads it), the painting is cleared, the
    editor shows it to paint on, and the example's name and description go."""
    session = _session(request)
    if image is None or not session.newer_input("image", _stamp(args)):
        return [gr.skip()] * 3 + skip_page()
    image = ImageOps.exif_transpose(image)
    session.image, session.painted, session.example = image, None, None
    values = _newest(session, args)
    editor = gr.ImageEditor(value=_editor_file_value(image), canvas_size=image.size)
    out = _refresh_page(session, values, progress)
    return [editor, gr.update(value=None), "Your own image.", *out]


def on_mask_upload(mask, *args, request: gr.Request = None, progress=gr.Progress()):
    session = _session(request)
    if not session.newer_input("mask", _stamp(args)):
        return skip_page()
    session.uploaded = mask
    values = _newest(session, args)
    return _refresh_page(session, values, progress)


def on_soft_result(result_image, *args, request: gr.Request = None, progress=gr.Progress()):
    session = _session(request)
    if not session.newer_input("soft_result", _stamp(args)):
        return skip_page()
    session.soft_result = result_image
    values = _newest(session, args)
    return _refresh_page(session, values, progress)


def clear_upload(*args, request: gr.Request = None, progress=gr.Progress()):
    """*Clear uploaded mask*: back to the painted mask."""
    session = _session(request)
    session.uploaded = None
    values = _newest(session, args)
    return [None, *_refresh_page(session, values, progress)]


def _as_file(image: Image.Image | None):
    """A picture for a Gradio output as a file path: written atomically by PictureStore. A PIL
    output would be PNG-encoded by Gradio into its cache under a content hash without a
    temporary name, so two sessions making the same picture could serve a half-written file."""
    return None if image is None else PICTURES.path(image)


def _editor_file_value(image: Image.Image) -> dict:
    return {"background": _as_file(image.convert("RGBA")), "layers": [], "composite": None}


def load_example_ui(name: str):
    """Example dropdown → editor value (the picture, no layer), the mask for the upload slot,
    the description, and the example's settings for EXAMPLE_SETTINGS' controls (the defaults
    when it sets none)."""
    image, mask, ex = load_example(name)
    return (
        # canvas_size = the image's: Gradio otherwise fits the picture into its default 800×800 canvas.
        gr.ImageEditor(value=_editor_file_value(image), canvas_size=image.size),
        _as_file(mask),
        ex.description + EXAMPLE_MASK_NOTE,
        *[ex.settings.get(name, default) for name, default in EXAMPLE_SETTINGS.items()],
    )


EXAMPLE_MASK_NOTE = " *(Its mask is in the upload slot of Image & mask: clear it there to paint your own.)*"


def on_example(name, *args, request: gr.Request = None, progress=gr.Progress()):
    """An example was picked: its image, mask and settings go to the page and the session, and
    one refresh runs with them (the page's control events do not fire for values set here)."""
    if not name:
        return [gr.skip()] * (3 + len(EXAMPLE_SETTINGS)) + skip_page()
    session = _session(request)
    editor, upload, description, *settings = load_example_ui(name)
    _start_with_example(session, name)
    session.shown = {}
    values = _newest(session, args, dict(zip(EXAMPLE_SETTINGS, settings)))
    return [editor, upload, description, *settings, *_refresh_page(session, values, progress)]


# ----------------------------------------------------------------------------- import
def controls_from_params(params: InitParams) -> list:
    """Control values for ``params`` in CONTROL_NAMES order; the VAE controls stay as they are."""
    return [getattr(params, name) if hasattr(params, name) else gr.skip() for name in CONTROL_NAMES]


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


def _merge(args, imported) -> dict:
    """The controls after an import: imported values where given, the page's elsewhere."""
    skip = type(gr.skip())
    return {name: (arg if isinstance(new, skip) else new) for name, arg, new in zip(CONTROL_NAMES, args, imported)}


def on_import_png(path, *args, request: gr.Request = None, progress=gr.Progress()):
    """Import a PNG's parameters, then one refresh with them."""
    out = import_png_ui(path)
    controls, status = list(out[:-1]), out[-1]
    session = _session(request)
    if str(status).startswith("⛔") or not path:
        return [*controls, status, *skip_page()]
    values = _newest(session, args, _merge(args, controls))
    return [*controls, status, *_refresh_page(session, values, progress)]


def on_import_api(text, path, *args, request: gr.Request = None, progress=gr.Progress()):
    """Import an API body: image, mask and parameters, then one refresh with them."""
    out = import_api_ui(text, path)
    editor, mask, controls, status = out[0], out[1], list(out[2:-1]), out[-1]
    session = _session(request)
    if str(status).startswith("⛔"):
        return [editor, mask, *controls, status, gr.skip(), gr.skip(), *skip_page()]
    session.image, session.painted, session.uploaded, session.example = editor["background"].convert("RGB"), None, mask, None
    session.shown = {}
    editor, mask = _editor_file_value(session.image), _as_file(mask)
    values = _newest(session, args, _merge(args, controls))
    return [
        editor, mask, *controls, status, gr.update(value=None), "Imported from an API body.",
        *_refresh_page(session, values, progress),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- views, A/B
def on_visibility(selected, *args, request: gr.Request = None, progress=gr.Progress()):
    """Which views to show: hidden views are neither drawn nor sent."""
    session = _session(request)
    session.visible = tuple(k for k, title in VIEW_NAMES.items() if title in (selected or []))
    values = _newest(session, args)
    return _refresh_page(session, values, progress)


def on_view_options(size, full_resolution, *args, request: gr.Request = None, progress=gr.Progress()):
    """How big: the grid's column width, and whether large pictures are sent at full resolution."""
    session = _session(request)
    session.view_size = size if size in SIZES else "medium"
    session.full_resolution = bool(full_resolution)
    values = _newest(session, args)
    return _refresh_page(session, values, progress)


def on_pin(request: gr.Request = None):
    """Pin the current result as A: later refreshes show what changed against it."""
    session = _session(request)
    if session.last is None:
        return "Nothing to pin yet.", gr.skip(), gr.skip()
    image, result, values = session.last
    session.pinned = (result, render_views(result, image), dict(values))
    return f"📌 Pinned A ({_describe(values)}). Change controls to see what changed.", *ab_outputs(session)


def on_unpin(request: gr.Request = None):
    session = _session(request)
    session.pinned = None
    return "Nothing pinned.", *ab_outputs(session)


def _describe(values: dict) -> str:
    keys = ("mask_blur_x", "mask_blur_y", "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding", "width", "height")
    return ", ".join(f"{k} {values[k]}" for k in keys if k in values)


def ab_outputs(session: Session) -> list:
    """(gallery of difference images, table) against the pinned result; empty without a pin."""
    from inpaint_init.ab import compare_results

    if session.pinned is None or session.last is None:
        if session.texts.get("ab-table"):
            session.texts["ab-table"] = ""
            return [[], ""]
        return [gr.skip(), gr.skip()]
    pinned, _, pinned_values = session.pinned
    _, result, values = session.last
    diffs = compare_results(pinned, result)
    changed = {k: v for k, v in values.items() if pinned_values.get(k) != v}
    rows = ["| stage | changed | of | unit |", "|---|---:|---:|---|"]
    gallery = []
    for name, d in diffs.items():
        rows.append(f"| {name} | {d.changed} | {d.total} | {d.unit} |")
        if d.image is not None and d.changed:
            gallery.append((_as_file(d.image), f"{name}: {d.changed} {d.unit} changed"))
    head = "B − A: " + (", ".join(f"{k} {pinned_values.get(k)} → {v}" for k, v in changed.items()) or "no control changed")
    session.texts["ab-table"] = head
    return [gallery, head + "\n\n" + "\n".join(rows)]


# ----------------------------------------------------------------------------- VAE, export, compare
#: Who may load VAEs from which paths (see configure_exposure): on a local app, any path of
#: this machine; served beyond it, only under the operator's --vae-dir, or nothing.
VAE_POLICY = {"loading": True, "dir": None}
BUILTIN_VAES = tuple(VAES)
#: Loaded VAEs are shared by all sessions of the process; at most this many are kept (the oldest
#: loaded goes first), so visitors cannot fill the memory with models.
MAX_LOADED_VAES = 3


def configure_exposure(local: bool, vae_dir: str | None) -> None:
    """Set the VAE policy for how the app is served: ``local`` (127.0.0.1 only, no share link)
    or not, and the operator's ``vae_dir``."""
    folder = Path(vae_dir).resolve() if vae_dir else None
    if folder is not None and not folder.is_dir():
        raise SystemExit(f"--vae-dir {vae_dir}: not a folder")
    VAE_POLICY.update(loading=local or folder is not None, dir=folder)


def _vae_path(path: str) -> Path:
    """The VAE path a visitor asked for, within the policy; an InitError otherwise."""
    folder = VAE_POLICY["dir"]
    if not VAE_POLICY["loading"]:
        raise InitError(
            "VAE loading is off: this app is served beyond this machine (--host/--share) and the operator named no "
            "--vae-dir. The weightless approximation stays available."
        )
    candidate = Path(path).expanduser()
    if folder is None:
        return candidate
    resolved = (candidate if candidate.is_absolute() else folder / candidate).resolve()
    if not resolved.is_relative_to(folder):
        raise InitError(f"only VAEs under the operator's --vae-dir ({folder}) can be loaded; give a path inside it")
    return resolved


def load_vae_ui(path: str, family: str, progress=gr.Progress()):
    """Load a VAE from a local path into the VAE choices; on failure keep the current one."""
    from inpaint_init.vae_loaders import VAELoadError, load_vae

    if not path or not path.strip():
        return gr.skip(), "⛔ Enter the path of a VAE folder or file on this machine."
    try:
        target = _vae_path(path.strip())
    except InitError as e:
        return gr.skip(), f"⛔ {e}"
    progress(0.1, desc="loading VAE")
    try:
        backend = load_vae(str(target), family=family)
    except VAELoadError as e:
        return gr.skip(), f"⛔ {e} (the previous VAE stays selected)"
    label = f"{Path(path.strip()).name} ({family})"
    VAES.pop(label, None)
    VAES[label] = backend
    loaded = [k for k in VAES if k not in BUILTIN_VAES]
    for old in loaded[: max(len(loaded) - MAX_LOADED_VAES, 0)]:
        del VAES[old]  # sessions that chose it get "load it again"
    return gr.Dropdown(choices=list(VAES), value=label), f"✅ Loaded {backend.name}"


_EXPORTS: dict[str, Path] = {}
_EXPORTS_LOCK = threading.Lock()


def export_session(session: Session, values: dict, key: str | None = None):
    """Export every stage, the inputs and real (uncached) timings as one zip. The session's
    previous export is deleted (Gradio keeps its own copy of what it served, cleaned on a
    schedule), so /tmp does not grow with every click."""
    import shutil

    from inpaint_init.export import export_result, zip_directory

    if session.image is None:
        raise InitError("Load or upload an image first (or pick an example).")
    params = params_from_controls(values)
    backend = vae_backend(values["vae"], values["vae_posterior"], values["vae_sample_seed"])
    # No cache: the report's timings are what each stage costs, not 0.0 for cached ones.
    result = run_init(session.image, session.mask, params, vae=backend, result_image=session.soft_result)
    folder = Path(tempfile.mkdtemp(prefix="inpaint-init-")) / "export"
    written = export_result(result, session.image, folder, mask=session.mask)
    archive = zip_directory(folder, folder.with_suffix(".zip"))
    shutil.rmtree(folder, ignore_errors=True)
    with _EXPORTS_LOCK:
        old = _EXPORTS.get(key)
        _EXPORTS[key] = archive.parent
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return str(archive), f"✅ {len(written)} files (with the input image and mask; timings measured without the cache)"


def export_ui(editor, mask_upload, *control_values):
    """Export for an explicit editor value (the stateless form, for the API and tests)."""
    session = _stateless_session(editor, mask_upload)
    try:
        return export_session(session, dict(zip(CONTROL_NAMES, control_values)), key="stateless")
    except InitError as e:
        return None, f"⛔ {e}"


def on_export(*args, request: gr.Request = None):
    session = _session(request)
    try:
        return export_session(session, dict(zip(CONTROL_NAMES, args)), key=getattr(request, "session_hash", None))
    except InitError as e:
        return None, f"⛔ {e}"


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


def _compare(session: Session, values: tuple):
    from inpaint_init.compare import compare

    n = len(PEER_CONTROL_NAMES)
    try:
        settings = peer_settings(dict(zip(PEER_CONTROL_NAMES, values[:n])))
        image, result = run_session(session, dict(zip(CONTROL_NAMES, values[n:])))
    except (InitError, TypeError, ValueError) as e:
        return [], f"⛔ {e}"
    comparison = compare(result, image, settings=settings)
    return [(_as_file(v.image), v.caption) for v in comparison.views.values() if v.image is not None], comparison.table


def compare_ui(editor, mask_upload, *values):
    """The same image and mask prepared by diffusers and ComfyUI, next to the webui's.
    ``values``: PEER_CONTROL_NAMES' values, then CONTROL_NAMES'."""
    session = _stateless_session(editor, mask_upload)
    return _compare(session, values)


def on_compare(*values, request: gr.Request = None):
    session = _session(request)
    gallery, table = _compare(session, values)
    n = len(PEER_CONTROL_NAMES)
    if session.last is not None:
        image, result, last_values = session.last
        if dict(zip(CONTROL_NAMES, values[n:])) == last_values:
            session.compared_key = _state_key(session)
    return gallery, table, ""


DEFAULT_SHOWN: dict[str, str] = {}
DEFAULT_TEXTS: dict[str, str] = {}


def initial_page(values: dict) -> dict[str, str]:
    """The page's first state (the first example at ``values``): grid, timing, summary, notes.
    Rendered once when the app is built, so the first pictures arrive with the page, without a
    compute per visitor; new sessions start from it (DEFAULT_SHOWN / DEFAULT_TEXTS)."""
    if not DEFAULT_PAGE:
        session = Session()
        _start_with_example(session, EXAMPLES[0].name)
        session.shown, session.texts = {}, {}
        out = page_refresh(session, values)
        # As the page first shows them: no view is marked as changed.
        out[0] = out[0].replace(" changed\"", "\"").replace(CHANGED, "")
        session.texts["grid"] = out[0]
        # Its timing is the cold start (imports, first runs): not what a refresh costs.
        timing = "The first state was rendered when the app started. Move a control to see what a refresh costs."
        DEFAULT_PAGE.update(grid=out[0], timing=timing, summary=out[2], notes=out[3])
        DEFAULT_SHOWN.update(session.shown)
        DEFAULT_TEXTS.update(session.texts)
    return DEFAULT_PAGE


DEFAULT_PAGE: dict[str, str] = {}

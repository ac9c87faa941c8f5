"""What every flow of the page shares: the stage cache, the VAE choices, the sessions, the
picture store, and how a Gradio event reaches a session in its turn.

One process serves every visitor: the caches are keyed by content, so sessions share them
without seeing each other's results; everything a visitor made is in their
:class:`~webapp.session.Session`.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
from PIL import Image

from inpaint_init import CheapApproxVAE, StageCache
from inpaint_init.examples import EXAMPLES, load_example

from .pictures import PictureStore
from .tempfiles import own_folder
from .session import Session, SessionStore


MAX_UPLOAD = "25mb"
#: The largest picture the page takes (uploads and imported bodies): 4096×4096. One such photo
#: is 48 MB as RGB and a job keeps a few copies; the library and the CLI take up to 8192×8192.
PAGE_MAX_PIXELS = 4096 * 4096
# PIL refuses to decode more than twice this many pixels (DecompressionBombError); Gradio's
# upload decoding goes through PIL, so a bigger upload is a sentence in the notes, not an OOM.
Image.MAX_IMAGE_PIXELS = PAGE_MAX_PIXELS // 2


# Content-keyed, so sessions share it without seeing each other's results. Bounded in bytes: a
# 512² refresh adds ~5 MB (the last ~50 states stay), a 2048² one ~30 MB; with the sessions'
# own bound this keeps the process's growth under hostile load below 500 MB (tests/test_hostile.py).
CACHE = StageCache(max_bytes=256 * 1024 * 1024, frozen_inputs=True)  # sessions replace pictures, never paint into one


VAES = {
    "Weightless approximation (SD1.x/2.x)": CheapApproxVAE("sd1"),
    "Weightless approximation (SDXL)": CheapApproxVAE("sdxl"),
    "Weightless 16-channel map of our own (SD3)": CheapApproxVAE("sd3"),
    "Weightless 16-channel map of our own (Flux; Forge only)": CheapApproxVAE("flux"),
}


SESSIONS = SessionStore()


POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pictures")


def _picture_folder() -> str:
    # Inside Gradio's own cache folder: Gradio serves files from there as they are, where it would
    # otherwise hash and copy every output picture into it (~3 ms per 512² picture).
    from gradio.utils import get_upload_folder

    return str(own_folder("inpaint-init-views-", get_upload_folder()))


PICTURES = PictureStore(_picture_folder(), level=1)


#: Counters for the benchmarks and tests (computes run by this process).
STATS = {"computes": 0}


CHANGED = "● "  # caption mark of a view whose picture changed on the last update


DEFAULT_SHOWN: dict[str, str] = {}


DEFAULT_TEXTS: dict[str, str] = {}


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


def session_for(request: gr.Request | None) -> Session:
    # Never a shared fallback: a request without a session would mix visitors' pictures.
    session = SESSIONS.get(_session_key(request))
    if session.image is None:
        start_with_example(session, EXAMPLES[0].name)
    return session


@functools.lru_cache(maxsize=None)
def shared_example(name: str) -> tuple[Image.Image, Image.Image]:
    """An example's picture and mask, made once and shared by every session that shows it (no
    stage or view modifies a picture): a new visitor costs no picture memory."""
    image, mask, _ = load_example(name)
    SESSIONS.shared.update({id(image), id(mask)})
    return image, mask


def start_with_example(session: Session, name: str) -> None:
    """An example's image and mask into the session. The mask goes in as the uploaded mask, also
    for the painted (RGBA brush) ones: Gradio's editor, given a new picture and a mask layer,
    can lay the layer out in the previous picture's canvas (the Chelsea mask showed a fifth of
    the picture away from where the views used it). Init reads an RGBA mask the same way either
    way (alpha > 128)."""
    image, mask = shared_example(name)
    session.image = image
    session.painted = None
    session.uploaded = mask
    session.example = name
    first = name == EXAMPLES[0].name
    session.shown = dict(DEFAULT_SHOWN) if first else {}
    session.texts = dict(DEFAULT_TEXTS) if first else {}


def text_out(session: Session, key: str, text: str):
    if session.texts.get(key) == text:
        return gr.skip()
    session.texts[key] = text
    return text


def sequenced(session: Session, work, n_outputs: int):
    """Run ``work()`` in the session's turn; a request that is no longer the newest changes
    nothing on the page."""
    with session.turn() as is_newest:
        if not is_newest():
            return [gr.skip()] * n_outputs
        return work()


N_REFRESH = 6  # the view grid, timing, summary, notes, the diagnosis and its fixes


#: A page refresh's outputs (grid, timing, summary, notes) plus the comparison's status and the
#: A/B gallery and table.
PAGE_OUTPUTS = N_REFRESH + 3


def skip_page() -> list:
    """Leave every output of a page refresh as it is (a new list: Gradio may alter its items)."""
    return [gr.skip() for _ in range(PAGE_OUTPUTS)]


def as_file(image: Image.Image | None):
    """A picture for a Gradio output as a file path: written atomically by PictureStore. A PIL
    output would be PNG-encoded by Gradio into its cache under a content hash without a
    temporary name, so two sessions making the same picture could serve a half-written file."""
    return None if image is None else PICTURES.path(image)

"""Export: every stage, the inputs and real (uncached) timings as one zip per session."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import gradio as gr

from inpaint_init import InitError, run_init

from .controls import CONTROL_NAMES, params_from_controls, vae_backend
from .api import stateless_session
from .session import Session
from .state import session_for
from .tempfiles import own_folder


_EXPORTS: dict[str, Path] = {}
_EXPORTS_LOCK = threading.Lock()
#: Exports kept on disk at once (one per session, the oldest removed first), and how long one
#: stays: Gradio copies what it serves into its own cache (cleaned on its schedule) at once.
MAX_EXPORTS = 16
EXPORT_TTL_S = 600
_FOLDER = None


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
    folder = Path(tempfile.mkdtemp(dir=_export_folder())) / "export"
    written = export_result(result, session.image, folder, mask=session.mask)
    archive = zip_directory(folder, folder.with_suffix(".zip"))
    shutil.rmtree(folder, ignore_errors=True)
    with _EXPORTS_LOCK:
        gone = [_EXPORTS.pop(key)] if key in _EXPORTS else []
        _EXPORTS[key] = archive.parent
        while len(_EXPORTS) > MAX_EXPORTS:
            gone.append(_EXPORTS.pop(next(iter(_EXPORTS))))
    for old in gone:
        shutil.rmtree(old, ignore_errors=True)
    timer = threading.Timer(EXPORT_TTL_S, _expire, (key, archive.parent))
    timer.daemon = True
    timer.start()
    return str(archive), f"✅ {len(written)} files (with the input image and mask; timings measured without the cache)"


def _export_folder() -> Path:
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = own_folder("inpaint-init-exports-")
    return _FOLDER


def _expire(key, folder: Path) -> None:
    import shutil

    with _EXPORTS_LOCK:
        if _EXPORTS.get(key) == folder:
            del _EXPORTS[key]
    shutil.rmtree(folder, ignore_errors=True)


def export_ui(editor, mask_upload, *control_values):
    """Export for an explicit editor value (the stateless form, for the API and tests)."""
    session = stateless_session(editor, mask_upload)
    try:
        return export_session(session, dict(zip(CONTROL_NAMES, control_values)), key="stateless")
    except InitError as e:
        return None, f"⛔ {e}"


def on_export(*args, request: gr.Request = None):
    session = session_for(request)
    try:
        return export_session(session, dict(zip(CONTROL_NAMES, args)), key=getattr(request, "session_hash", None))
    except InitError as e:
        return None, f"⛔ {e}"

"""The VAE panel: loading a VAE from a path, within what the operator exposes."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from inpaint_init import InitError

from .state import VAES


VAE_HELP = (
    "Diffusers folders, single .safetensors/.pt files (LDM or diffusers keys, or a full checkpoint) and TAESD files. "
    "Offline; pickles are only read as plain tensors."
)


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

    if not isinstance(path, str) or not path.strip() or len(path) > 4096 or "\0" in path:
        return gr.skip(), "⛔ Enter the path of a VAE folder or file on this machine."
    if family not in ("auto", "sd1", "sdxl", "sd3", "flux"):
        return gr.skip(), "⛔ VAE family must be one of auto, SD1.x/2.x, SDXL, SD3, Flux."
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

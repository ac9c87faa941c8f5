"""inpaint-init debugger: every stage of the webui's inpaint init, live on every control.

    python app.py                 # http://127.0.0.1:7860, local only
    python app.py --port 8000 --host 0.0.0.0 --share   # explicit opt-ins

The page is built in ``webapp/layout.py`` and wired in ``webapp/handlers.py``; each flow (the
refresh, inputs, imports, VAE, compare, A/B, export) has its own file in ``webapp/``
(``docs/architecture.md`` is the map).
"""

from __future__ import annotations

import os

# Before gradio / huggingface_hub are imported: nothing may reach out.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import argparse  # noqa: E402

import gradio as gr  # noqa: E402

from webapp.handlers import (  # noqa: E402,F401  (the names scripts and tests use)
    CACHE,
    CONTROL_NAMES,
    EXAMPLE_SETTINGS,
    MAX_UPLOAD,
    PEER_CONTROL_NAMES,
    PICTURES,
    SESSIONS,
    STATS,
    VAES,
    compare_ui,
    compute,
    configure_exposure,
    editor_value,
    export_ui,
    import_api_ui,
    import_png_ui,
    load_example_ui,
    load_vae_ui,
    mask_from_editor,
    params_from_controls,
)
from webapp.layout import CSS, build_demo  # noqa: E402

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default: local only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="open a public Gradio share link (off by default)")
    ap.add_argument(
        "--vae-dir",
        help="the only folder VAEs may be loaded from; served beyond this machine (--host/--share) VAE loading is off without it",
    )
    return ap.parse_args(argv)


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, vae_dir: str | None = None, **kwargs) -> gr.Blocks:
    """Build and start the app: local only unless told otherwise, uploads capped, errors shown.
    Served beyond this machine, visitors may load VAEs only from ``vae_dir`` (none without it)."""
    local = host in LOCAL_HOSTS and not share
    configure_exposure(local, vae_dir)
    # Local only: photos are sent stored, masks and plots deflated (bandwidth is free, encoding
    # time is not); over a network, everything deflated.
    PICTURES.level = None if local else 1
    demo = build_demo().queue(default_concurrency_limit=2)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=MAX_UPLOAD,
        show_error=True,
        css=CSS,
        allowed_paths=[str(PICTURES.folder)],  # the view pictures, served straight from their folder
        **kwargs,
    )
    return demo


def main(argv=None) -> None:
    args = parse_args(argv)
    launch(args.host, args.port, args.share, args.vae_dir)


if __name__ == "__main__":
    main()

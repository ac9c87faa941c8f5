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

from webapp.guard import LOCAL_HOSTS, Guard  # noqa: E402

#: Requests that may wait in the queue at once (beyond it, a visitor is told the app is busy), and
#: computations that run at once, across every event of every visitor (2 cores).
QUEUE_MAX = 64
RUNNING_MAX = 2


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default: local only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="open a public Gradio share link (off by default; needs --auth)")
    ap.add_argument("--auth", metavar="USER:PASS", help="require this login (needed with --host beyond this machine or --share)")
    ap.add_argument(
        "--insecure-no-auth", action="store_true", help="serve beyond this machine without a login (anyone who reaches it can use it)"
    )
    ap.add_argument(
        "--vae-dir",
        help="the only folder VAEs may be loaded from; served beyond this machine (--host/--share) VAE loading is off without it",
    )
    args = ap.parse_args(argv)
    if args.auth is not None and (":" not in args.auth or not args.auth.split(":", 1)[0] or not args.auth.split(":", 1)[1]):
        ap.error("--auth wants USER:PASS (both non-empty)")
    if not is_local(args.host, args.share) and args.auth is None and not args.insecure_no_auth:
        ap.error(
            f"--host {args.host}{' --share' if args.share else ''} serves the app beyond this machine: give --auth USER:PASS "
            "(or --insecure-no-auth to let anyone who reaches it compute, upload and export)"
        )
    return args


def is_local(host: str, share: bool) -> bool:
    return host in LOCAL_HOSTS and not share


def launch(
    host: str = "127.0.0.1", port: int = 7860, share: bool = False, vae_dir: str | None = None, auth: str | None = None, **kwargs
) -> gr.Blocks:
    """Build and start the app: local only unless told otherwise, uploads capped, errors shown.
    Served beyond this machine, visitors may load VAEs only from ``vae_dir`` (none without it)
    and, with ``auth`` ("USER:PASS"), must log in."""
    local = is_local(host, share)
    configure_exposure(local, vae_dir)
    # Local only: photos are sent stored, masks and plots deflated (bandwidth is free, encoding
    # time is not); over a network, everything deflated.
    PICTURES.level = None if local else 1
    demo = build_demo().queue(default_concurrency_limit=RUNNING_MAX, max_size=QUEUE_MAX)
    for block_fn in demo.fns.values():  # one limit across every event: no event can starve another
        block_fn.concurrency_id, block_fn.concurrency_limit = "inpaint-init", RUNNING_MAX
    from starlette.middleware import Middleware

    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=tuple(auth.split(":", 1)) if auth else None,
        max_file_size=MAX_UPLOAD,
        show_error=True,
        css=CSS,
        allowed_paths=[str(PICTURES.folder)],  # the view pictures, served straight from their folder
        app_kwargs={"middleware": [Middleware(Guard, local=local)]},
        **kwargs,
    )
    return demo


def main(argv=None) -> None:
    args = parse_args(argv)
    launch(args.host, args.port, args.share, args.vae_dir, args.auth)


if __name__ == "__main__":
    main()

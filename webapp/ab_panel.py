"""A/B: pin a result, then every refresh shows what changed against it, stage by stage."""

from __future__ import annotations

import gradio as gr

from inpaint_init.views import render_views

from .session import Session
from .state import as_file, session_for


def on_pin(request: gr.Request = None):
    """Pin the current result as A: later refreshes show what changed against it."""
    session = session_for(request)
    if session.last is None:
        return "Nothing to pin yet.", gr.skip(), gr.skip()
    image, result, values = session.last
    session.pinned = (result, render_views(result, image), dict(values))
    return f"📌 Pinned A ({_describe(values)}). Change controls to see what changed.", *ab_outputs(session)


def on_unpin(request: gr.Request = None):
    session = session_for(request)
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
            gallery.append((as_file(d.image), f"{name}: {d.changed} {d.unit} changed"))
    head = "B − A: " + (", ".join(f"{k} {pinned_values.get(k)} → {v}" for k, v in changed.items()) or "no control changed")
    session.texts["ab-table"] = head
    return [gallery, head + "\n\n" + "\n".join(rows)]

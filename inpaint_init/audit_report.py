"""The audit's ``report.html``: a table of finding ids × counts, then one card per job.

Self-contained HTML (inline CSS, no script); thumbnails are relative links into ``thumbs/``.
Every text from the jobs (file names, messages, notes, errors) is escaped.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from pathlib import Path

from .findings import FINDINGS, ICON, SEVERITY

__all__ = ["write_report", "render_report"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
.card{border:1px solid #ccc;border-radius:6px;padding:.6em;margin:.6em 0;display:flex;gap:1em}
.card h3{margin:0 0 .3em 0;font-size:1em;word-break:break-all}.card ul{margin:.2em 0;padding-left:1.2em}
.error{color:#b00020}.warning{color:#9a6700}.info{color:#0b5cad}.none{color:#2a7a2a}
.notes{color:#555;font-size:.9em}code{font-size:.85em;background:#f4f4f4;padding:0 .2em}
"""
_ICON = ICON


def _summary(items: list[dict], total: int) -> str:
    jobs_with = Counter(f["id"] for it in items for f in {f["id"]: f for f in it["findings"]}.values())
    errors = sum(1 for it in items if it["error"])
    clean = sum(1 for it in items if not it["error"] and not it["findings"])
    rows = [f"<tr><td class='{SEVERITY[k]}'>{_ICON[SEVERITY[k]]} {escape(k)}</td><td>{SEVERITY[k]}</td>"
            f"<td>{jobs_with[k]}</td></tr>" for k in FINDINGS if jobs_with[k]]  # fmt: skip
    rows.append(f"<tr><td class='none'>no findings</td><td></td><td>{clean}</td></tr>")
    rows.append(f"<tr><td class='error'>could not run</td><td></td><td>{errors}</td></tr>")
    head = f"<p>{len(items)} of {total} jobs audited" + ("" if len(items) == total else " (interrupted)") + ".</p>"
    return head + "<table id='summary'><tr><th>finding</th><th>severity</th><th>jobs</th></tr>" + "".join(rows) + "</table>"


def _card(it: dict) -> str:
    thumb = f"<img src='{escape(it['thumb_path'])}' alt='blurred mask and latent mask'>" if it.get("thumb_path") else ""
    lines = []
    if it["error"]:
        lines.append(f"<li class='error'>{_ICON['error']} could not run: {escape(it['error'])}</li>")
    for f in it["findings"]:
        fix = "" if f["fix"] is None else f" <code>fix: {escape(json.dumps(f['fix']))}</code>"
        lines.append(f"<li class='{f['severity']}' data-id='{escape(f['id'])}'>{_ICON[f['severity']]} "
                     f"<b>{escape(f['id'])}</b>: {escape(f['message'])}{fix}</li>")  # fmt: skip
    if not lines:
        lines.append("<li class='none'>no findings</li>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in it["notes"])
    mask = escape(it["mask"]) if it["mask"] else "no mask"
    return (f"<div class='card'>{thumb}<div><h3>{escape(it['file'])}</h3><div class='notes'>mask: {mask}</div>"
            f"<ul>{''.join(lines)}</ul>" + (f"<div class='notes'>notes:<ul>{notes}</ul></div>" if notes else "")
            + "</div></div>")  # fmt: skip


def render_report(items: list[dict], total: int | None = None) -> str:
    """The HTML text for the audited jobs (``items`` in job order, as run_audit returns them)."""
    total = len(items) if total is None else total
    cards = "".join(_card(it) for it in items)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>inpaint-init audit</title><style>{_CSS}</style>"
            f"</head><body><h1>inpaint-init audit</h1>{_summary(items, total)}<h2>Jobs</h2>{cards}</body></html>")  # fmt: skip


def write_report(path: Path, items: list[dict], total: int | None = None) -> Path:
    """Write :func:`render_report` to ``path`` (atomically: a half-written report never shows)."""
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_report(items, total), encoding="utf-8")
    tmp.replace(path)
    return path

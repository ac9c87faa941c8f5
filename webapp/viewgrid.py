"""The views as one HTML grid: one output for the page to update instead of ~40 components.

Measured in headless Chromium: with one ``gr.Image`` and one ``gr.Markdown`` per view, the
page spent ~150 ms of script and layout per refresh on Gradio's per-component updates, more
than the server's whole refresh. Here a refresh sends one small HTML string; pictures are
content-addressed files, so a view whose picture did not change keeps its URL and the browser
shows it from its memory cache without fetching or decoding it again.

Each cell: ``#view-<key>`` with the title (the view names users and checks look for), the
picture (a link to the full-resolution PNG), and ``#caption-<key>``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["Cell", "grid_html", "GRID_CSS", "SIZES"]

#: View size choice → the width of a grid column, px.
SIZES = {"small": 220, "medium": 330, "large": 500}

GRID_CSS = """
.view-grid { display: grid; gap: 10px; grid-template-columns: repeat(auto-fill, minmax(var(--cell, 330px), 1fr)); }
.view-grid .view { border: 1px solid var(--border-color-primary, #ddd); border-radius: 6px; padding: 6px; min-width: 0; }
.view-grid .view.changed { border-color: #f08c00; box-shadow: 0 0 0 1px #f08c00; }
.view-grid .view-title { font-weight: 600; font-size: 13px; margin-bottom: 4px; }
.view-grid .view-title .why { cursor: help; color: #888; font-weight: 400; text-decoration: underline dotted; font-size: 11px; }
.view-grid .view.changed .view-caption { color: #b35c00; }
.view-grid img { width: 100%; height: auto; max-height: calc(var(--cell, 330px) * 1.1); object-fit: contain;
                 display: block; background: #f4f4f4; }
.view-grid .view-caption { font-size: 12px; line-height: 1.35; margin-top: 4px; overflow-wrap: anywhere; }
"""


@dataclass
class Cell:
    key: str
    number: int
    title: str
    path: str
    caption: str
    why: str
    changed: bool


def _url(path: str) -> str:
    # Relative to the page, so a mounted app (root path) resolves it under its own prefix.
    return "gradio_api/file=" + quote(path)


def grid_html(cells: list[Cell], size: str = "medium") -> str:
    """The grid of ``cells``; ``size`` one of :data:`SIZES`."""
    width = SIZES.get(size, SIZES["medium"])
    parts = [f'<div class="view-grid" style="--cell: {width}px">']
    for c in cells:
        title = html.escape(c.title)
        mark = "● " if c.changed else ""
        parts.append(
            f'<div class="view{" changed" if c.changed else ""}" id="view-{c.key}" data-title="{title}">'
            f'<div class="view-title">{c.number} · {title} <span class="why" title="{html.escape(c.why)}">why?</span></div>'
            f'<a href="{_url(c.path)}" target="_blank" rel="noopener" title="open at full resolution">'
            f'<img src="{_url(c.path)}" alt="{title}" loading="lazy"></a>'
            f'<div class="view-caption" id="caption-{c.key}">{mark}{html.escape(c.caption)}</div>'
            "</div>"
        )
    parts.append("</div>")
    return "".join(parts)

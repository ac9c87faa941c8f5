"""The Diagnosis box: what will go wrong with this job (inpaint_init.findings), above the views,
refreshed with them; a link to each finding's view; *Apply fix* sets the controls and refreshes.

Notes say things about the inputs; findings say what init will do with them.
"""

from __future__ import annotations

import html

import gradio as gr

from inpaint_init.findings import ICON, NO_FINDINGS, diagnose
from inpaint_init.views import VIEW_NAMES

from .controls import CONTROL_NAMES, newest_values
from .session import Session
from .state import session_for, skip_page

__all__ = ["findings_for", "diagnosis_html", "fix_choices", "on_apply_fix"]


def findings_for(session: Session, result, image) -> list:
    """The findings of the session's last result (kept for *Apply fix*)."""
    session.findings = diagnose(result, [image], session.mask)
    return session.findings


def diagnosis_html(findings: list) -> str:
    """One line per finding, worst first: icon, message with its numbers, a link to its view."""
    if not findings:
        return f'<div class="diagnosis quiet">✅ {html.escape(NO_FINDINGS)}</div>'
    order = {"error": 0, "warning": 1, "info": 2}
    lines = []
    for f in sorted(findings, key=lambda f: order[f.severity]):
        view = f'<a href="#view-{f.view}" class="finding-view">view: {html.escape(VIEW_NAMES.get(f.view, f.view))}</a>'
        fix = " · <i>a fix is in the list below</i>" if f.fix else ""
        lines.append(f'<li class="finding {f.severity}" id="finding-{f.id}">{ICON[f.severity]} {html.escape(f.message)} {view}{fix}</li>')
    return '<div class="diagnosis"><b>Diagnosis</b><ul>' + "".join(lines) + "</ul></div>"


def fix_choices(findings: list) -> list[tuple[str, str]]:
    """(label, finding id) for each finding that has a fix: what the fix sets."""
    out = []
    for f in findings:
        if f.fix:
            sets = ", ".join(f"{k} → {v}" for k, v in f.fix.items())
            out.append((f"{ICON[f.severity]} {f.id}: {sets}", f.id))
    return out


def on_apply_fix(finding_id, *args, request: gr.Request = None, progress=gr.Progress()):
    """Set the controls the finding's fix names, then one refresh (the finding is gone)."""
    from .refresh import refresh_page  # the refresh draws this box: imported when used

    session = session_for(request)
    found = next((f for f in getattr(session, "findings", []) if f.id == finding_id and f.fix), None)
    if found is None:
        return [gr.skip()] * len(CONTROL_NAMES) + skip_page()
    fix = {k: v for k, v in found.fix.items() if k in CONTROL_NAMES}
    values = newest_values(session, args, fix)
    controls = [values[n] if n in fix else gr.skip() for n in CONTROL_NAMES]
    return [*controls, *refresh_page(session, values, progress)]

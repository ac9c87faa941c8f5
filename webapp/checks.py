"""Every value a request brings is checked here before it reaches PIL, OpenCV or torch.

A remote client is untrusted: it can send any JSON for any input (NaN, ±Infinity, 1e308, a
string for a slider, a list for a radio), bypassing the browser. The page's components accept
what they are sent (:func:`accept_raw`: Gradio's own checks would answer with a toast of
internals), and :func:`check_values` holds each value to what its control offers on the page,
read off the built components (:func:`register`): a finite number in the slider's range (out of
range: the nearest allowed value, said), one of the radio's choices, a boolean for a checkbox.
A value that cannot be used is refused in one sentence naming the control and what it accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import gradio as gr

from inpaint_init import InitError

__all__ = ["Spec", "SPECS", "register", "check_values", "accept_raw", "BadInput", "finite_stamp"]

#: Gradio Numbers without bounds take a seed: torch.manual_seed's range.
INT_RANGE = (-(2**63), 2**64 - 1)
#: The longest string a text control may send (paths, names): longer is not a path.
MAX_TEXT = 4096


@dataclass(frozen=True)
class Spec:
    """What one control accepts: ``kind`` "number", "int", "bool" or "choice"."""

    label: str
    kind: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    choices_now: Callable[[], Iterable] | None = None  # for a dropdown whose choices change

    def accepted(self) -> str:
        if self.kind in ("number", "int"):
            what = "a whole number" if self.kind == "int" else "a number"
            return f"{what} from {_fmt(self.minimum)} to {_fmt(self.maximum)}"
        if self.kind == "bool":
            return "on or off"
        return "one of " + ", ".join(repr(c) for c in self.current_choices())

    def current_choices(self) -> tuple:
        return tuple(self.choices_now()) if self.choices_now is not None else self.choices


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


#: Control name → Spec, filled when the page is built (the page is the one source of ranges).
SPECS: dict[str, Spec] = {}


def register(names: Iterable[str], components: Iterable, choices_now: dict[str, Callable] | None = None) -> None:
    """Record what each named control accepts, read off its component."""
    for name, c in zip(names, components):
        label = getattr(c, "label", None) or name
        if isinstance(c, gr.Slider):
            SPECS[name] = Spec(label, "number", c.minimum, c.maximum)
        elif isinstance(c, gr.Number):
            lo = c.minimum if c.minimum is not None else INT_RANGE[0]
            hi = c.maximum if c.maximum is not None else INT_RANGE[1]
            SPECS[name] = Spec(label, "int" if c.precision == 0 else "number", lo, hi)
        elif isinstance(c, gr.Checkbox):
            SPECS[name] = Spec(label, "bool")
        elif isinstance(c, (gr.Radio, gr.Dropdown)):
            values = tuple(v for _, v in c.choices)
            SPECS[name] = Spec(label, "choice", choices=values, choices_now=(choices_now or {}).get(name))


class Refused(InitError):
    """A value that cannot be used, in one sentence."""


def check_value(name: str, value: Any) -> tuple[Any, str | None]:
    """(value to use, note) for one control; raises :class:`Refused`. Unregistered names (the
    page was not built, e.g. a script) get the type checks of InitParams only."""
    spec = SPECS.get(name)
    if spec is None:
        if isinstance(value, float) and not math.isfinite(value):
            raise Refused(f"'{name}' must be a finite number, got {value!r}.")
        return value, None
    got = f"got {value!r}" if len(repr(value)) < 40 else f"got a {type(value).__name__}"
    if spec.kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise Refused(f"{spec.label} must be {spec.accepted()}; {got}.")
        if spec.kind == "int":
            if value != int(value):
                raise Refused(f"{spec.label} must be {spec.accepted()}; {got}.")
            value = int(value)
        lo, hi = spec.minimum, spec.maximum
        if lo is not None and value < lo or hi is not None and value > hi:
            used = lo if value < lo else hi
            return used, f"{spec.label}: {_fmt(value)} is outside what the control offers ({_fmt(lo)}–{_fmt(hi)}); used {_fmt(used)}."
        return value, None
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise Refused(f"{spec.label} must be {spec.accepted()} (true or false); {got}.")
        return value, None
    try:
        ok = value in spec.current_choices()
    except TypeError:
        ok = False
    if not ok or isinstance(value, bool) and not any(isinstance(c, bool) for c in spec.current_choices()):
        raise Refused(f"{spec.label} must be {spec.accepted()}; {got}.")
    return value, None


def check_values(values: dict, fallback: dict | None = None) -> tuple[dict, list[str]]:
    """(values to use, notes). A refused value is replaced by ``fallback``'s (the last values
    that were used), with a note; without a fallback it raises :class:`Refused`."""
    out, notes = {}, []
    for name, value in values.items():
        try:
            out[name], note = check_value(name, value)
        except Refused as e:
            if fallback is None or name not in fallback:
                raise
            out[name], note = fallback[name], f"{e} Kept {fallback[name]!r}."
        if note:
            notes.append(note)
    return out, notes


def finite_stamp(value: Any) -> float | None:
    """The browser's send time: a finite number, or None (a script's request)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class BadInput:
    """An input the server could not read (a picture that is not one, too big, …): the handler
    says ``message`` in the notes and changes nothing."""

    message: str


def accept_raw(*components) -> None:
    """Let these components hand their raw value to the handler, which checks it.

    Gradio's own checks raise on a value a slider or radio does not offer, or on a file that is
    not a picture, and the page shows a toast with component indexes and server paths. Controls
    pass the value as sent (:func:`check_values` takes over); pictures and files that cannot be
    read become a :class:`BadInput` naming the control."""
    for c in components:
        if isinstance(c, (gr.Slider, gr.Number, gr.Radio, gr.Dropdown, gr.Checkbox, gr.CheckboxGroup, gr.Textbox)):
            c.preprocess = lambda payload: payload
        elif isinstance(c, (gr.Image, gr.ImageEditor, gr.File)):
            original = c.preprocess
            label = getattr(c, "label", None) or "the upload"

            def guarded(payload, _original=original, _label=label):
                try:
                    return _original(payload)
                except Exception as e:  # noqa: BLE001 - anything Gradio or PIL raise on a bad file
                    return BadInput(_bad_input_sentence(_label, e))

            c.preprocess = guarded


def _bad_input_sentence(label: str, error: Exception) -> str:
    text = str(error)
    if "URL" in text or "fetch" in text:
        return f"{label}: this app does not fetch URLs; upload the file instead."
    if "decompression bomb" in text.lower() or "exceeds limit" in text.lower():
        return f"{label}: the picture has too many pixels; the page takes up to 16 MP (4096×4096)."
    return f"{label}: the file could not be read as a picture (PNG, JPEG, WebP …); nothing was changed."


def guard_bad_inputs(blocks, notes) -> None:
    """Wrap every event of ``blocks`` that updates ``notes`` so that an input the server could
    not read (:class:`BadInput`) changes nothing but the notes, which say why."""
    import functools

    for block_fn in list(blocks.fns.values()):
        if notes not in block_fn.outputs or block_fn.fn is None:
            continue
        at, n = block_fn.outputs.index(notes), len(block_fn.outputs)

        def guarded(*args, _fn=block_fn.fn, _at=at, _n=n, **kwargs):
            bad = next((a for a in args if isinstance(a, BadInput)), None)
            if bad is None:
                return _fn(*args, **kwargs)
            request = next((a for a in args if isinstance(a, gr.Request)), None)
            if request is not None:
                from .state import SESSIONS

                SESSIONS.get(getattr(request, "session_hash", None)).texts.pop("notes", None)
            out = [gr.skip() for _ in range(_n)]
            out[_at] = f"⛔ {bad.message}"
            return out

        block_fn.fn = functools.wraps(block_fn.fn)(guarded)

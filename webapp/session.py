"""Per-browser-session state kept on the server: the image and masks (uploaded once, not with
every control change), what each view shows now, the pinned result, and the order of requests.

**Never stale.** Gradio may run two requests of one session at once (a control change and an
editor change are different events, and each event has its own workers); if the older one
finished last, the page would show a stale state. Each request takes a ticket when the server
starts it and waits for its turn, so a session's requests run one at a time and their results
reach the page in that order; a request that is no longer the newest when its turn comes skips
the computation (its state changes, e.g. a new image, are still applied), because a newer one
will render the final state. Gradio does not start queued requests of different listeners in the
order the browser sent them, so the control values are stamped in the browser when sent
(:meth:`Session.newest`): whichever request runs last renders the values sent last.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

__all__ = ["Session", "SessionStore"]


@dataclass
class Session:
    image: Image.Image | None = None  # the init image, as the editor shows it
    painted: Image.Image | None = None  # the brush layers as a binary mask (None: none painted)
    uploaded: Image.Image | None = None  # an uploaded mask, used raw
    soft_result: Image.Image | None = None
    example: str | None = None
    shown: dict[str, str] = field(default_factory=dict)  # view → digest of the picture the page shows
    texts: dict[str, str] = field(default_factory=dict)  # text output → what the page shows
    visible: tuple[str, ...] | None = None  # views the user chose to show (None: all)
    view_size: str = "medium"
    full_resolution: bool = False  # pictures above handlers.DISPLAY_MAX are shown reduced unless set
    pinned: Any = None  # (InitResult, views) pinned as "A"
    last: Any = None  # (image, InitResult, values) of the last refresh
    compared_key: Any = None  # the state the comparison on screen was made for
    input_notes: list = field(default_factory=list)
    findings: list = field(default_factory=list)  # the last refresh's diagnosis (for Apply fix)  # what the last request's checks changed or refused
    touched: float = field(default_factory=time.monotonic)
    _cv: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _issued: int = 0
    _serving: int = 0

    _stamp: float = float("-inf")
    _values: dict | None = None
    _input_stamps: dict = field(default_factory=dict)

    @property
    def last_values(self) -> dict | None:
        """The control values the last request used (None before the first)."""
        return None if self._values is None else dict(self._values)

    def newest(self, values: dict, stamp: float | None) -> dict:
        """``values`` if they were sent at ``stamp`` or later than any seen before, else the
        newest seen (a request the server starts late must not bring back older values). No
        stamp (API, tests): taken as the newest."""
        with self._cv:
            if stamp is None or stamp >= self._stamp or self._values is None:
                if stamp is not None:
                    self._stamp = stamp
                self._values = dict(values)
                return dict(values)
            return dict(self._values)

    def newer_input(self, name: str, stamp: float | None) -> bool:
        """Whether an input (the editor's picture, an uploaded mask) sent at ``stamp`` is newer
        than the last one taken for ``name``; if so it is taken. The editor sends its old
        picture and then the new one when the user uploads: the old must not win because the
        server happened to start it second."""
        with self._cv:
            last = self._input_stamps.get(name, float("-inf"))
            if stamp is not None and stamp < last:
                return False
            if stamp is not None:
                self._input_stamps[name] = stamp
            return True

    @property
    def mask(self) -> Image.Image | None:
        """The mask init gets: an uploaded one wins over painting (as in the webui's API)."""
        return self.uploaded if self.uploaded is not None else self.painted

    @contextmanager
    def turn(self, timeout: float = 120.0):
        """Run the body when every earlier request of this session is done. Yields a function
        telling whether this request is still the newest."""
        with self._cv:
            ticket = self._issued
            self._issued += 1
            self._cv.wait_for(lambda: self._serving == ticket, timeout=timeout)
        try:
            yield lambda: self._issued == ticket + 1
        finally:
            with self._cv:
                self._serving = max(self._serving, ticket + 1)
                self._cv.notify_all()
            self.touched = time.monotonic()


def _picture_bytes(image) -> int:
    return 0 if image is None else image.width * image.height * len(image.getbands())


class SessionStore:
    """Sessions by Gradio's session hash, bounded in number and in bytes, so memory stays bounded
    however many visitors (or scripted requests with made-up session ids) arrive.

    Over a bound, sessions go in this order: idle for more than ``idle_s``; then those that never
    computed anything (a request with a fresh id, a page never used), oldest first; then the
    least recently used that were not active in the last ``protect_s`` seconds. A session active
    in the last ``protect_s`` is never evicted to make room: a flood of fresh ids evicts itself.
    ``shared`` holds pictures several sessions point to (the examples'), which count for none.
    """

    def __init__(self, max_sessions: int = 512, max_bytes: int = 1536 * 2**20, idle_s: float = 3600.0, protect_s: float = 300.0):
        self.max_sessions, self.max_bytes, self.idle_s, self.protect_s = max_sessions, max_bytes, idle_s, protect_s
        self.shared: set[int] = set()
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def nbytes(self, session: Session) -> int:
        """What a session holds of its own: its pictures, and the results it keeps (last, pinned)."""
        from inpaint_init.cache import estimate_nbytes

        total = sum(_picture_bytes(p) for p in (session.image, session.painted, session.uploaded, session.soft_result) if p is not None and id(p) not in self.shared)
        for held in (session.last, session.pinned):
            if held is not None:
                result = held[1] if session.last is held else held[0]
                memo = session.__dict__.setdefault("_result_bytes", {})
                if id(result) not in memo:
                    memo.clear() if len(memo) > 4 else None
                    memo[id(result)] = sum(estimate_nbytes(v) for v in vars(result).values() if not isinstance(v, (str, int, float)))
                total += memo[id(result)]
        return total

    def get(self, key: str | None) -> Session:
        key = key or "anonymous"
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = Session()
            self._sessions.move_to_end(key)
            session.touched = now
            self._evict(now, keep=key)
            return session

    def _evict(self, now: float, keep: str) -> None:
        for old in [k for k, s in self._sessions.items() if now - s.touched > self.idle_s and k != keep]:
            del self._sessions[old]
        sizes = {k: self.nbytes(s) for k, s in self._sessions.items()}
        total = sum(sizes.values())

        def over() -> bool:
            return len(self._sessions) > self.max_sessions or total > self.max_bytes

        never = [k for k, s in self._sessions.items() if s.last is None and k != keep]
        resting = [k for k, s in self._sessions.items() if s.last is not None and now - s.touched > self.protect_s and k != keep]
        for k in never + resting:  # both oldest first (the dict is in order of use)
            if not over():
                break
            total -= sizes.pop(k)
            del self._sessions[k]

    def __len__(self) -> int:
        return len(self._sessions)

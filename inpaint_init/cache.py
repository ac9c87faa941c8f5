"""Declared stages, the runner that keys and times them, and the LRU that holds their results.

A stage is a plain function whose parameter names are what it reads (Hamilton's rule): fields of
:class:`~inpaint_init.pipeline.InitParams` and the outputs of earlier stages. :func:`stage`
declares its timing group and the names of its outputs. :class:`StageRunner` keeps one
environment of named values, each with a *signature*, and calls a stage with the values its
parameters name. The stage's cache key is built from the signatures of exactly those values, so
no key can forget an input (ComfyUI's executor keys a node by its inputs' signatures, recursively,
in the same way).

Signatures: small values (numbers, strings, boxes, None) stand for themselves, pictures and
tensors for a digest of their content; a stage's output stands for the key that made it (cheaper
than hashing it, and just as exact because stages are deterministic), except that an output that
is small, or is one of the stage's inputs handed through, keeps the content signature - so a
stage whose output did not change does not invalidate the stages after it. A signature of None
means "cannot be keyed" (e.g. a VAE that samples its posterior without a seed): such a stage
always runs, and so does everything that reads its output.

Cached values must be treated as immutable by every reader: no stage modifies a PIL image or a
tensor it was given.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import sys
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

import numpy as np
from PIL import Image

__all__ = [
    "Stage",
    "StageCache",
    "StageRunner",
    "backend_identity",
    "estimate_nbytes",
    "image_digest",
    "signature",
    "stage",
    "tensor_digest",
]


def image_digest(image: Image.Image | None) -> str | None:
    """Content hash of a PIL image (mode, size and pixels), or None."""
    if image is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.mode}:{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def tensor_digest(t) -> str:
    """Content hash of a tensor (dtype, shape and values)."""
    a = t.detach().cpu().contiguous().numpy()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype}:{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def estimate_nbytes(value: Any) -> int:
    """Rough memory size of a cached value (images, arrays, tensors, and tuples/lists of them)."""
    if value is None:
        return 0
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands())
    if isinstance(value, np.ndarray):
        return value.nbytes
    if hasattr(value, "element_size") and hasattr(value, "nelement"):
        return value.element_size() * value.nelement()
    if isinstance(value, (list, tuple)):
        return sum(estimate_nbytes(v) for v in value) + 64
    if isinstance(value, dict):
        return sum(estimate_nbytes(v) for v in value.values()) + 64
    return sys.getsizeof(value)


class _DigestsByIdentity:
    """Picture digests remembered per object (weak references: an entry lives as long as its
    picture, and an ``id`` reused by a new object never finds an old digest)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, str | None]] = {}
        self._lock = threading.Lock()

    def _forget(self, key: int, ref: weakref.ref) -> None:
        with self._lock:
            if key in self._entries and self._entries[key][0] is ref:
                del self._entries[key]

    def digest(self, image: Image.Image) -> str | None:
        key = id(image)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0]() is image:
            return entry[1]
        value = image_digest(image)
        ref = weakref.ref(image, lambda r, key=key: self._forget(key, r))
        with self._lock:
            self._entries[key] = (ref, value)
        return value


class StageCache:
    """LRU keyed by stage keys, evicting least-recently-used entries beyond ``max_bytes``.

    ``frozen_inputs``: the caller promises never to modify a picture after giving it to
    ``run_init`` (the app's sessions replace pictures, they never paint into one). Each input
    picture is then hashed once per object rather than on every run - at 4096² that hash is
    most of a slider change.
    """

    def __init__(self, max_bytes: int = 512 * 1024 * 1024, frozen_inputs: bool = False):
        self.max_bytes = max_bytes
        self.frozen_inputs = frozen_inputs
        self.digests = _DigestsByIdentity()
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return True, self._data[key][0]
            self.misses += 1
            return False, None

    def put(self, key: Hashable, value: Any) -> None:
        size = estimate_nbytes(value)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._data:
                self._bytes -= self._data.pop(key)[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._data:
                _, (_, old) = self._data.popitem(last=False)
                self._bytes -= old

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)


# ----------------------------------------------------------------------------- declared stages
@dataclass(eq=False)
class Stage:
    """A stage function with its declaration: ``inputs`` are its parameter names (what it
    reads), ``returns`` the names its outputs get (one name: the value; several: a tuple),
    ``group`` the name it is timed and reported under (one of ``pipeline.STAGES``)."""

    fn: Callable
    group: str
    returns: tuple[str, ...]
    inputs: tuple[str, ...]
    cached: bool = True

    @property
    def name(self) -> str:
        return self.fn.__name__

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


#: Every declared stage, by function name (for the docs and the key tests).
REGISTRY: dict[str, Stage] = {}


def stage(group: str, returns: str | Sequence[str], cached: bool = True) -> Callable[[Callable], Stage]:
    """Declare a stage: ``@stage("blur", returns="blurred_mask")``. ``cached=False`` for stages
    cheaper to run than to store (their outputs are still keyed, so later stages cache)."""

    def declare(fn: Callable) -> Stage:
        params = inspect.signature(fn).parameters.values()
        if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.default is not p.empty for p in params):
            raise TypeError(f"stage {fn.__name__}: every parameter must be a plain name without a default")
        names = (returns,) if isinstance(returns, str) else tuple(returns)
        s = Stage(fn, group, names, tuple(p.name for p in params), cached)
        functools.update_wrapper(s, fn)  # the function's docstring for help() and the docs
        if fn.__module__ != __name__:  # not the examples in this module's docs
            REGISTRY[fn.__name__] = s
        return s

    return declare


_BACKEND_TOKENS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_BACKEND_COUNTER = itertools.count()
_BACKEND_LOCK = threading.Lock()


def backend_identity(backend) -> Hashable | None:
    """A cache identity for a deterministic VAE backend; None means: never cache its outputs.

    A backend's own ``cache_identity`` wins; otherwise a token held for as long as the object
    lives (not ``id()``, which a later object can reuse and so inherit stale cache entries).
    """
    if not getattr(backend, "deterministic", False):
        return None
    identity = getattr(backend, "cache_identity", None)
    if identity is not None:
        return ("backend", identity)
    try:
        with _BACKEND_LOCK:
            if backend not in _BACKEND_TOKENS:
                _BACKEND_TOKENS[backend] = next(_BACKEND_COUNTER)
            return ("backend", _BACKEND_TOKENS[backend])
    except TypeError:  # not weak-referenceable or not hashable: do not cache
        return None


_NONE = ("none",)
_SCALARS = (bool, int, float, str, bytes)


def signature(value: Any) -> Hashable | None:
    """What a value contributes to a cache key: equal signatures mean equal values.

    The type is part of it (``4`` and ``4.0`` and ``True`` are three keys, never one stale
    one). None: the value cannot be keyed.

    >>> signature((0, 8, 64, 72)) == signature((0, 8, 64, 72)), signature(4) == signature(4.0)
    (True, False)
    """
    if value is None:
        return _NONE
    if isinstance(value, _SCALARS):
        return (type(value).__name__, value)
    if isinstance(value, (tuple, list)):
        parts = tuple(signature(v) for v in value)
        return None if any(s is None for s in parts) else (type(value).__name__, parts)
    if isinstance(value, Image.Image):
        return ("image", image_digest(value))
    if hasattr(value, "element_size") and hasattr(value, "detach"):
        return ("tensor", tensor_digest(value))
    if isinstance(value, np.ndarray):
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{value.dtype}:{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
        return ("array", h.hexdigest())
    if hasattr(value, "deterministic"):
        return backend_identity(value)
    if isinstance(value, np.generic):
        return signature(value.item())
    return None


def _small(value: Any) -> bool:
    """Outputs keyed by content rather than by the key that made them: cheap to compare."""
    if value is None or isinstance(value, _SCALARS):
        return True
    return isinstance(value, tuple) and len(value) <= 8 and all(_small(v) for v in value)


@dataclass(frozen=True)
class StageCall:
    """One call of a stage in a run: for the tests and the docs (which stage ran, from what)."""

    stage: str
    group: str
    inputs: tuple[tuple[str, Hashable | None], ...]
    hit: bool


class StageRunner:
    """Runs declared stages over one environment of named values, through an optional cache.

    ``run.bind(name=value)`` puts inputs in; ``run(stage)`` calls the stage with the values its
    parameters name, or takes its outputs from the cache, puts them into the environment under
    the stage's ``returns`` names and returns them. ``run(stage, name=value)`` hands a value to
    this call only (e.g. the latent to decode). Timings add up per group; ``cached`` holds the
    groups that were served only from the cache; ``calls`` lists every call.

    >>> @stage("blur", returns="doubled")
    ... def double(x):
    ...     return 2 * x
    >>> run = StageRunner(StageCache())
    >>> run.bind(x=21); run(double)
    42
    >>> run2 = StageRunner(run.cache); run2.bind(x=21); run2(double), run2.cached
    (42, {'blur'})
    """

    def __init__(self, cache: StageCache | None = None, progress: Callable[[float, str], None] | None = None, order: Sequence[str] = ()):
        self.cache = cache
        self.progress = progress
        self.order = tuple(order)
        self.values: dict[str, Any] = {}
        self.signatures: dict[str, Hashable | None] = {}
        self.timings: dict[str, float] = {}
        self.cached: set[str] = set()
        self.calls: list[StageCall] = []
        self._ran: set[str] = set()

    def bind(self, **values: Any) -> None:
        """Put values into the environment, each keyed by its content (:func:`signature`)."""
        frozen = self.cache is not None and self.cache.frozen_inputs
        for name, value in values.items():
            self.values[name] = value
            self.signatures[name] = self._frozen_signature(value) if frozen else signature(value)

    def _frozen_signature(self, value: Any) -> Hashable | None:
        """:func:`signature`, with pictures (alone or in a list) hashed once per object."""
        if isinstance(value, Image.Image):
            return ("image", self.cache.digests.digest(value))
        if isinstance(value, list) and value and all(isinstance(v, Image.Image) for v in value):
            return ("list", tuple(("image", self.cache.digests.digest(v)) for v in value))
        return signature(value)

    def alias(self, name: str, source: str) -> None:
        """``name`` is the value ``source`` names, with its signature (no rehash)."""
        self.values[name] = self.values[source]
        self.signatures[name] = self.signatures[source]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __call__(self, s: Stage, **given: Any) -> Any:
        try:
            args = {n: given[n] if n in given else self.values[n] for n in s.inputs}
        except KeyError as e:
            raise RuntimeError(f"stage {s.name} reads {e.args[0]!r}, which no earlier stage made") from None
        sigs = tuple((n, signature(given[n]) if n in given else self.signatures[n]) for n in s.inputs)
        key = self.key(s, dict(sigs))
        self.timings.setdefault(s.group, 0.0)
        hit = False
        if key is not None and s.cached and self.cache is not None:
            hit, stored = self.cache.get(key)
        if hit:
            value, out_sigs = stored
            if s.group not in self._ran:
                self.cached.add(s.group)
        else:
            if self.progress is not None and s.group in self.order:
                self.progress(self.order.index(s.group) / len(self.order), s.group.replace("_", " "))
            start = time.perf_counter()
            value = s.fn(**args)
            self.timings[s.group] += time.perf_counter() - start
            self._ran.add(s.group)
            self.cached.discard(s.group)
            outs = (value,) if len(s.returns) == 1 else tuple(value)
            out_sigs = tuple(self._output_signature(key, i, out, args, sigs) for i, out in enumerate(outs))
            if key is not None and s.cached and self.cache is not None:
                self.cache.put(key, (value, out_sigs))
        self.calls.append(StageCall(s.name, s.group, sigs, hit))
        outs = (value,) if len(s.returns) == 1 else tuple(value)
        if len(outs) != len(s.returns):
            raise RuntimeError(f"stage {s.name} returned {len(outs)} values for {s.returns}")
        for name, out, sig in zip(s.returns, outs, out_sigs):
            self.values[name] = out
            self.signatures[name] = sig
        return value

    @staticmethod
    def key(s: Stage, signatures: dict[str, Hashable | None]) -> Hashable | None:
        """The cache key of ``s`` for its inputs' signatures: its name and every declared input's
        signature, in order; None when one of them cannot be keyed."""
        sigs = tuple((n, signatures[n]) for n in s.inputs)
        return None if any(sig is None for _, sig in sigs) else (s.name, sigs)

    @staticmethod
    def _output_signature(key, index: int, out: Any, args: dict, sigs) -> Hashable | None:
        if _small(out):
            return signature(out)
        for (name, sig), arg in zip(sigs, args.values()):
            if out is arg:
                return sig  # handed through unchanged: the stages after it keep their keys
        return None if key is None else ("out", key, index)

"""A small, thread-safe, size-bounded LRU for stage results.

Keys are tuples that name a stage and everything its output depends on (the keys of the stages
before it, and its own parameters). Values must be treated as immutable by every reader: the
pipeline never modifies a PIL image or tensor it got from the cache.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from typing import Any, Hashable

import numpy as np
from PIL import Image

__all__ = ["StageCache", "image_digest", "tensor_digest", "estimate_nbytes"]


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


class StageCache:
    """LRU keyed by stage keys, evicting least-recently-used entries beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024):
        self.max_bytes = max_bytes
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

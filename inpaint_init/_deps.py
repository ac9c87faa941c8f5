"""Heavy optional imports, done once and thread-safely.

diffusers takes ~2 s to import, so the library imports it only when a stage needs it. Its lazy
module is not safe to import from several threads at once (seen: "cannot import name
'DDIMScheduler'" when two app refreshes start together), so the first import, and the
resolution of every name we use, happens under one lock.
"""

from __future__ import annotations

import threading
from types import ModuleType

_LOCK = threading.Lock()
_NAMES = (
    "AutoencoderKL",
    "AutoencoderTiny",
    "DDIMScheduler",
    "DPMSolverMultistepScheduler",
    "EulerAncestralDiscreteScheduler",
    "EulerDiscreteScheduler",
)
_module: ModuleType | None = None


def diffusers() -> ModuleType:
    """The diffusers module with the names this project uses already resolved."""
    global _module
    with _LOCK:
        if _module is None:
            import diffusers as d
            import diffusers.image_processor  # noqa: F401  (VaeImageProcessor, for the comparison)

            for name in _NAMES:
                getattr(d, name)
            _module = d
    return _module

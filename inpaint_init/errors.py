"""The one error type of the library: bad inputs, described in words a user can act on."""

from __future__ import annotations

__all__ = ["InitError"]


class InitError(ValueError):
    """A problem with the inputs, described in words a user can act on."""

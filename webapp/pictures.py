"""Pictures for the page: lossless, fast to encode, written atomically, bounded on disk.

Gradio PNG-encodes a PIL output with zlib level 6 (~55 ms for a 512² photo, ~260 ms at
1024²) and writes it to its cache under a content hash without a temporary name, so two
sessions producing the same picture could serve a half-written file. Here each picture is a
PNG with filter "None" and zlib level 1 (for a local page: "auto", level 1 for masks and plots,
stored photos: bandwidth is free there, encoding time is not), written under a temporary name
and renamed into place, and served from this folder. The folder is bounded in bytes.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import time
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from inpaint_init.cache import image_digest

__all__ = ["encode_png", "PictureStore", "text_card"]

_PNG_MODES = {"L": (0, 1), "RGB": (2, 3), "RGBA": (6, 4)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image: Image.Image, level: int | None = 1) -> bytes:
    """A PNG of an L, RGB or RGBA image (other modes are converted to RGB): every row with
    filter type 0, deflated at ``level``. Lossless; decodes to the same pixels (tested against
    PIL's decoder).

    ``level=None`` ("auto", for a local page): level 1 when a 64 KB sample deflates to under
    half its size (masks, plots, text: a 512² mask goes from 768 KB to ~16 KB in ~1 ms), else
    stored (level 0: a photo deflates by ~20 % for ~14 ms, not worth it on localhost)."""
    if image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    colour_type, channels = _PNG_MODES[image.mode]
    w, h = image.size
    pixels = np.asarray(image, dtype=np.uint8).reshape(h, w * channels)
    rows = np.zeros((h, w * channels + 1), np.uint8)  # a leading 0 per row: filter "None"
    rows[:, 1:] = pixels
    raw = rows.tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    if level is None:
        sample = raw[: 1 << 16]
        level = 1 if len(zlib.compress(sample, 1)) < len(sample) // 2 else 0
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, level)) + _chunk(b"IEND", b"")


class PictureStore:
    """Content-addressed PNG files in one folder, written atomically, bounded in bytes: the
    least recently used go first (every refresh touches the pictures its page shows)."""

    def __init__(self, folder: str | Path | None = None, level: int = 1, max_bytes: int = 512 * 2**20):
        self.folder = Path(folder or tempfile.mkdtemp(prefix="inpaint-init-views-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.level = level
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._files: dict[str, tuple[float, int]] = {}  # digest → (last use, bytes)
        self._bytes = 0  # their sum, kept as files come and go (path() runs for every view of every refresh)

    def path(self, image: Image.Image | None, digest: str | None = None, make=None) -> str:
        """The file of ``image`` (written now unless it exists), as a string path. With ``make``
        instead of an image, ``make()`` draws the picture only when the file is not there yet."""
        if digest is None:
            digest = image_digest(image)
        target = self.folder / f"{digest}.png"
        with self._lock:
            known = self._files.get(digest)
            if known is not None:
                self._files[digest] = (time.monotonic(), known[1])
        if known is None or not target.exists():
            data = encode_png(image if image is not None else make(), self.level)
            fd, staging = tempfile.mkstemp(dir=self.folder, prefix=".staging-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(staging, target)
            except BaseException:
                Path(staging).unlink(missing_ok=True)
                raise
            with self._lock:
                old = self._files.get(digest)
                self._bytes += len(data) - (old[1] if old else 0)
                self._files[digest] = (time.monotonic(), len(data))
            self._trim()
        return str(target)

    def touch(self, path: str) -> None:
        """Mark a picture as in use (a page shows it), so trimming keeps it."""
        digest = Path(path).stem
        with self._lock:
            if digest in self._files:
                self._files[digest] = (time.monotonic(), self._files[digest][1])

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def _trim(self) -> None:
        with self._lock:
            if self._bytes <= self.max_bytes:
                return
            oldest = []
            for digest in sorted(self._files, key=lambda d: self._files[d][0]):
                if self._bytes <= self.max_bytes:
                    break
                self._bytes -= self._files.pop(digest)[1]
                oldest.append(digest)
        for digest in oldest:
            (self.folder / f"{digest}.png").unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._files)


@lru_cache(maxsize=64)
def text_card(text: str, width: int = 360, height: int = 48) -> Image.Image:
    """A small grey card with one line of text: what an empty view shows instead of a
    broken-image icon (e.g. "colour correction off")."""
    card = Image.new("RGB", (width, height), (245, 245, 245))
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(210, 210, 210))
    # The default font has no "×": write shapes as 1x5x1x1.
    draw.text((10, height // 2), text.replace("×", "x"), fill=(90, 90, 90), anchor="lm")
    return card

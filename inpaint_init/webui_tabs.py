"""The img2img page's tabs: what the webui hands to init (spec webui-tabs.md §1-§3).

Each tab turns the UI's picture and brush/upload layers into the ``init_images[0]`` and mask the
processing object receives; :func:`tab_inputs` reproduces it, and ``TabInputs.params(base)`` the
size ("Resize by") and mask blur. The batch tab is :mod:`inpaint_init.webui_batch` (re-exported).

>>> from PIL import Image
>>> t = tab_inputs("img2img", image=Image.new("RGB", (61, 47)), scale_by=1.37)
>>> (t.width, t.height, t.mask)
(83, 64, None)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from .masks import create_binary_mask
from .pipeline import MAX_BLUR, InitError, InitParams

__all__ = ["TABS", "TabInputs", "tab_inputs", "fix_image", "scaled_size", "sketch_mask_value", "BatchJob", "batch_jobs"]

#: The img2img page's tabs, by the names the spec uses (exact, case-sensitive).
TABS = ("img2img", "sketch", "inpaint", "inpaint sketch", "inpaint upload")
#: The processing object's own blur; a non-integer ``mask_blur`` leaves it (the webui's setter only takes ints).
DEFAULT_MASK_BLUR = 4


@dataclass
class TabInputs:
    """What a tab hands to init. ``image``/``mask`` are PIL images as the processing object gets
    them (mode, size, pixels); ``width``/``height`` the processing size; ``mask_blur`` as given.

    For the inpaint sketch tab the intermediates are kept (all PIL, the picture's size, before
    fix_image): ``sketch_original`` (the picture without strokes), ``sketch_difference`` (L, 255
    where any channel differs), ``sketch_mask`` (L, the difference scaled by Mask transparency;
    what init gets as mask before fix_image), ``sketch_blurred_mask`` and ``sketch_blurred`` (both
    blurred with PIL's GaussianBlur(radius=mask_blur)) and ``sketch_composite`` (the blend).
    """

    tab: str
    image: Image.Image
    mask: Image.Image | None
    width: int
    height: int
    mask_blur: float
    notes: list[str] = field(default_factory=list)
    sketch_original: Image.Image | None = None
    sketch_difference: Image.Image | None = None
    sketch_mask: Image.Image | None = None
    sketch_blurred_mask: Image.Image | None = None
    sketch_blurred: Image.Image | None = None
    sketch_composite: Image.Image | None = None

    @property
    def init_mask_blur(self) -> int:
        """The blur init's OpenCV pass uses: ``mask_blur`` when it is an integer, else 4."""
        return _init_blur(self.mask_blur)

    def params(self, base: InitParams | None = None) -> InitParams:
        """``base`` with this tab's size and mask blur; nothing else changes."""
        base = base if base is not None else InitParams()
        b = self.init_mask_blur
        return base.replace(width=self.width, height=self.height, mask_blur_x=b, mask_blur_y=b)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _init_blur(mask_blur) -> int:
    return int(mask_blur) if _is_int(mask_blur) else DEFAULT_MASK_BLUR


def check_radius(radius, name: str = "mask_blur") -> float:
    """A PIL GaussianBlur radius, checked finite and in ``[0, MAX_BLUR]`` (NaN crashes Pillow)."""
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real):
        raise InitError(f"{name} must be a number between 0 and {MAX_BLUR}, got {radius!r}")
    r = float(radius)
    if not (math.isfinite(r) and 0 <= r <= MAX_BLUR):
        raise InitError(f"{name} must be between 0 and {MAX_BLUR} (the webui's slider stops at 64), got {radius!r}")
    return r


def fix_image(image: Image.Image | None) -> Image.Image | None:
    """The webui's fix_image (§2): EXIF orientation applied (a copy, tag removed), then RGB/P with a
    ``bytes`` transparency converted to RGBA. If either step raises, ``image`` comes back unchanged.

    >>> p = Image.new("P", (2, 1)); p.info["transparency"] = b"\\x00\\xff"
    >>> fix_image(p).mode
    'RGBA'
    """
    if image is None:
        return None
    try:
        out = ImageOps.exif_transpose(image)
        if out is None:  # older Pillow's in-place form; ours returns a copy
            out = image.copy()
        if out.mode in ("RGB", "P") and isinstance(out.info.get("transparency"), bytes):
            out = out.convert("RGBA")
        return out
    except Exception:  # noqa: BLE001 - the webui swallows any error here and goes on with the image
        return image


def scaled_size(image: Image.Image, scale_by) -> tuple[int, int]:
    """"Resize by": ``int(side * scale_by)`` for each side, the double product truncated.

    >>> scaled_size(Image.new("L", (100, 76)), 0.29)
    (28, 22)
    """
    if isinstance(scale_by, bool) or not isinstance(scale_by, numbers.Real) or not (math.isfinite(scale_by) and scale_by > 0):
        raise InitError(f"scale_by must be a finite number above 0, got {scale_by!r}")
    return int(image.width * float(scale_by)), int(image.height * float(scale_by))


def sketch_mask_value(mask_alpha: float) -> int:
    """The value a painted pixel gets from Mask transparency ``mask_alpha`` (0-100), via Pillow's
    Brightness enhancer (float32): 0 → 255, 50 → 127, 80 → 51, 100 → 0.

    >>> [sketch_mask_value(a) for a in (0, 30, 50, 70, 80, 100)]
    [255, 178, 127, 76, 51, 0]
    """
    return _transparency(Image.new("L", (1, 1), 255), mask_alpha).getpixel((0, 0))


def _transparency(diff: Image.Image, mask_alpha: float) -> Image.Image:
    return ImageEnhance.Brightness(diff).enhance(1 - mask_alpha / 100)


def _check_alpha(mask_alpha) -> float:
    if isinstance(mask_alpha, bool) or not isinstance(mask_alpha, numbers.Real) or not 0 <= mask_alpha <= 100:
        raise InitError(f"mask_alpha (Mask transparency) must be between 0 and 100, got {mask_alpha!r}")
    return float(mask_alpha)


def _check_image(image, what: str) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise InitError(f"{what} must be a PIL image, got {type(image).__name__}")
    return image


def _difference(sketch: Image.Image, orig: Image.Image) -> Image.Image:
    """L mask, 255 where the two pictures differ in any channel (alpha included), else 0."""
    if sketch.size != orig.size:
        raise InitError(
            f"inpaint sketch: the sketch is {sketch.width}×{sketch.height} but sketch_orig is {orig.width}×{orig.height}; "
            "the webui fails on pictures of different sizes"
        )
    if sketch.mode != orig.mode:
        raise InitError(f"inpaint sketch: the sketch is mode {sketch.mode} but sketch_orig is {orig.mode}; give both as RGB or both as RGBA")
    if len(sketch.getbands()) not in (3, 4):
        raise InitError(f"inpaint sketch: a {sketch.mode} picture has {len(sketch.getbands())} channel(s); the webui needs RGB or RGBA")
    a, b = np.asarray(sketch), np.asarray(orig)
    if a.ndim != 3 or a.dtype != np.uint8:
        raise InitError(f"inpaint sketch: mode {sketch.mode} is not an 8-bit colour picture; use RGB or RGBA")
    return Image.fromarray(np.where(np.any(a != b, axis=-1), 255, 0).astype(np.uint8), "L")


def _sketch(t: TabInputs, sketch: Image.Image, orig: Image.Image, mask_alpha: float, radius: float) -> None:
    """§1 inpaint sketch steps 2-4, filling the intermediates of ``t``."""
    t.sketch_original = orig
    t.sketch_difference = _difference(sketch, orig)
    t.sketch_mask = _transparency(t.sketch_difference, mask_alpha)
    blur = ImageFilter.GaussianBlur(radius=radius)
    t.sketch_blurred = sketch.filter(blur)
    t.sketch_blurred_mask = t.sketch_mask.filter(blur)
    # Pillow's composite: a copy of orig (metadata and EXIF kept) with the blurred sketch pasted through the mask.
    t.sketch_composite = Image.composite(t.sketch_blurred, orig, t.sketch_blurred_mask)
    t.image, t.mask = t.sketch_composite, t.sketch_mask


def tab_inputs(
    tab: str,
    *,
    image,
    mask=None,
    sketch_orig=None,
    mask_blur=4,
    mask_alpha=0.0,
    scale_by=None,
    width: int = 512,
    height: int = 512,
) -> TabInputs:
    """The picture, mask and size the img2img tab ``tab`` hands to init (spec §1-§3).

    ``image``: the tab's picture (PIL, as uploaded: EXIF and palette included); ``mask``: the
    inpaint tab's brush layer or the inpaint upload's mask; ``sketch_orig``: the inpaint sketch's
    picture without strokes (None: ``image``); ``mask_blur``: the UI slider (an int; a
    non-integer blurs the sketch but init keeps 4); ``mask_alpha``: Mask transparency, 0-100;
    ``scale_by``: "Resize by" (None: Resize to ``width``×``height``). Inputs are not modified.

    Raises:
        InitError: unknown tab, no picture, inpaint without a brush layer, a sketch and original
            that differ in size or mode or are one-channel, mask_alpha outside 0-100, a bad blur.
    """
    if not isinstance(tab, str) or tab not in TABS:
        raise InitError(f"tab must be one of {TABS} (exact names), got {tab!r}")
    if image is None:
        if scale_by is not None:
            raise InitError("Resize by needs a picture: no image is selected (the webui fails: \"Can't scale by because no image is selected\")")
        raise InitError(f"{tab}: no picture given (image is None); the webui's init fails without one")
    image = _check_image(image, "image")
    radius = check_radius(mask_blur)
    mask_alpha = _check_alpha(mask_alpha)
    t = TabInputs(tab=tab, image=image, mask=None, width=width, height=height, mask_blur=mask_blur)
    if not _is_int(mask_blur):
        t.notes.append(
            f"Mask blur {mask_blur!r} is not an integer: the webui's processing object only takes integers, so init keeps its "
            f"default blur {DEFAULT_MASK_BLUR} (the sketch composite still uses {mask_blur!r})."
        )
    if tab == "inpaint":
        if mask is None:
            raise InitError("inpaint: no brush layer (mask is None); paint the area to repaint, the webui fails without it")
        t.mask = create_binary_mask(_check_image(mask, "mask"), round=True)
    elif tab == "inpaint sketch":
        orig = image if sketch_orig is None else _check_image(sketch_orig, "sketch_orig")
        _sketch(t, image, orig, mask_alpha, radius)
    elif tab == "inpaint upload":
        t.mask = None if mask is None else _check_image(mask, "mask")
    elif mask is not None:
        t.notes.append(f"The {tab} tab has no mask: the mask given is ignored.")
    t.image, t.mask = fix_image(t.image), fix_image(t.mask)
    if scale_by is not None:
        t.width, t.height = scaled_size(t.image, scale_by)
    if t.mask is not None and t.mask.size != t.image.size and tab == "inpaint sketch":
        t.notes.append(
            f"The picture was turned by its EXIF orientation but the sketch mask (a new image) was not: picture "
            f"{t.image.width}×{t.image.height}, mask {t.mask.width}×{t.mask.height}, as in the webui."
        )
    return t


# Re-exported: the Batch tab (defined there to keep each module to one concern).
from .webui_batch import BatchJob, batch_jobs  # noqa: E402

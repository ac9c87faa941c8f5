"""Example images with masks, built from images that ship inside scikit-image (no download)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["Example", "EXAMPLES", "load_example"]


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    image: Callable[[], Image.Image]
    mask: Callable[[tuple[int, int]], Image.Image]
    #: True: the mask is handed over raw, as through the API ("Inpaint upload"); False: it is a
    #: painted brush mask (RGBA alpha), as in the webui's inpaint tab.
    uploaded: bool = False
    #: Control settings that make the example's point (webui parameter names).
    settings: dict = field(default_factory=dict)


def _skimage(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from skimage import data

        return Image.fromarray(getattr(data, name)()).convert("RGB")

    return load


def _ellipse(box_fraction: tuple[float, float, float, float], soft: bool = False) -> Callable[[tuple[int, int]], Image.Image]:
    """An RGBA brush-like mask (white, alpha 255 inside an ellipse), or a soft L mask."""

    def make(size: tuple[int, int]) -> Image.Image:
        w, h = size
        fx1, fy1, fx2, fy2 = box_fraction
        box = (round(fx1 * w), round(fy1 * h), round(fx2 * w), round(fy2 * h))
        if soft:
            yy, xx = np.mgrid[0:h, 0:w]
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            rx, ry = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
            d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
            return Image.fromarray((np.clip(1.5 - d, 0, 1) * 255).astype(np.uint8))
        alpha = Image.new("L", size, 0)
        ImageDraw.Draw(alpha).ellipse(box, fill=255)
        white = Image.new("RGB", size, (255, 255, 255))
        return Image.merge("RGBA", (*white.split(), alpha))

    return make


EXAMPLES: tuple[Example, ...] = (
    Example(
        "Astronaut: face, whole picture",
        "A painted mask over the face at 512×512: the basic case. Move the blur to see the 0.5 line move.",
        _skimage("astronaut"),
        _ellipse((0.33, 0.12, 0.55, 0.42)),
    ),
    Example(
        "Chelsea: eye, only masked with small padding",
        "A small mask on a 451×300 photo, Only masked with 4 px padding: the crop hugs the blurred mask, so the "
        "model sees little context and the paste-back seam sits right at the blur.",
        _skimage("chelsea"),
        _ellipse((0.29, 0.27, 0.45, 0.51)),  # her right eye (the left one in the picture)
        settings={"inpaint_full_res": True, "inpaint_full_res_padding": 4},
    ),
    Example(
        "Coffee: cup on a 600×400 image",
        "A non-square image at 512×512: watch resize modes 1 and 2 (crop vs bands) move the mask.",
        _skimage("coffee"),
        _ellipse((0.20, 0.10, 0.70, 0.85)),
    ),
    Example(
        "Astronaut: the seam soft inpainting removes",
        "Whole picture with Mask blur 24 and Soft inpainting on. Turn it off and look at the paste-back views: the "
        "stock overlay (2 × the blurred mask) pastes the original back up to the 0.5 line, a hard seam where the "
        "result differs; soft inpainting's overlay follows where the result actually changed, and its per-step blend "
        "lets the edge change only at the end of sampling.",
        _skimage("astronaut"),
        _ellipse((0.30, 0.10, 0.58, 0.45)),
        settings={"mask_blur_x": 24, "mask_blur_y": 24, "soft_inpainting": True},
    ),
    Example(
        "Rocket: a soft mask that was never binary",
        "A grey gradient uploaded as the mask (as through the API): nothing thresholds it until the latent "
        "stage rounds at 0.5, so the repainted area is the 0.5 contour, and the overlay ghosts.",
        _skimage("rocket"),
        _ellipse((0.35, 0.05, 0.65, 0.95), soft=True),
        uploaded=True,
    ),
)


def load_example(name: str) -> tuple[Image.Image, Image.Image, Example]:
    """(image, mask, example) for an example name."""
    for ex in EXAMPLES:
        if ex.name == name:
            image = ex.image()
            return image, ex.mask(image.size), ex
    raise KeyError(f"no example named {name!r}; choose one of {[e.name for e in EXAMPLES]}")

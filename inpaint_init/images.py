"""The init images before and after the crop (spec §4/§5): flattened, resized, cropped.

``base_images`` are the pictures the overlay is made on (whole picture: at processing size;
"Only masked" or resize mode 3: at their own size); ``processed_images`` are what is filled and
encoded (the crop, resized with "Resize and fill", in "Only masked").
"""

from __future__ import annotations

from PIL import Image

from .cache import stage
from .overlay import flatten
from .resize import ResizeMode, resize_or_error

__all__ = ["whole_images_stage", "flat_images_stage", "crop_images_stage"]


@stage("image_resize", returns="base_images")
def whole_images_stage(init_images: list[Image.Image], background_color: str, resize_mode: int, width: int, height: int) -> list[Image.Image]:
    """Whole picture (resize modes 0-2): each image flattened onto ``background_color`` and
    resized to ``width``×``height`` by the resize mode."""
    return [resize_or_error(resize_mode, flatten(im, background_color), width, height) for im in init_images]


@stage("image_resize", returns="base_images")
def flat_images_stage(init_images: list[Image.Image], background_color: str) -> list[Image.Image]:
    """"Only masked", or resize mode 3 (the latent is resized instead): flattened only."""
    return [flatten(im, background_color) for im in init_images]


@stage("image_resize", returns="processed_images")
def crop_images_stage(base_images: list[Image.Image], crop_region, width: int, height: int) -> list[Image.Image]:
    """"Only masked": the crop box of each image, brought to the processing size by "Resize and
    fill"."""
    return [resize_or_error(ResizeMode.RESIZE_AND_FILL, im.crop(crop_region), width, height) for im in base_images]

"""Fingerprints of run_init results and their views over the examples, a grid of settings and
the sweep grid: a digest per result field and per view picture.

``tests/data/fingerprints.json`` was written by this script from the code *before* run_init
became a declared pipeline (commit 8daa45d); ``test_fingerprints.py`` checks that today's code
gives the same bytes. Regenerated since, each time only for an intended change of output:
the soft-inpainting views, notes and stand-in result of #23 (fp16 exponent and one nmask
dtype, as the extension runs) - nothing else changed. Regenerate only so, and say why:

    python tests/fingerprints.py > tests/data/fingerprints.json
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from inpaint_init import InitParams, StageCache, run_init  # noqa: E402
from inpaint_init.examples import EXAMPLES, load_example  # noqa: E402

#: Result fields compared (everything but timings, which are measured).
FIELDS = (
    "init_latent", "encoded_latent", "mask", "nmask", "image_conditioning", "overlay_images", "mask_for_overlay",
    "paste_to", "color_corrections", "binary_mask", "blurred_mask", "crop_region", "crop_region_unexpanded",
    "image_mask", "processed_images", "filled_images", "latent_mask_image", "latent_noise", "conditioning_mask",
    "conditioning_masked_image", "decoded_latent", "decoded_init_latent", "decoded_init_latent_approx",
    "start_latent", "start_noise", "decoded_start_latent", "decoded_soft_result", "seeds", "subseeds", "noise_source",
    "batch_size", "inpaint_full_res", "vae_name", "notes",
)  # fmt: skip

#: (name, overrides) applied on top of each example's own settings.
VARIANTS = (
    ("default", {}),
    ("fill", {"inpainting_fill": 0}),
    ("latent noise", {"inpainting_fill": 2, "seed": 7}),
    ("latent nothing", {"inpainting_fill": 3}),
    ("only masked", {"inpaint_full_res": True, "inpaint_full_res_padding": 16, "inpainting_fill": 0}),
    ("crop resize", {"resize_mode": 1, "width": 384, "height": 256}),
    ("fill resize", {"resize_mode": 2, "width": 256, "height": 384}),
    ("latent upscale", {"resize_mode": 3, "width": 256, "height": 256}),
    ("inpainting model", {"model_kind": "inpainting", "inpainting_mask_weight": 0.6}),
    ("sdxl inpainting", {"model_kind": "inpainting-sdxl", "mask_round": False}),
    ("batch 2 colour", {"batch_size": 2, "color_correction": True, "inpainting_fill": 2}),
    ("invert blur", {"inpainting_mask_invert": 1, "mask_blur_x": 9, "mask_blur_y": 0}),
    ("variation", {"subseed": 3, "subseed_strength": 0.4, "seed_resize_from_w": 256, "seed_resize_from_h": 320, "randn_source": "NV"}),
    ("soft", {"soft_inpainting": True, "composite_mask_influence": 0.3, "sampler_name": "DDIM"}),
    ("odd size", {"width": 200, "height": 136}),
)


def digest(value) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [digest(v) for v in value]
    h = hashlib.blake2b(digest_size=12)
    if isinstance(value, Image.Image):
        h.update(f"{value.mode}{value.size}".encode() + value.tobytes())
    elif isinstance(value, torch.Tensor):
        a = value.detach().cpu().contiguous().numpy()
        h.update(f"{a.dtype}{a.shape}".encode() + a.tobytes())
    elif isinstance(value, np.ndarray):
        h.update(f"{value.dtype}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())
    else:
        return repr(value)
    return h.hexdigest()


def cases():
    for ex in EXAMPLES:
        image, mask, _ = load_example(ex.name)
        for name, overrides in VARIANTS:
            params = InitParams(**({"seed": 1234, "subseed": 77} | ex.settings | overrides))
            yield f"{ex.name} / {name}", image, mask, params


def fingerprint(cache: StageCache | None = None) -> dict:
    from inpaint_init.cli import sweep_grid
    from inpaint_init.views import render_views

    out = {}
    for label, image, mask, params in cases():
        r = run_init(image, mask, params, cache=cache)
        views = render_views(r, image)
        out[label] = {
            "fields": {f: digest(getattr(r, f)) for f in FIELDS},
            "soft": None if r.soft is None else digest(r.soft.result_latent),
            "views": {k: [digest(v.image), v.caption] for k, v in views.items()},
        }
    image, mask, _ = load_example(EXAMPLES[1].name)
    grid = sweep_grid(image, mask, InitParams(seed=5, inpaint_full_res=True), "inpaint_full_res_padding", [0, 8, 32])
    out["sweep grid"] = digest(grid)
    return out


if __name__ == "__main__":
    json.dump(fingerprint(), sys.stdout, indent=1, sort_keys=True)

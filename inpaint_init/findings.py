"""Findings: what init will do wrong, said before sampling, with the numbers that prove it.

``diagnose(result)`` reads the same intermediates as the views (``shared/spec/findings.md``)
and returns one :class:`Finding` per condition that holds, errors first. The numbers come from
the result alone (well inside a refresh: a few ms at 512²); the fixes that need a search (Mask
blur, padding) run it on first access of ``fix`` or ``message``, on the mask only
(:mod:`inpaint_init.findings_search`), never the VAE.

>>> from PIL import Image
>>> from inpaint_init import InitParams, run_init
>>> image = Image.new("RGB", (64, 64), "gray")
>>> mask = Image.new("L", (64, 64)); mask.paste(255, (30, 0, 36, 64))  # a 6 px stroke
>>> found = diagnose(run_init(image, mask, InitParams(width=64, height=64, seed=1)))
>>> [(f.id, f.severity, f.numbers["repainted_cells"]) for f in found]
[('nothing-repainted', 'error', 0)]
>>> found[0].fix
{'mask_blur_x': 1, 'mask_blur_y': 1}
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

import numpy as np
from PIL import Image

from .findings_search import blur_search, mask_chain_quantities, padding_search
from .pipeline import MAX_SIDE, InitParams, InitResult

__all__ = ["FINDINGS", "SEVERITY", "VIEW", "ICON", "NO_FINDINGS", "Finding", "diagnose", "apply_fix"]

#: Every finding id, in the spec's table order (errors, warnings, infos).
FINDINGS = (
    "blank-mask-fallback",
    "nothing-repainted",
    "painted-not-repainted",
    "noise-fill-low-strength",
    "crop-downscaled",
    "crop-magnified",
    "little-context",
    "aspect-stretched",
    "mask-size-mismatch",
    "soft-mask-values",
    "repainted-beyond-paint",
    "repaint-most",
    "conditioning-disagrees",
)
SEVERITY = dict(zip(FINDINGS, ["error"] * 2 + ["warning"] * 7 + ["info"] * 4))
#: The app's view key where each finding shows.
VIEW = {
    "blank-mask-fallback": "binary_mask",
    "nothing-repainted": "latent_mask",
    "painted-not-repainted": "latent_mask",
    "noise-fill-low-strength": "sampler_start",
    "crop-downscaled": "crop",
    "crop-magnified": "crop",
    "little-context": "crop",
    "aspect-stretched": "processed",
    "mask-size-mismatch": "binary_mask",
    "soft-mask-values": "binary_mask",
    "repainted-beyond-paint": "latent_mask",
    "repaint-most": "latent_mask",
    "conditioning-disagrees": "conditioning",
}
#: A mark per severity, for one-line displays.
ICON = {"error": "⛔", "warning": "⚠️", "info": "ℹ️"}
#: The quiet line shown when diagnose finds nothing.
NO_FINDINGS = "No findings: none of the checks sees a problem before sampling."
_PENDING = object()


class Finding:
    """One statement about the job: ``id`` (one of :data:`FINDINGS`), ``severity`` ("error",
    "warning" or "info"), ``numbers`` (the spec's keys, ints and floats), ``message`` (one
    sentence stating them), ``view`` (the app's view key) and ``fix`` (InitParams field → value,
    or None).

    ``fix`` may be searched for: then the search runs on first access of ``fix`` or ``message``
    (whose advice depends on it) and is kept; ``fix_pending`` says whether it has not run yet.
    """

    __slots__ = ("id", "severity", "numbers", "view", "_statement", "_fix", "_search", "_advice")

    def __init__(self, id: str, numbers: dict, statement: str, fix: Any = None,
                 search: Callable[[], dict | None] | None = None,
                 advice: Callable[[dict | None], str] | None = None):  # fmt: skip
        self.id, self.severity, self.view = id, SEVERITY[id], VIEW[id]
        self.numbers = numbers
        self._statement = statement
        self._fix = _PENDING if search is not None else fix
        self._search, self._advice = search, advice

    @property
    def fix_pending(self) -> bool:
        return self._fix is _PENDING

    @property
    def fix(self) -> dict | None:
        if self._fix is _PENDING:
            self._fix = self._search()
            self._search = None
        return None if self._fix is None else dict(self._fix)

    @property
    def message(self) -> str:
        if self._advice is None:
            return self._statement
        return f"{self._statement} {self._advice(self.fix)}"

    def as_dict(self) -> dict:
        """JSON-ready: id, severity, message, numbers, view, fix (runs a pending search)."""
        return {"id": self.id, "severity": self.severity, "message": self.message, "numbers": dict(self.numbers),
                "view": self.view, "fix": self.fix}  # fmt: skip

    def __repr__(self) -> str:
        return f"Finding({self.id!r}, {self.severity!r}, {self.numbers!r})"


def apply_fix(params: InitParams, finding: Finding) -> InitParams:
    """``params`` with the finding's fix applied (unchanged when it has none)."""
    return params.replace(**(finding.fix or {}))


_MISMATCH = re.compile(r"The mask is (\d+)×(\d+) but the image is (\d+)×(\d+)\.")


def _image_size(result: InitResult, image) -> tuple[int, int] | None:
    """The first init image's size as given, from the caller, the result, or None if unknown.

    InitResult keeps no copy of the input in whole-picture mode; with a mask, the mask's size is
    the image's unless run_init noted a mismatch (whose note carries both sizes).
    """
    if image is not None:
        first = image if isinstance(image, (Image.Image, np.ndarray)) else list(image)[0]
        return (first.width, first.height) if isinstance(first, Image.Image) else (first.shape[1], first.shape[0])
    size = getattr(result, "init_image_size", None)
    if size is not None:
        return tuple(size)
    if result.inpaint_full_res and result.overlay_images:
        return result.overlay_images[0].size  # Only masked: the overlay keeps the original size
    if result.binary_mask is None:
        return None
    for note in result.notes:
        m = _MISMATCH.search(note)
        if m:
            return int(m.group(3)), int(m.group(4))
    return result.binary_mask.size


def _soft_counts(result: InitResult, mask) -> dict[str, int] | None:
    """dropped_px, solid_px, grey_px of the mask as given (None when they cannot be known)."""
    if result.binary_mask is None:
        return None
    rounding = result.params.effective_mask_round
    given = mask if mask is not None else getattr(result, "mask_input", None)
    if isinstance(given, np.ndarray):
        from .masks import to_mask_image

        given = to_mask_image(given)
    counts = {"dropped_px": 0, "solid_px": 0, "grey_px": 0}
    if rounding and given is not None and given.mode == "RGBA" and given.getextrema()[-1] != (255, 255):
        hist = given.getchannel("A").histogram()
        counts["dropped_px"], counts["solid_px"] = sum(hist[1:129]), sum(hist[129:255])
        return counts
    # Otherwise what init keeps is the binary mask itself (the alpha or the grey image).
    grey = sum(result.binary_mask.histogram()[1:255])
    if rounding and given is None and grey == 0:
        return None  # a rounded alpha or a clean mask: the result cannot tell which
    counts["grey_px"] = grey
    return counts


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %" if x >= 0.01 or x == 0 else f"{100 * x:.2f} %"


def _paint_advice(px_per_cell: float | None) -> Callable[[dict | None], str]:
    def advice(fix):
        if fix is not None:
            return f"Mask blur {fix['mask_blur_x']} fixes it."
        wide = "" if px_per_cell is None else f" (about {px_per_cell:.0f} px of the mask)"
        return f"No smaller Mask blur helps: paint wider than one 8×8 latent cell at processing size{wide}."

    return advice


def diagnose(result: InitResult, image=None, mask=None) -> list[Finding]:
    """The findings of one init result, errors first, then warnings, then infos.

    ``image``/``mask``: optionally the inputs given to run_init; they make two findings exact
    where the result alone cannot (the image's size without a mask; the soft alpha of a rounded
    RGBA mask). Never raises for a result that run_init returned.
    """
    p = result.params
    found: dict[str, Finding] = {}
    W, H = p.width, p.height
    in_use = result.nmask is not None
    image_size = _image_size(result, image)

    if p.inpaint_full_res and result.blurred_mask is not None and not result.inpaint_full_res:
        found["blank-mask-fallback"] = Finding(
            "blank-mask-fallback", {},
            "The mask is blank after the blur (no pixel above 0): the webui drops it and runs plain img2img, so the "
            "whole picture is redone.",
        )  # fmt: skip

    if in_use:
        q = mask_chain_quantities(result)
        total = q["cells_total"]
        px_per_cell = q["px_per_cell"]
        if q["repainted_cells"] == 0:
            found["nothing-repainted"] = Finding(
                "nothing-repainted", {"painted_px": q["painted_px"], "repainted_cells": 0},
                f"Nothing is repainted: of {q['painted_px']} painted pixels at processing size, 0 of {total} latent "
                "cells reach 0.5 in the latent mask, so the sampler keeps every cell and the result is the original.",
                search=lambda: blur_search(result, "nothing-repainted"), advice=_paint_advice(px_per_cell),
            )  # fmt: skip
        elif q["painted_px"] > 0 and q["lost_share"] >= 0.20:
            found["painted-not-repainted"] = Finding(
                "painted-not-repainted",
                {"painted_px": q["painted_px"], "lost_px": q["lost_px"], "lost_share": q["lost_share"]},
                f"{_pct(q['lost_share'])} of the paint ({q['lost_px']} of {q['painted_px']} px at processing size) "
                "falls in latent cells that are kept, not repainted.",
                search=lambda: blur_search(result, "painted-not-repainted"), advice=_paint_advice(px_per_cell),
            )  # fmt: skip
        if q["repainted_cells"] > 0 and q["extra_share"] >= 0.5:
            found["repainted-beyond-paint"] = Finding(
                "repainted-beyond-paint", {"extra_px": q["extra_px"], "extra_share": q["extra_share"]},
                f"{_pct(q['extra_share'])} of the repainted cells' pixels ({q['extra_px']} px) lie outside the paint: "
                "more is redone than was painted.",
            )  # fmt: skip
        if not result.inpaint_full_res and q["repainted_cells"] >= 0.9 * total:
            share = q["repainted_cells"] / total
            found["repaint-most"] = Finding(
                "repaint-most", {"repainted_share": share},
                f"{_pct(share)} of the latent cells are repainted: nearly the whole picture is redone (check Inpaint "
                "not masked).",
            )  # fmt: skip
        if p.model_kind != "standard":
            cond = result.image_conditioning[0, 0].float().cpu().numpy() >= 0.5
            cells = int(np.count_nonzero(cond != q["L"]))
            if cells:
                found["conditioning-disagrees"] = Finding(
                    "conditioning-disagrees", {"cells": cells},
                    f"The inpainting model's conditioning mask (nearest-sampled) and the latent mask disagree in {cells} "
                    "cells: there the model is told to fill where the sampler keeps, or the reverse.",
                )  # fmt: skip

    if in_use and p.inpainting_fill in (2, 3) and p.denoising_strength < 0.9:
        plan = result.sampler_plan
        what = ["", "", "latent noise", "latent nothing"][p.inpainting_fill]
        look = "noisy" if p.inpainting_fill == 2 else "flat grey"
        found["noise-fill-low-strength"] = Finding(
            "noise-fill-low-strength",
            {"strength": float(p.denoising_strength), "t_enc": int(plan.t_enc), "steps": int(plan.schedule_steps)},
            f"Masked content '{what}' starts the masked area from {'noise' if p.inpainting_fill == 2 else 'zeros'}, but "
            f"with Denoising strength {p.denoising_strength:g} only the last {plan.t_enc + 1} of {plan.schedule_steps} "
            f"steps run (t_enc {plan.t_enc}): it will stay {look}.",
            fix={"denoising_strength": 1.0},
        )  # fmt: skip

    if result.inpaint_full_res and result.crop_region is not None:
        _crop_findings(result, found, image_size)
    elif not result.inpaint_full_res and p.resize_mode == 0 and image_size is not None:
        _aspect_finding(p, image_size, found)

    if result.binary_mask is not None and image_size is not None and result.binary_mask.size != tuple(image_size):
        (mw, mh), (iw, ih) = result.binary_mask.size, image_size
        found["mask-size-mismatch"] = Finding(
            "mask-size-mismatch", {"mask_w": mw, "mask_h": mh, "image_w": iw, "image_h": ih},
            f"The mask is {mw}×{mh} but the image is {iw}×{ih}: the webui does not check it, the mask lands "
            + ("stretched onto the picture." if not result.inpaint_full_res else "off the measured crop box."),
        )  # fmt: skip

    soft = _soft_counts(result, mask)
    if soft is not None and sum(soft.values()) > 0:
        if soft["grey_px"]:
            text = (f"The mask has {soft['grey_px']} grey pixels (neither 0 nor 255): nothing thresholds them before "
                    "the latent mask rounds at 0.5, and the overlay lets the original show through them.")  # fmt: skip
        else:
            text = (f"The mask's alpha is soft: {soft['dropped_px']} pixels with alpha 1-128 are cut to 0 and "
                    f"{soft['solid_px']} with alpha 129-254 become fully painted.")  # fmt: skip
        found["soft-mask-values"] = Finding("soft-mask-values", soft, text)
    return [found[k] for k in FINDINGS if k in found]


def _crop_findings(result: InitResult, found: dict, image_size) -> None:
    """crop-downscaled, crop-magnified, little-context (Only masked in effect)."""
    p = result.params
    x1, y1, x2, y2 = result.crop_region
    cw, ch = x2 - x1, y2 - y1
    scale = min(p.width / cw, p.height / ch)
    blurred = np.asarray(result.blurred_mask)
    context = float(np.count_nonzero(blurred[y1:y2, x1:x2] == 0)) / (cw * ch)
    size = f"{cw}×{ch}"
    if scale < 0.8:
        fix = None
        fw, fh = 8 * math.ceil(cw / 8), 8 * math.ceil(ch / 8)
        if fw <= 2048 and fh <= 2048 and _downscale_removed(result, fw, fh):
            fix = {"width": fw, "height": fh}
        found["crop-downscaled"] = Finding(
            "crop-downscaled", {"cw": cw, "ch": ch, "scale": scale},
            f"Only masked shrinks the {size} crop to {p.width}×{p.height} (×{scale:.2f}): the repaint comes back "
            f"enlarged ×{1 / scale:.2f} and softer than its surroundings.",
            fix=fix,
        )  # fmt: skip
    if scale >= 4:
        found["crop-magnified"] = Finding(
            "crop-magnified", {"cw": cw, "ch": ch, "scale": scale},
            f"Only masked enlarges the {size} crop ×{scale:.1f} to {p.width}×{p.height}: the model sees a close-up and "
            "may paint a whole scene into the small area.",
            search=lambda: padding_search(result, "crop-magnified", image_size),
        )  # fmt: skip
    if context < 0.25:
        found["little-context"] = Finding(
            "little-context", {"context_share": context, "padding": int(p.inpaint_full_res_padding)},
            f"Only {_pct(context)} of the {size} crop is unmasked picture (padding {p.inpaint_full_res_padding} px): "
            "little around the mask for the repaint to continue.",
            search=lambda: padding_search(result, "little-context", image_size),
        )  # fmt: skip


def _downscale_removed(result: InitResult, fw: int, fh: int) -> bool:
    """Whether width/height fw×fh give a crop scale ≥ 0.8 (the crop box grows to the new ratio)."""
    from .crop import expand_crop_region

    bw, bh = result.blurred_mask.size
    x1, y1, x2, y2 = expand_crop_region(result.crop_region_unexpanded, fw, fh, bw, bh)
    return min(fw / (x2 - x1), fh / (y2 - y1)) >= 0.8


def _aspect_finding(p: InitParams, image_size, found: dict) -> None:
    w, h = image_size
    stretch = (p.width / p.height) / (w / h)
    if abs(math.log(stretch)) <= math.log(1.02):
        return
    fh = max(8, 8 * round(p.width * h / (8 * w)))
    fixed = (p.width / fh) / (w / h)
    # The spec's height; kept only where it really removes the stretch (rounding to 8 px can
    # leave more than 2 % on a small picture) and is a size the webui takes.
    fix = {"height": fh} if fh <= MAX_SIDE and abs(math.log(fixed)) <= math.log(1.02) else None
    found["aspect-stretched"] = Finding(
        "aspect-stretched", {"stretch": stretch},
        f"Just resize stretches the {w}×{h} picture to {p.width}×{p.height}: its aspect changes ×{stretch:.3f} "
        f"({'wider' if stretch > 1 else 'taller'}).",
        fix=fix,
    )  # fmt: skip

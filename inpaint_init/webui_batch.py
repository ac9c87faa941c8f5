"""The img2img "Batch" tab, source "from dir" (spec webui-tabs.md §4-§5).

:func:`batch_jobs` lists one :class:`BatchJob` per image file the webui takes, in its order, with
the mask it matches, the processing size, the seed and PNG-info fields, and the state the webui's
single shared processing object carries into it (Only masked switched off by a blank mask).

>>> natural_key("img10") > natural_key("Img3")
True
"""

from __future__ import annotations

import os
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .masks import blur_mask, create_binary_mask, invert_mask
from .pipeline import MAX_PIXELS, InitError, InitParams
from .sampler import SAMPLERS

__all__ = ["BatchJob", "batch_jobs", "natural_key", "image_files", "read_image", "png_info_text", "parse_parameters"]

#: Extensions the batch takes (compared lower-cased).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
#: The webui's random seed range: ``randrange(4294967294)``.
SEED_RANGE = 4294967294
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])*[^\\]"|[^,]*)(?:,|$)')


@dataclass
class BatchJob:
    """One image of a batch: ``image_path``, ``mask_path`` (None: no mask), ``params`` (what the
    shared processing object holds when this image's init starts), ``skipped`` (None or why),
    ``notes`` (what params cannot carry: the webui's carry-overs, ambiguous masks, samplers)."""

    image_path: Path
    mask_path: Path | None
    params: InitParams
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    def load(self) -> tuple[list[Image.Image], Image.Image | None]:
        """``(images, mask)`` read the webui's way: ``params.batch_size`` copies of the fixed
        picture and the fixed mask (or None), ready for ``run_init(images, mask, job.params)``."""
        if self.skipped:
            raise InitError(f"{self.image_path} is skipped ({self.skipped}); there is nothing to load")
        image = read_image(self.image_path, "batch image")
        mask = None if self.mask_path is None else read_image(self.mask_path, "batch mask")
        return [image] * self.params.batch_size, mask


def natural_key(text: str) -> list:
    """The webui's natural sort key: digit runs as integers, the rest lower-cased."""
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(re.split(r"(\d+)", str(text)))]


def image_files(input_dir) -> list[Path]:
    """Image files under ``input_dir``, recursively (symlinked folders followed, hidden included),
    folders in natural order of their full path, names in natural order within each."""
    root = Path(input_dir)
    if not root.is_dir():
        raise InitError(f"input_dir {root} is not a folder")
    folders, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop: the webui would walk forever; we visit each folder once
            dirnames[:] = []
            continue
        seen.add(real)
        names = [n for n in filenames if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS]
        folders.append((dirpath, sorted(names, key=natural_key)))
    folders.sort(key=lambda f: natural_key(f[0]))
    return [Path(d) / n for d, names in folders for n in names]


def read_image(path, what: str) -> Image.Image:
    """Open, decode and fix (§2) an image file; InitError if it is not a readable image."""
    from .webui_tabs import fix_image

    path = Path(path)
    if not path.is_file():
        raise InitError(f"{what} {path} is not a regular file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        if img.width * img.height > MAX_PIXELS:
            raise InitError(f"{what} {path} is {img.width}×{img.height}, above this tool's {MAX_PIXELS // 2**20} MP limit")
        img.load()
    except InitError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises many kinds for a file it cannot read
        raise InitError(f"{what} {path} is not a readable image ({type(e).__name__}: {e})") from e
    return fix_image(fix_image(img))  # the webui orients once more after reading: a no-op


def _exif_comment(image: Image.Image) -> str | None:
    """A non-empty EXIF UserComment, decoded by its 8-byte prefix; None if absent or undecodable."""
    if "exif" not in image.info:
        return None
    try:
        exif = Image.Exif()
        exif.load(image.info["exif"])
        raw = exif.get_ifd(0x8769).get(0x9286)
        if isinstance(raw, str):
            raw = raw.encode("latin-1")
        if not raw:
            return None
        codecs = {b"UNICODE\0": "utf_16_be", b"ASCII\0\0\0": "ascii", b"JIS\0\0\0\0\0": "shift_jis"}
        text = raw[8:].decode(codecs[raw[:8]])
        return text or None
    except Exception:  # noqa: BLE001 - an unreadable comment is ignored, as in the webui
        return None


def png_info_text(image: Image.Image) -> str | None:
    """The generation text: PNG chunk ``parameters``, replaced by a non-empty EXIF UserComment."""
    text = image.info.get("parameters")
    comment = _exif_comment(image)
    if comment:
        text = comment
    return text if isinstance(text, str) else None


def parse_parameters(text: str | None) -> dict[str, str]:
    """The parameters line's ``{key: value}`` (the last line, when it holds ≥ 3 pairs), else {}.

    >>> parse_parameters('a cat\\nSteps: 7, Sampler: Euler a, Seed: 42')
    {'Steps': '7', 'Sampler': 'Euler a', 'Seed': '42'}
    >>> parse_parameters('Steps: 7, Seed: 42')
    {}
    """
    import json

    if not text:
        return {}
    try:
        last = text.strip().split("\n")[-1]
        found = _PARAM.findall(last)
        if len(found) < 3:
            return {}
        out = {}
        for key, value in found:
            value = value.strip()
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                try:
                    value = json.loads(value)
                except ValueError:
                    pass  # kept as written
            out[key] = value
        return out
    except Exception:  # noqa: BLE001 - any parse failure means "no parameters"
        return {}


def _png_fields(job: BatchJob, image: Image.Image, props, png_info_dir) -> dict:
    """Seed/Steps/Sampler changes from the image's (or its png_info_dir twin's) PNG info."""
    source = image
    if png_info_dir is not None:
        try:
            source = read_image(Path(png_info_dir) / job.image_path.name, "PNG info file")
        except InitError:
            return {}
    pairs = {k: v for k, v in parse_parameters(png_info_text(source)).items() if k in props}
    changes = {}
    for key, name in (("Seed", "seed"), ("Steps", "steps")):
        if key in pairs:
            try:
                changes[name] = int(pairs[key])
            except (TypeError, ValueError) as e:
                raise InitError(f"{job.image_path}: PNG info {key}: {pairs[key]!r} is not an integer; the webui aborts the batch") from e
    if "Sampler" in pairs:
        if pairs["Sampler"] in SAMPLERS:
            changes["sampler_name"] = pairs["Sampler"]
        else:
            job.notes.append(f"PNG info Sampler {pairs['Sampler']!r} is not one this project knows ({', '.join(SAMPLERS)}); ran with {job.params.sampler_name}.")
    return changes


def _mask_candidates(mask_dir) -> list[Path]:
    d = Path(mask_dir)
    if not d.is_dir():
        raise InitError(f"mask_dir {d} is not a folder")
    return sorted((p for p in d.iterdir() if not p.name.startswith(".") and p.is_file()), key=lambda p: natural_key(p.name))


def _match_mask(job: BatchJob, mask_dir, candidates: list[Path]) -> Path | None:
    """The mask file for ``job`` (§4 Masks); sets ``skipped`` when several candidates and no match."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    # pathlib's glob, as the webui: case-sensitive, hidden names included, glob characters in the stem act.
    matches = sorted(Path(mask_dir).glob(f"{job.image_path.stem}.*"), key=lambda p: p.name)
    if not matches:
        job.skipped = f"no mask in {mask_dir} matches {job.image_path.stem}.*"
        return None
    if len(matches) > 1:
        job.notes.append(
            f"{len(matches)} masks match {job.image_path.stem}.* ({', '.join(p.name for p in matches)}); took the first by name, "
            "the webui takes the first in the folder's listing order, which the file system decides."
        )
    return matches[0]


def _blank(mask: Image.Image, p: InitParams) -> bool:
    """No non-zero pixel after §2 (binary with mask_round, invert, the cv2 blur)."""
    m = create_binary_mask(mask, round=p.effective_mask_round)
    m = invert_mask(m) if p.inpainting_mask_invert else m
    return blur_mask(m, p.mask_blur_x, p.mask_blur_y).getbbox() is None


def _fixed_seed(seed: int) -> int:
    return random.randrange(SEED_RANGE) if seed == -1 else seed


def batch_jobs(
    input_dir,
    *,
    mask_dir=None,
    scale_by=None,
    png_info: bool = False,
    png_info_props=(),
    png_info_dir=None,
    base: InitParams | None = None,
    on_error: str = "raise",
) -> list[BatchJob]:
    """One BatchJob per image file the webui's batch takes, in its order (skipped ones included).

    ``base``: every other setting (None: InitParams()); ``scale_by``: Resize by per image;
    ``png_info_props``: which of ``Seed``, ``Steps``, ``Sampler`` PNG info may set; ``on_error``:
    ``"raise"`` (the webui aborts: InitError naming the file) or ``"skip"`` (that job skipped).
    """
    from .webui_tabs import scaled_size

    if on_error not in ("raise", "skip"):
        raise InitError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    base = base if base is not None else InitParams()
    base.validate()
    props = set([png_info_props] if isinstance(png_info_props, str) else png_info_props)
    # Seed and variation seed are drawn once for the whole batch: every image gets the same.
    base = base.replace(seed=_fixed_seed(base.seed), subseed=_fixed_seed(base.subseed))
    candidates = _mask_candidates(mask_dir) if mask_dir is not None else []
    jobs: list[BatchJob] = []
    full_res = base.inpaint_full_res
    # The images whose latent mask / crop box the shared object still holds, and the one that switched Only masked off.
    last_masked = last_cropped = switched_by = None
    for path in image_files(input_dir):
        job = BatchJob(image_path=path, mask_path=None, params=base.replace(inpaint_full_res=full_res))
        jobs.append(job)
        try:
            image = read_image(path, "batch image")
        except InitError as e:
            job.skipped = f"unreadable: {e}"
            continue
        try:
            job.mask_path = _match_mask(job, mask_dir, candidates)
            if job.skipped:
                continue
            mask = None if job.mask_path is None else read_image(job.mask_path, "mask")
            changes = _png_fields(job, image, props, png_info_dir) if png_info else {}
        except InitError as e:
            if on_error == "raise":
                raise InitError(f"{path}: {e} (the webui aborts the whole batch here)") from e
            job.skipped = str(e)
            continue
        if scale_by is not None:
            changes["width"], changes["height"] = scaled_size(image, scale_by)
        job.params = job.params.replace(**changes)
        if mask is not None:
            blank = job.params.inpaint_full_res and _blank(mask, job.params)
            _carry_over(job, blank, switched_by, last_masked, last_cropped)
            if blank:
                full_res, switched_by = False, path
            elif job.params.inpaint_full_res:
                last_cropped = path
            last_masked = path
    return jobs


def _carry_over(job: BatchJob, blank: bool, switched_by, last_masked, last_cropped) -> None:
    """Notes for what the shared processing object carries into ``job`` beyond its params (§5)."""
    if blank:
        job.notes.append(
            "Blank mask in Only masked mode: init switches the shared processing object to Whole picture, so every "
            "later image of this batch runs Whole picture."
        )
        if last_masked is not None:
            job.notes.append(
                f"The webui keeps the previous image's latent mask ({last_masked.name}) for this image: its plain img2img "
                "fallback is sampled and blended with that mask, which this init does not show."
            )
    elif switched_by is not None:
        job.notes.append(
            f"Whole picture only because the blank mask of {switched_by.name} switched Only masked off for the rest of "
            "the batch; the webui's infotext still says 'Inpaint area: Only masked' with the old padding."
        )
        if last_cropped is not None:
            job.notes.append(
                f"The webui's overlay step pastes this result into the old crop box of {last_cropped.name} (paste_to "
                "stays set), not over the whole picture."
            )

"""Real VAEs from local files, offline and without running code from the files (spec §8).

Supported, detected from the path and the weights' keys, for the four families of forge.md §4
(SD1.x/2.x, SDXL, SD3, Flux):

- a diffusers ``AutoencoderKL`` or ``AutoencoderTiny`` folder (``config.json``; a pipeline folder
  with a ``vae/`` subfolder works too, e.g. SD3's or Flux's diffusers repositories);
- a single-file VAE (``.safetensors``/``.sft``, or ``.pt``/``.ckpt``/``.bin`` that
  ``torch.load(weights_only=True)`` accepts), in the original LDM layout (the webui's VAE files,
  Flux's ``ae.safetensors``) or diffusers' layout, or a full checkpoint (its
  ``first_stage_model.`` part, as in SD1/SDXL/SD3 checkpoints, or ``vae.``);
- TAESD / TAESDXL as the original ``taesd_encoder`` + ``taesd_decoder`` weight files.

File reading, key layouts and family detection live in :mod:`inpaint_init.vae_layouts`. Every
config a loader needs ships in ``inpaint_init/configs``; nothing asks a model hub. diffusers is
imported only when a real VAE is loaded (it takes seconds).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import tempfile
from pathlib import Path
from typing import Literal

import torch

from ._deps import diffusers
from .vae import FAMILIES, FAMILY_LABELS, FAMILY_NUMBERS, default_device, family_from_numbers
from .vae_layouts import (
    CONFIG_DIR,
    VAELoadError,
    check_widths,
    detect_family,
    kl_config,
    latent_channels_of,
    layout,
    read_state_dict,
    require_regular_file,
    strip_prefix,
)

__all__ = ["VAELoadError", "DiffusersKLVAE", "TinyVAE", "load_vae", "read_state_dict", "POSTERIOR_CHOICES", "CONFIG_DIR", "SCALING"]

#: Scaling factor of each family (forge.md §4); the shifts are in :data:`FAMILY_NUMBERS`.
SCALING = {fam: numbers[1] for fam, numbers in FAMILY_NUMBERS.items()}
POSTERIOR_CHOICES = ("sample", "mean")

Family = Literal["auto", "sd1", "sdxl", "sd3", "flux"]
_TOKENS = itertools.count()


def _place(model, device: torch.device, dtype: torch.dtype):
    # diffusers warns on any .to(dtype); only ask for a dtype when it is not the default.
    return (model.to(device) if dtype == torch.float32 else model.to(device, dtype)).eval()


def _device_dtype(device, force_upcast: bool) -> tuple[torch.device, torch.dtype]:
    device = torch.device(device) if device is not None else default_device()
    # fp16 only on CUDA, and not for VAEs known to overflow in it (the SDXL VAE).
    dtype = torch.float16 if device.type == "cuda" and not force_upcast else torch.float32
    return device, dtype


class DiffusersKLVAE:
    """An ``AutoencoderKL`` behind the :mod:`inpaint_init.vae` protocol.

    ``posterior="sample"`` (the webui's default) returns ``mean + std·ε`` with ε drawn from a CPU
    generator seeded with ``seed`` for every encode — the same draw as the webui's global CPU RNG
    right after ``torch.manual_seed(seed)`` — so results are reproducible and cacheable;
    ``"mean"`` returns the posterior mean. ``encode`` returns ``(z − shift_factor) ×
    scaling_factor`` (forge.md §4; SD1/SDXL have shift 0), ``decode`` divides and adds back.
    ``family`` is one of :data:`~inpaint_init.vae.FAMILIES` (None: inferred from the numbers).
    """

    deterministic = True

    def __init__(
        self,
        model,
        *,
        scaling_factor: float,
        shift_factor: float | None = None,
        family: str | None = None,
        posterior: str = "sample",
        seed: int = 0,
        device=None,
        description: str = "",
    ):
        if posterior not in POSTERIOR_CHOICES:
            raise ValueError(f"posterior must be one of {POSTERIOR_CHOICES}, got {posterior!r}")
        force_upcast = bool(getattr(model.config, "force_upcast", False))
        self.device, self.dtype = _device_dtype(device, force_upcast)
        self.model = _place(model, self.device, self.dtype)
        self.scaling_factor = float(scaling_factor)
        if shift_factor is None:  # a null or missing shift is 0.0, as in Forge (forge.md §4)
            shift_factor = getattr(model.config, "shift_factor", None) or 0.0
        self.shift_factor = float(shift_factor)
        self.latent_channels = int(model.config.latent_channels)
        self.family = family if family is not None else family_from_numbers(self.latent_channels, self.scaling_factor, self.shift_factor)
        self.posterior = posterior
        self.seed = int(seed)
        self.token = next(_TOKENS)  # shared by with_posterior() copies: same weights
        self.description = description or "AutoencoderKL"
        self.name = self._describe()

    @property
    def cache_identity(self):
        """What decides this backend's outputs, for the stage cache (copies share the model)."""
        # A token, not id(self.model): a freed model's id can be reused by the next one loaded,
        # which would then be served the old model's cached latents.
        return ("kl", self.token, self.posterior, self.seed, self.scaling_factor, self.shift_factor, str(self.dtype))

    def with_posterior(self, posterior: str, seed: int) -> "DiffusersKLVAE":
        """The same model with another posterior choice (a shallow copy: weights are shared)."""
        if posterior not in POSTERIOR_CHOICES:
            raise ValueError(f"posterior must be one of {POSTERIOR_CHOICES}, got {posterior!r}")
        other = copy.copy(self)
        other.posterior, other.seed = posterior, int(seed)
        other.name = other._describe()
        return other

    def _describe(self) -> str:
        post = f"posterior sample (seed {self.seed})" if self.posterior == "sample" else "posterior mean"
        shift = f" · shift {self.shift_factor:g}" if self.shift_factor else ""
        return f"{self.description} · scaling {self.scaling_factor:g}{shift} · {post} · {self.device.type} {str(self.dtype).replace('torch.', '')}"

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        dist = self.model.encode(x.to(self.device, self.dtype)).latent_dist
        z = dist.mean
        if self.posterior == "sample":
            gen = torch.Generator("cpu").manual_seed(self.seed)
            eps = torch.randn(dist.mean.shape, generator=gen, dtype=torch.float32).to(dist.mean)
            z = dist.mean + dist.std * eps
        return ((z - self.shift_factor) * self.scaling_factor).float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        z = z.to(self.device, self.dtype) / self.scaling_factor + self.shift_factor
        return self.model.decode(z).sample.float().clamp(-1, 1)


class TinyVAE:
    """TAESD (diffusers ``AutoencoderTiny``): its latents are already scaled (factor 1).

    The original TAESD takes [0, 1] pixels; diffusers' wrapper takes [-1, 1] and converts, which
    is what the protocol hands it. Deterministic: no posterior to sample.
    """

    deterministic = True
    scaling_factor = 1.0
    shift_factor = 0.0

    def __init__(self, model, *, device=None, description: str = "", family: str | None = None):
        self.device, self.dtype = _device_dtype(device, force_upcast=False)
        self.model = _place(model, self.device, self.dtype)
        self.latent_channels = int(model.config.latent_channels)
        # TAESD's latents are already scaled, so its numbers say nothing: the family comes from
        # the file's name (TAESDXL, TAESD3, TAEF1) or is left to inference (4 channels: SD1.x/2.x).
        self.family = family
        self.name = f"{description or 'TAESD'} · {self.device.type} {str(self.dtype).replace('torch.', '')}"

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode(x.to(self.device, self.dtype)).latents.float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z.to(self.device, self.dtype)).sample.float().clamp(-1, 1)


def _load_single_file(path: Path, family: Family, posterior: str, seed: int, device):
    raw, metadata = read_state_dict(path)
    state, prefix = strip_prefix(raw)
    kind = layout(state)
    if kind == "unknown":
        sample = ", ".join(list(raw)[:3])
        beside = ""
        if any(k.startswith("model.diffusion_model.") for k in raw):
            beside = " This is a checkpoint without its VAE: load the VAE file that comes beside it (e.g. Flux's ae.safetensors, or a vae/ folder)."
        raise VAELoadError(
            f"{path} does not hold VAE weights: expected keys such as 'encoder.conv_in.weight' and "
            f"'decoder.conv_in.weight' (or 'first_stage_model.' ones in a full checkpoint); found e.g. {sample}.{beside}"
        )
    if kind == "diffusers-tiny":
        return _tiny_from_state(state, path, device, f"TAESD from {path.name}", family)
    fam, how = detect_family(path, raw.keys(), metadata, family, latent_channels_of(state, path))
    config = kl_config(state, kind, fam, path)
    AutoencoderKL = diffusers().AutoencoderKL

    where = f"{path.name}" + (f" ({prefix[:-1]} of a full checkpoint)" if prefix else "")
    try:
        if kind == "ldm":
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "config.json").write_text(json.dumps(config))
                model = AutoencoderKL.from_single_file(state, config=tmp, local_files_only=True)
        else:
            model = AutoencoderKL.from_config(config)
            model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, OSError) as e:
        raise VAELoadError(f"{path}: the weights do not fit an AutoencoderKL ({type(e).__name__}: {str(e)[:300]})") from e
    keys = "original LDM/BFL" if kind == "ldm" else "diffusers"
    desc = f"AutoencoderKL {FAMILY_LABELS[fam]} ({how}) from {where}, {keys} keys"
    return _kl_backend(model, fam, posterior, seed, device, desc)


def _kl_backend(model, fam: str, posterior: str, seed: int, device, desc: str, numbers=None) -> DiffusersKLVAE:
    """The backend with ``numbers`` = (scale, shift), by default the family's own (forge.md §4)."""
    scale, shift = numbers if numbers is not None else FAMILY_NUMBERS[fam][1:]
    return DiffusersKLVAE(model, scaling_factor=scale, shift_factor=shift, family=fam, posterior=posterior, seed=seed, device=device, description=desc)


def _tiny_family(name: str, channels: int, family: str) -> str | None:
    """TAESD's family: as chosen, else from the original projects' file names (taesdxl, taesd3,
    taef1), else SD1.x/2.x for 4 channels and unknown for others."""
    if family != "auto":
        if FAMILY_NUMBERS[family][0] != channels:
            raise VAELoadError(f"{name}: a {channels}-channel TAESD is not a {FAMILY_LABELS[family]} one ({FAMILY_NUMBERS[family][0]} channels)")
        return family
    name = name.lower()
    for hint, fam in (("taesdxl", "sdxl"), ("taesd3", "sd3"), ("taef1", "flux")):
        if hint in name and FAMILY_NUMBERS[fam][0] == channels:
            return fam
    return "sd1" if channels == 4 else None


def _tiny_from_state(state, path: Path, device, desc: str, family: str = "auto") -> TinyVAE:
    AutoencoderTiny = diffusers().AutoencoderTiny

    try:
        latent = state[_last_conv(state, "encoder")].shape[0]
    except (KeyError, ValueError) as e:
        raise VAELoadError(f"{path}: incomplete TAESD weights (no encoder output layer)") from e
    if not 1 <= latent <= 64:
        raise VAELoadError(f"{path}: {latent} latent channels are not a TAESD's")
    model = AutoencoderTiny(latent_channels=latent)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise VAELoadError(f"{path}: the weights do not fit TAESD (AutoencoderTiny): {str(e)[:300]}") from e
    return TinyVAE(model, device=device, description=desc, family=_tiny_family(path.name, int(latent), family))


def _last_conv(state, part: str) -> str:
    """Key of the last layer's weight of the TAESD encoder (its output channels = latent channels)."""
    idx = max(int(m.group(1)) for k in state if (m := re.match(rf"{part}\.layers\.(\d+)\.weight$", k)))
    return f"{part}.layers.{idx}.weight"


def _find_taesd_pair(path: Path) -> tuple[Path, Path] | None:
    """(encoder, decoder) files of an original TAESD: a folder holding them, or either file."""
    folder = path if path.is_dir() else path.parent
    if path.is_file() and "_encoder" not in path.stem and "_decoder" not in path.stem:
        return None
    stem_hint = None if path.is_dir() else path.stem.replace("_encoder", "").replace("_decoder", "")
    for suffix in (".safetensors", ".pth", ".pt"):
        for enc in sorted(folder.glob(f"*_encoder{suffix}")):
            base = enc.name[: -len(f"_encoder{suffix}")]
            if stem_hint is not None and base != stem_hint:
                continue
            dec = folder / f"{base}_decoder{suffix}"
            if dec.exists():
                require_regular_file(enc)
                require_regular_file(dec)
                return enc, dec
            raise VAELoadError(f"found the TAESD encoder {enc} but not its decoder {dec}")
    return None


def _load_taesd_pair(enc_path: Path, dec_path: Path, device, family: str = "auto") -> TinyVAE:
    enc, _ = read_state_dict(enc_path)
    dec, _ = read_state_dict(dec_path)
    state = {f"encoder.layers.{k}": v for k, v in enc.items()}
    for k, v in dec.items():
        # The original decoder starts with a weightless Clamp at index 0; diffusers applies the
        # clamp in forward(), so its layer indices are one lower.
        index, rest = k.split(".", 1)
        if not index.isdigit() or int(index) == 0:
            raise VAELoadError(f"{dec_path} does not look like a TAESD decoder (unexpected key {k!r})")
        state[f"decoder.layers.{int(index) - 1}.{rest}"] = v
    kind = "TAESDXL" if "xl" in enc_path.name.lower() else "TAESD"
    return _tiny_from_state(state, enc_path, device, f"{kind} from {enc_path.name} + {dec_path.name}", family)


def load_vae(
    path: str | Path,
    *,
    family: Family = "auto",
    posterior: str = "sample",
    seed: int = 0,
    device: str | torch.device | None = None,
):
    """Load a VAE from a local path and wrap it in the :mod:`inpaint_init.vae` protocol.

    Args:
        path: a diffusers folder, a single weights file, or TAESD encoder/decoder files (or
            their folder).
        family: "sd1" (SD1.x/2.x, 4 channels, scaling 0.18215), "sdxl" (4, 0.13025), "sd3"
            (16, 1.5305, shift 0.0609), "flux" (16, 0.3611, shift 0.1159) or "auto". A chosen
            family sets the numbers (forge.md §4) and must match the weights' channel count.
            SD1/SDXL VAEs have the same shapes, and so have SD3/Flux ones; auto decides from a
            folder's config numbers, a file's metadata, a full checkpoint's other parts or the
            file name, and the backend's ``name`` says which and why.
        posterior: "sample" (the webui's choice, drawn with ``seed``) or "mean".
        device: default CUDA when available, else CPU; fp16 on CUDA only.

    Raises:
        VAELoadError: the path is missing, unreadable, refused (an unsafe pickle) or not a VAE.
    """
    if family != "auto" and family not in FAMILIES:
        raise VAELoadError(f"family must be 'auto' or one of {FAMILIES}, got {family!r}")
    p = Path(path).expanduser()
    if not p.exists():
        raise VAELoadError(f"{p} does not exist")
    if not p.is_dir():
        require_regular_file(p)
    if p.is_dir():
        folder = p / "vae" if (p / "vae" / "config.json").exists() and not (p / "config.json").exists() else p
        config_file = folder / "config.json"
        if config_file.exists():
            return _load_diffusers_folder(folder, config_file, family, posterior, seed, device)
        pair = _find_taesd_pair(p)
        if pair:
            return _load_taesd_pair(*pair, device, family)
        raise VAELoadError(
            f"{p} is a folder without config.json (a diffusers VAE) or *_encoder/*_decoder files (TAESD)"
        )
    pair = _find_taesd_pair(p)
    if pair:
        return _load_taesd_pair(*pair, device, family)
    return _load_single_file(p, family, posterior, seed, device)


def _load_diffusers_folder(folder: Path, config_file: Path, family: Family, posterior: str, seed: int, device):
    require_regular_file(config_file)
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise VAELoadError(f"{config_file} is not valid UTF-8 JSON: {e}") from e
    if not isinstance(config, dict):
        raise VAELoadError(f"{config_file} must hold a JSON object (a diffusers config), found a {type(config).__name__}")
    cls = config.get("_class_name")
    if cls == "AutoencoderKL":
        widths = config.get("block_out_channels", [128, 256, 512, 512])
        if not isinstance(widths, list) or not all(isinstance(w, int) for w in widths):
            raise VAELoadError(f"{config_file}: block_out_channels must be a list of channel counts, got {widths!r}")
        blocks, latent = config.get("layers_per_block", 2), config.get("latent_channels", 4)
        if not isinstance(blocks, int) or not isinstance(latent, int):
            raise VAELoadError(f"{config_file}: layers_per_block and latent_channels must be whole numbers")
        check_widths(config_file, widths, blocks, latent)
    d = diffusers()
    AutoencoderKL, AutoencoderTiny = d.AutoencoderKL, d.AutoencoderTiny

    try:
        if cls == "AutoencoderTiny":
            model = AutoencoderTiny.from_pretrained(str(folder), local_files_only=True)
            tiny_family = _tiny_family(folder.name, int(model.config.latent_channels), family)
            return TinyVAE(model, device=device, description=f"TAESD (AutoencoderTiny folder {folder.name})", family=tiny_family)
        if cls == "AutoencoderKL":
            model = AutoencoderKL.from_pretrained(str(folder), local_files_only=True)
        else:
            raise VAELoadError(f"{config_file} describes a {cls!r}; expected AutoencoderKL or AutoencoderTiny")
    except (OSError, RuntimeError, ValueError, EnvironmentError) as e:
        if isinstance(e, VAELoadError):
            raise
        raise VAELoadError(f"{folder}: could not load the {cls} weights ({type(e).__name__}: {str(e)[:300]})") from e
    channels = int(model.config.latent_channels)
    scale, shift = float(model.config.scaling_factor), float(getattr(model.config, "shift_factor", None) or 0.0)
    if family == "auto":
        fam = family_from_numbers(channels, scale, shift)
        if fam is None:
            raise VAELoadError(
                f"{config_file}: {channels} latent channels with scaling_factor {scale:g} and shift_factor {shift:g} "
                f"fit none of the families {FAMILIES}; choose the family"
            )
        # auto keeps the folder's own numbers (a fine-tune may ship others); a chosen family sets them.
        numbers = (scale, shift)
    elif FAMILY_NUMBERS[family][0] != channels:
        raise VAELoadError(f"{config_file}: the VAE has {channels} latent channels, a {FAMILY_LABELS[family]} VAE {FAMILY_NUMBERS[family][0]}")
    else:
        fam, numbers = family, None
    return _kl_backend(model, fam, posterior, seed, device, f"AutoencoderKL {FAMILY_LABELS[fam]} (diffusers folder {folder.name})", numbers)

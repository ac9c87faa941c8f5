"""Real VAEs from local files, offline and without running code from the files (spec §8).

Supported, detected from the path and the weights' keys:

- a diffusers ``AutoencoderKL`` or ``AutoencoderTiny`` folder (``config.json``; a pipeline folder
  with a ``vae/`` subfolder works too);
- a single-file VAE as the webui uses them (``.safetensors``, or ``.pt``/``.ckpt``/``.bin`` that
  ``torch.load(weights_only=True)`` accepts), in the original LDM layout or diffusers' layout, or
  a full SD checkpoint (its ``first_stage_model.`` part);
- TAESD / TAESDXL as the original ``taesd_encoder`` + ``taesd_decoder`` weight files.

Every config a loader needs ships in ``inpaint_init/configs``; nothing asks a model hub.
diffusers is imported only when a real VAE is loaded (it takes seconds).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import pickle
import re
import tempfile
from pathlib import Path
from typing import Literal

import torch

from ._deps import diffusers
from .vae import default_device

__all__ = ["VAELoadError", "DiffusersKLVAE", "TinyVAE", "load_vae", "read_state_dict", "POSTERIOR_CHOICES"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SCALING = {"sd1": 0.18215, "sdxl": 0.13025}
FAMILY_LABELS = {"sd1": "SD1.x/2.x", "sdxl": "SDXL"}
POSTERIOR_CHOICES = ("sample", "mean")
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin"}

Family = Literal["auto", "sd1", "sdxl"]
_TOKENS = itertools.count()


class VAELoadError(ValueError):
    """A VAE could not be loaded; the message names the file and what was expected."""


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
    ``"mean"`` returns the posterior mean. Latents are scaled by the model's scaling factor.
    """

    deterministic = True

    def __init__(self, model, *, scaling_factor: float, posterior: str = "sample", seed: int = 0, device=None, description: str = ""):
        if posterior not in POSTERIOR_CHOICES:
            raise ValueError(f"posterior must be one of {POSTERIOR_CHOICES}, got {posterior!r}")
        force_upcast = bool(getattr(model.config, "force_upcast", False))
        self.device, self.dtype = _device_dtype(device, force_upcast)
        self.model = _place(model, self.device, self.dtype)
        self.scaling_factor = float(scaling_factor)
        self.shift_factor = float(getattr(model.config, "shift_factor", None) or 0.0)
        self.latent_channels = int(model.config.latent_channels)
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
        return ("kl", self.token, self.posterior, self.seed, self.scaling_factor, str(self.dtype))

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
        return f"{self.description} · scaling {self.scaling_factor:g} · {post} · {self.device.type} {str(self.dtype).replace('torch.', '')}"

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

    def __init__(self, model, *, device=None, description: str = ""):
        self.device, self.dtype = _device_dtype(device, force_upcast=False)
        self.model = _place(model, self.device, self.dtype)
        self.latent_channels = int(model.config.latent_channels)
        self.name = f"{description or 'TAESD'} · {self.device.type} {str(self.dtype).replace('torch.', '')}"

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode(x.to(self.device, self.dtype)).latents.float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z.to(self.device, self.dtype)).sample.float().clamp(-1, 1)


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a weights file, never executing code from it.

    ``.safetensors`` through safetensors; pickles only through ``torch.load(weights_only=True)``,
    which refuses anything but tensors and plain containers.
    """
    _require_regular_file(path)
    size = path.stat().st_size
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        _check_safetensors_header(path, size)
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
                return {k: f.get_tensor(k) for k in f.keys()}, metadata
        except (SafetensorError, OSError, ValueError) as e:
            raise VAELoadError(f"{path} is not a readable .safetensors file ({size} bytes; truncated or corrupt?): {e}") from e
    if path.suffix in PICKLE_SUFFIXES:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise VAELoadError(
                f"refused {path}: this pickle needs more than tensors to load, and loading it could run code "
                f"from the file. Convert it to .safetensors (or re-save only its state dict). Detail: {str(e).splitlines()[0]}"
            ) from e
        except (RuntimeError, EOFError, OSError, ValueError) as e:
            raise VAELoadError(f"{path} could not be read as PyTorch weights ({size} bytes; truncated or corrupt?): {e}") from e
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise VAELoadError(f"{path} holds no state dict of tensors (found {type(obj).__name__})")
        return obj, {}
    raise VAELoadError(f"{path}: unsupported file type {path.suffix!r}; expected .safetensors, .pt, .pth, .ckpt or .bin")


#: Bounds on what a VAE file may ask for, checked before anything is allocated: the largest real
#: SD/SDXL VAE is 512 channels wide with 4 levels and 2 blocks each.
MAX_WIDTH = 2048
MAX_LEVELS = 8
MAX_BLOCKS = 8
MAX_TENSOR_DIM = 65536
MAX_TENSOR_ELEMENTS = 2**28
MAX_HEADER_BYTES = 100 * 2**20


def _require_regular_file(path: Path) -> None:
    """Only regular files are read: a named pipe or a device would block or never end."""
    if not path.is_file():
        raise VAELoadError(f"{path} is not a regular file (a pipe, device or socket is never read)")


def _check_safetensors_header(path: Path, size: int) -> None:
    """Refuse a .safetensors file whose header asks for absurd tensors, before reading any."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > min(MAX_HEADER_BYTES, size - 8):
                raise VAELoadError(f"{path} is not a readable .safetensors file ({size} bytes; its header length {n} is impossible)")
            header = json.loads(f.read(n).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise VAELoadError(f"{path} is not a readable .safetensors file ({size} bytes; header unreadable: {e})") from e
    if not isinstance(header, dict):
        raise VAELoadError(f"{path} is not a readable .safetensors file (its header is not a JSON object)")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise VAELoadError(f"{path}: tensor {name!r} has no valid shape in the header")
        if any(d > MAX_TENSOR_DIM for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
            raise VAELoadError(f"{path}: tensor {name!r} has shape {shape}, far larger than any VAE's; refused")


def _check_widths(path, widths, blocks: int, latent: int) -> None:
    if not widths or len(widths) > MAX_LEVELS or any(not 1 <= w <= MAX_WIDTH for w in widths):
        raise VAELoadError(f"{path}: the weights ask for levels of widths {widths}; a VAE has 1–{MAX_LEVELS} levels of at most {MAX_WIDTH} channels")
    if not 1 <= blocks <= MAX_BLOCKS or not 1 <= latent <= 64:
        raise VAELoadError(f"{path}: {blocks} blocks per level and {latent} latent channels are not a VAE's")


def _strip_prefix(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """The VAE part of a state dict: a full SD checkpoint keeps it under ``first_stage_model.``."""
    for prefix in ("first_stage_model.", "vae."):
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, prefix
    return state, ""


def _layout(state: dict[str, torch.Tensor]) -> str:
    if "encoder.conv_in.weight" in state and "decoder.conv_in.weight" in state:
        return "ldm" if any(k.startswith("encoder.down.") for k in state) else "diffusers-kl"
    if "encoder.layers.0.weight" in state and "decoder.layers.0.weight" in state:
        return "diffusers-tiny"
    return "unknown"


def _kl_config(state: dict[str, torch.Tensor], layout: str, family: str, path: Path | None = None) -> dict:
    """The shipped config of ``family`` with the widths, depth and latent channels of ``state``."""
    try:
        return _kl_config_unchecked(state, layout, family, path)
    except VAELoadError:
        raise
    except (KeyError, IndexError, ValueError) as e:
        raise VAELoadError(f"{path}: incomplete VAE weights (missing or malformed {e}); is the file complete?") from e


def _kl_config_unchecked(state, layout: str, family: str, path) -> dict:
    config = json.loads((CONFIG_DIR / f"{family}_vae.json").read_text())
    if layout == "ldm":
        levels = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
        widths = [state[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] for i in levels]
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))}
        use_quant = "quant_conv.weight" in state
    else:
        levels = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.down_blocks\.(\d+)\.", k))})
        widths = [state[f"encoder.down_blocks.{i}.resnets.0.conv1.weight"].shape[0] for i in levels]
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.down_blocks\.0\.resnets\.(\d+)\.", k))}
        use_quant = "quant_conv.weight" in state
    latent = state["encoder.conv_out.weight"].shape[0] // 2
    _check_widths(path, [int(w) for w in widths], len(blocks), int(latent))
    config.update(
        block_out_channels=widths,
        down_block_types=["DownEncoderBlock2D"] * len(widths),
        up_block_types=["UpDecoderBlock2D"] * len(widths),
        layers_per_block=len(blocks),
        latent_channels=latent,
        use_quant_conv=use_quant,
        use_post_quant_conv="post_quant_conv.weight" in state,
    )
    return config


def _detect_family(path: Path, state_keys, metadata: dict[str, str], family: Family) -> tuple[str, str]:
    """(family, how it was decided). SD1.x/2.x and SDXL VAEs have the same shapes, so the
    decision comes from metadata, the rest of a full checkpoint, or the file name."""
    if family != "auto":
        return family, "as chosen"
    arch = metadata.get("modelspec.architecture", "")
    if arch:
        return ("sdxl" if "xl" in arch.lower() else "sd1"), f"from the file's metadata ({arch})"
    if any(k.startswith("conditioner.embedders.1") for k in state_keys):
        return "sdxl", "from the SDXL text encoders in the checkpoint"
    if any(k.startswith("cond_stage_model.") for k in state_keys):
        return "sd1", "from the SD1.x/2.x text encoder in the checkpoint"
    if re.search(r"xl", path.name, re.IGNORECASE):
        return "sdxl", "from the file name (contains 'xl'); choose SD1.x/2.x if that is wrong"
    return "sd1", "assumed (SD1.x/2.x and SDXL VAEs have the same shapes); choose SDXL if this is an SDXL VAE"


def _load_single_file(path: Path, family: Family, posterior: str, seed: int, device):
    raw, metadata = read_state_dict(path)
    state, prefix = _strip_prefix(raw)
    layout = _layout(state)
    if layout == "unknown":
        sample = ", ".join(list(raw)[:3])
        raise VAELoadError(
            f"{path} does not hold VAE weights: expected keys such as 'encoder.conv_in.weight' and "
            f"'decoder.conv_in.weight' (or 'first_stage_model.' ones in a full checkpoint); found e.g. {sample}"
        )
    if layout == "diffusers-tiny":
        return _tiny_from_state(state, path, device, f"TAESD from {path.name}")
    fam, how = _detect_family(path, raw.keys(), metadata, family)
    config = _kl_config(state, layout, fam, path)
    AutoencoderKL = diffusers().AutoencoderKL

    where = f"{path.name}" + (f" ({prefix[:-1]} of a full checkpoint)" if prefix else "")
    try:
        if layout == "ldm":
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "config.json").write_text(json.dumps(config))
                model = AutoencoderKL.from_single_file(state, config=tmp, local_files_only=True)
        else:
            model = AutoencoderKL.from_config(config)
            model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, OSError) as e:
        raise VAELoadError(f"{path}: the weights do not fit an AutoencoderKL ({type(e).__name__}: {str(e)[:300]})") from e
    desc = f"AutoencoderKL {FAMILY_LABELS[fam]} ({how}) from {where}, {'original LDM' if layout == 'ldm' else 'diffusers'} keys"
    return DiffusersKLVAE(model, scaling_factor=SCALING[fam], posterior=posterior, seed=seed, device=device, description=desc)


def _tiny_from_state(state, path: Path, device, desc: str) -> TinyVAE:
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
    return TinyVAE(model, device=device, description=desc)


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
                _require_regular_file(enc)
                _require_regular_file(dec)
                return enc, dec
            raise VAELoadError(f"found the TAESD encoder {enc} but not its decoder {dec}")
    return None


def _load_taesd_pair(enc_path: Path, dec_path: Path, device) -> TinyVAE:
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
    return _tiny_from_state(state, enc_path, device, f"{kind} from {enc_path.name} + {dec_path.name}")


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
        family: "sd1" (SD1.x/2.x, scaling 0.18215), "sdxl" (0.13025) or "auto". The two VAEs
            have the same shapes; auto decides from metadata, a full checkpoint's other parts,
            or the file name, and the backend's ``name`` says which and why.
        posterior: "sample" (the webui's choice, drawn with ``seed``) or "mean".
        device: default CUDA when available, else CPU; fp16 on CUDA only.

    Raises:
        VAELoadError: the path is missing, unreadable, refused (an unsafe pickle) or not a VAE.
    """
    if family not in ("auto", "sd1", "sdxl"):
        raise VAELoadError(f"family must be 'auto', 'sd1' or 'sdxl', got {family!r}")
    p = Path(path).expanduser()
    if not p.exists():
        raise VAELoadError(f"{p} does not exist")
    if not p.is_dir():
        _require_regular_file(p)
    if p.is_dir():
        folder = p / "vae" if (p / "vae" / "config.json").exists() and not (p / "config.json").exists() else p
        config_file = folder / "config.json"
        if config_file.exists():
            return _load_diffusers_folder(folder, config_file, family, posterior, seed, device)
        pair = _find_taesd_pair(p)
        if pair:
            return _load_taesd_pair(*pair, device)
        raise VAELoadError(
            f"{p} is a folder without config.json (a diffusers VAE) or *_encoder/*_decoder files (TAESD)"
        )
    pair = _find_taesd_pair(p)
    if pair:
        return _load_taesd_pair(*pair, device)
    return _load_single_file(p, family, posterior, seed, device)


def _load_diffusers_folder(folder: Path, config_file: Path, family: Family, posterior: str, seed: int, device):
    _require_regular_file(config_file)
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
        _check_widths(config_file, widths, blocks, latent)
    d = diffusers()
    AutoencoderKL, AutoencoderTiny = d.AutoencoderKL, d.AutoencoderTiny

    try:
        if cls == "AutoencoderTiny":
            model = AutoencoderTiny.from_pretrained(str(folder), local_files_only=True)
            return TinyVAE(model, device=device, description=f"TAESD (AutoencoderTiny folder {folder.name})")
        if cls == "AutoencoderKL":
            model = AutoencoderKL.from_pretrained(str(folder), local_files_only=True)
        else:
            raise VAELoadError(f"{config_file} describes a {cls!r}; expected AutoencoderKL or AutoencoderTiny")
    except (OSError, RuntimeError, ValueError, EnvironmentError) as e:
        if isinstance(e, VAELoadError):
            raise
        raise VAELoadError(f"{folder}: could not load the {cls} weights ({type(e).__name__}: {str(e)[:300]})") from e
    scaling = float(model.config.scaling_factor)
    fam = family if family != "auto" else ("sdxl" if abs(scaling - SCALING["sdxl"]) < 1e-6 else "sd1")
    if family != "auto":
        scaling = SCALING[family]
    desc = f"AutoencoderKL {FAMILY_LABELS[fam]} (diffusers folder {folder.name})"
    return DiffusersKLVAE(model, scaling_factor=scaling, posterior=posterior, seed=seed, device=device, description=desc)

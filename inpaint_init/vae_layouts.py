"""Reading single-file VAE weights safely and working out what they are (spec §8, forge.md §4).

- :func:`read_state_dict`: tensors and metadata of a ``.safetensors`` (also BFL's ``.sft``) or a
  pickle that ``torch.load(weights_only=True)`` accepts; only regular files, safetensors headers
  checked against :data:`MAX_TENSOR_DIM`/:data:`MAX_TENSOR_ELEMENTS` before any tensor is read.
- :func:`strip_prefix`: the VAE part of a full checkpoint (``first_stage_model.`` in SD1/SDXL/SD3
  checkpoints, ``vae.`` in ComfyUI-saved ones such as Flux all-in-one files).
- :func:`layout`: original LDM/BFL keys (``encoder.down.N.block.M``: the webui's VAE files and
  Flux's ``ae.safetensors``), diffusers keys, or TAESD.
- :func:`kl_config`: the shipped family config with the widths, depth and latent channels read
  off the weights (bounded by :data:`MAX_WIDTH` and friends).
- :func:`detect_family`: which of the four families a file is, and how that was decided.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path

import torch

from .vae import FAMILIES, FAMILY_LABELS, FAMILY_NUMBERS

__all__ = ["VAELoadError", "CONFIG_DIR", "read_state_dict", "require_regular_file", "strip_prefix", "layout", "kl_config", "check_widths", "detect_family", "latent_channels_of"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin"}
#: ``.sft`` is the suffix of Black Forest Labs' first Flux release (``ae.sft``): a safetensors file.
SAFETENSORS_SUFFIXES = {".safetensors", ".sft"}

#: Bounds on what a VAE file may ask for, checked before anything is allocated: the largest real
#: SD/SDXL/SD3/Flux VAE is 512 channels wide with 4 levels and 2 blocks each.
MAX_WIDTH = 2048
MAX_LEVELS = 8
MAX_BLOCKS = 8
MAX_TENSOR_DIM = 65536
MAX_TENSOR_ELEMENTS = 2**28
MAX_HEADER_BYTES = 100 * 2**20


class VAELoadError(ValueError):
    """A VAE could not be loaded; the message names the file and what was expected."""


def require_regular_file(path: Path) -> None:
    """Only regular files are read: a named pipe or a device would block or never end."""
    if not path.is_file():
        raise VAELoadError(f"{path} is not a regular file (a pipe, device or socket is never read)")


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a weights file, never executing code from it.

    Safetensors through safetensors; pickles only through ``torch.load(weights_only=True)``,
    which refuses anything but tensors and plain containers.
    """
    require_regular_file(path)
    size = path.stat().st_size
    if path.suffix in SAFETENSORS_SUFFIXES:
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
    raise VAELoadError(f"{path}: unsupported file type {path.suffix!r}; expected .safetensors (.sft), .pt, .pth, .ckpt or .bin")


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


def check_widths(path, widths, blocks: int, latent: int) -> None:
    """Refuse architectures no real VAE has (before a model of that size is built)."""
    if not widths or len(widths) > MAX_LEVELS or any(not 1 <= w <= MAX_WIDTH for w in widths):
        raise VAELoadError(f"{path}: the weights ask for levels of widths {widths}; a VAE has 1–{MAX_LEVELS} levels of at most {MAX_WIDTH} channels")
    if not 1 <= blocks <= MAX_BLOCKS or not 1 <= latent <= 64:
        raise VAELoadError(f"{path}: {blocks} blocks per level and {latent} latent channels are not a VAE's")


def strip_prefix(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """The VAE part of a state dict: a full checkpoint keeps it under ``first_stage_model.``
    (SD1/SDXL/SD3) or ``vae.`` (ComfyUI-saved checkpoints, e.g. Flux all-in-one files)."""
    for prefix in ("first_stage_model.", "vae."):
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, prefix
    return state, ""


def layout(state: dict[str, torch.Tensor]) -> str:
    """"ldm" (original LDM keys; BFL's Flux ``ae.safetensors`` uses them too), "diffusers-kl",
    "diffusers-tiny" or "unknown"."""
    if "encoder.conv_in.weight" in state and "decoder.conv_in.weight" in state:
        return "ldm" if any(k.startswith("encoder.down.") for k in state) else "diffusers-kl"
    if "encoder.layers.0.weight" in state and "decoder.layers.0.weight" in state:
        return "diffusers-tiny"
    return "unknown"


def latent_channels_of(state: dict[str, torch.Tensor], path=None) -> int:
    """Latent channels of KL weights: the encoder's last convolution outputs mean and log-variance."""
    try:
        return int(state["encoder.conv_out.weight"].shape[0]) // 2
    except (KeyError, IndexError) as e:
        raise VAELoadError(f"{path}: incomplete VAE weights (missing or malformed {e}); is the file complete?") from e


def kl_config(state: dict[str, torch.Tensor], layout_name: str, family: str, path: Path | None = None) -> dict:
    """The shipped config of ``family`` with the widths, depth and latent channels of ``state``."""
    try:
        return _kl_config_unchecked(state, layout_name, family, path)
    except VAELoadError:
        raise
    except (KeyError, IndexError, ValueError) as e:
        raise VAELoadError(f"{path}: incomplete VAE weights (missing or malformed {e}); is the file complete?") from e


def _kl_config_unchecked(state, layout_name: str, family: str, path) -> dict:
    config = json.loads((CONFIG_DIR / f"{family}_vae.json").read_text())
    if layout_name == "ldm":
        levels = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
        widths = [state[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] for i in levels]
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))}
    else:
        levels = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.down_blocks\.(\d+)\.", k))})
        widths = [state[f"encoder.down_blocks.{i}.resnets.0.conv1.weight"].shape[0] for i in levels]
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.down_blocks\.0\.resnets\.(\d+)\.", k))}
    latent = latent_channels_of(state, path)
    check_widths(path, [int(w) for w in widths], len(blocks), int(latent))
    config.update(
        block_out_channels=widths,
        down_block_types=["DownEncoderBlock2D"] * len(widths),
        up_block_types=["UpDecoderBlock2D"] * len(widths),
        layers_per_block=len(blocks),
        latent_channels=latent,
        # SD1/SDXL VAEs have the 1×1 quant convolutions, SD3's and Flux's do not: follow the weights.
        use_quant_conv="quant_conv.weight" in state,
        use_post_quant_conv="post_quant_conv.weight" in state,
    )
    return config


def detect_family(path: Path, state_keys, metadata: dict[str, str], family: str, channels: int) -> tuple[str, str]:
    """(family, how it was decided) for KL weights with ``channels`` latent channels.

    An explicit ``family`` must have that channel count. "auto": 4 channels are SD1.x/2.x or
    SDXL (same shapes), 16 are SD3 or Flux (same shapes too); the choice comes from the file's
    metadata, the rest of a full checkpoint, or the file name, else an assumption the
    description says. Other channel counts belong to no family: VAELoadError.
    """
    if family != "auto":
        if FAMILY_NUMBERS[family][0] != channels:
            raise VAELoadError(
                f"{path}: the weights have {channels} latent channels, but a {FAMILY_LABELS[family]} VAE has "
                f"{FAMILY_NUMBERS[family][0]}; choose the family that matches the file"
            )
        return family, "as chosen"
    if channels == 4:
        return _detect_4(path, state_keys, metadata)
    if channels == 16:
        return _detect_16(path, state_keys, metadata)
    raise VAELoadError(f"{path}: {channels} latent channels fit none of the families {FAMILIES} (4 or 16 channels)")


def _detect_4(path: Path, state_keys, metadata) -> tuple[str, str]:
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


def _detect_16(path: Path, state_keys, metadata) -> tuple[str, str]:
    arch = metadata.get("modelspec.architecture", "").lower()
    if "flux" in arch:
        return "flux", f"from the file's metadata ({arch})"
    if "v3" in arch or "sd3" in arch or "stable-diffusion-3" in arch:
        return "sd3", f"from the file's metadata ({arch})"
    if any(k.startswith("model.diffusion_model.joint_blocks.") for k in state_keys):
        return "sd3", "from the SD3 transformer (joint blocks) in the checkpoint"
    if any(k.startswith("model.diffusion_model.double_blocks.") for k in state_keys):
        return "flux", "from the Flux transformer (double blocks) in the checkpoint"
    name = path.name.lower()
    if re.search(r"sd3|sd_3|stable[-_]?diffusion[-_]?3", name):
        return "sd3", "from the file name (contains 'sd3'); choose Flux if that is wrong"
    if "flux" in name or path.stem.lower() == "ae":
        return "flux", "from the file name (Flux's VAE is ae.safetensors); choose SD3 if that is wrong"
    return "flux", "assumed (SD3 and Flux VAEs have the same shapes); choose SD3 if this is an SD3 VAE"

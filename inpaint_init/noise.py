"""The webui's random sources and which noise goes where (spec §11).

Three sources, the webui's option ``randn_source``:

- ``"GPU"`` (the webui's default): ``torch.randn`` on the compute device. On an NVIDIA GPU that
  is CUDA's Philox generator. Where CUDA is present we draw on the device itself; without CUDA
  we use :class:`NVGenerator`'s Philox stream, which is what CUDA computes up to float32
  rounding: the spec (§11) measured the webui's NV numbers 1–3 float32 ulps (~2e-7) away from
  CUDA's, never bit-equal. :func:`describe_source` says which applies.
- ``"CPU"``: torch's CPU generator (mt19937) after ``manual_seed``, identical on every machine.
- ``"NV"``: the webui's own numpy imitation of CUDA's Philox, identical on every machine;
  :class:`NVGenerator` reimplements it from the spec, bit for bit (tests/test_noise.py checks
  the spec's values).

:func:`image_rng_first` is the first draw of the webui's per-batch ``ImageRNG``: variation seed
(slerp), seed resize (centre paste). The latent-noise fill uses only plain first draws of the
seeds (:func:`first_draws`); the sampler's start uses the full ``ImageRNG``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .cache import stage

__all__ = [
    "RANDN_SOURCES",
    "SEED_MAX",
    "seed_in_range",
    "NVGenerator",
    "philox4x32_10",
    "first_draw",
    "first_draws",
    "image_rng_first",
    "slerp",
    "describe_source",
    "cuda_available",
]

RANDN_SOURCES = ("GPU", "CPU", "NV")
#: torch.manual_seed takes 64-bit seeds (signed or unsigned); the NV generator keys on the seed
#: as a uint64.
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1


def seed_in_range(seed: int) -> bool:
    """Whether ``torch.manual_seed`` (and so the webui) accepts ``seed``."""
    return SEED_MIN <= seed <= SEED_MAX

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LO = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def philox4x32_10(counter: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32 with 10 rounds (Salmon et al., Random123).

    Args:
        counter: uint32 array of shape 4×N (the four counter words of N independent blocks).
        key: the two 32-bit key words ``(k0, k1)``.

    Returns:
        uint32 array 4×N, the generator's output words.

    >>> out = philox4x32_10(np.zeros((4, 1), np.uint32), (0, 0))
    >>> [f"{int(v):08x}" for v in out[:, 0]]
    ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']
    """
    c = counter.astype(np.uint64)
    k0, k1 = key[0] & 0xFFFFFFFF, key[1] & 0xFFFFFFFF
    for r in range(10):
        p0 = c[0] * _M0
        p1 = c[2] * _M1
        c = np.stack(
            [
                (p1 >> _32) ^ c[1] ^ np.uint64(k0),
                p1 & _LO,
                (p0 >> _32) ^ c[3] ^ np.uint64(k1),
                p0 & _LO,
            ]
        )
        if r < 9:
            k0 = (k0 + _W0) & 0xFFFFFFFF
            k1 = (k1 + _W1) & 0xFFFFFFFF
    return c.astype(np.uint32)


# numpy's float32 rounding of the webui's constants; the arithmetic itself runs in float64
# because numpy promotes a uint32 array times a float32 value to float64.
_A = np.float64(np.float32(2.3283064e-10))
_B = np.float64(np.float32(2.3283064e-10 * 6.2831855))


def _box_muller(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    u = x.astype(np.float64) * _A + _A / 2
    v = y.astype(np.float64) * _B + _B / 2
    return (np.sqrt(-2.0 * np.log(u)) * np.sin(v)).astype(np.float32)


class NVGenerator:
    """The webui's "NV" generator: Philox4x32-10 counters ``(offset, 0, i, 0)`` keyed by the
    seed, Box–Muller on the first two words; ``offset`` grows by one per call.

    >>> g = NVGenerator(0)
    >>> [round(float(v), 6) for v in g.randn((2,))]
    [-0.924662, -0.425344]
    """

    def __init__(self, seed: int):
        seed = int(seed) % 2**64  # the webui keys on the seed as a uint64
        self.key = (seed & 0xFFFFFFFF, seed >> 32)
        self.offset = 0

    def randn(self, shape: Sequence[int]) -> np.ndarray:
        """``prod(shape)`` standard normal float32 values in C order."""
        n = int(np.prod(shape, dtype=np.int64))
        counter = np.zeros((4, n), np.uint32)
        counter[0] = self.offset
        counter[2] = np.arange(n, dtype=np.uint32)
        out = philox4x32_10(counter, self.key)
        self.offset += 1
        return _box_muller(out[0], out[1]).reshape(tuple(shape))


def cuda_available() -> bool:
    return torch.cuda.is_available()


def describe_source(source: str) -> str:
    """One line for the app and the report: what ``source`` draws here, and how exactly that is
    what the webui draws."""
    if source == "CPU":
        return "CPU: torch's CPU generator (mt19937), bit-identical to the webui's on every machine."
    if source == "NV":
        return "NV: the webui's own Philox generator, reimplemented; bit-identical on every machine."
    if cuda_available():
        return "GPU: drawn with torch on this machine's CUDA device, as the webui does on an NVIDIA GPU."
    return (
        "GPU: no CUDA here, so drawn from the same Philox stream as NV; an NVIDIA GPU's own numbers "
        "differ from these by a few float32 ulps (~2e-7), never more."
    )


def first_draw(seed: int, shape: Sequence[int], source: str = "GPU") -> torch.Tensor:
    """The first ``randn(shape)`` of a generator freshly seeded with ``seed``, as a float32 CPU
    tensor. The global torch RNG is left untouched (the webui reseeds it as a side effect; we
    keep the caller's randomness instead)."""
    shape = tuple(int(s) for s in shape)
    seed = int(seed)
    if source == "CPU":
        g = torch.Generator(device="cpu")
        g.manual_seed(seed % 2**64)
        return torch.randn(shape, generator=g)
    if source == "GPU" and cuda_available():
        g = torch.Generator(device="cuda")
        g.manual_seed(seed % 2**64)
        return torch.randn(shape, generator=g, device="cuda").cpu()
    if source in ("NV", "GPU"):
        return torch.from_numpy(NVGenerator(seed).randn(shape))
    raise ValueError(f"randn_source must be one of {RANDN_SOURCES}, got {source!r}")


def first_draws(shape: Sequence[int], seeds: Sequence[int], source: str = "GPU") -> torch.Tensor:
    """B×shape: the first draw of each seed. This is the latent-noise fill's noise (§9, §11):
    its own ``ImageRNG`` over the latent shape with the batch's seeds and nothing else."""
    return torch.stack([first_draw(s, shape, source) for s in seeds])


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """The webui's variation-seed blend of two C×h×w noises.

    Each (channel, column) vector along the height axis is interpolated on the sphere: with
    ``dot`` the cosine between matching columns, ``low·sin((1−s)ω)/sin ω + high·sin(sω)/sin ω``,
    ``ω = acos(dot)``. When the mean cosine exceeds 0.9995 (nearly equal noises) the webui
    falls back to ``low·s + high·(1−s)`` — weights reversed, as it does.
    """
    low_n = low / torch.norm(low, dim=1, keepdim=True)
    high_n = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_n * high_n).sum(1)
    if dot.mean() > 0.9995:
        return low * strength + high * (1 - strength)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - strength) * omega) / so).unsqueeze(1) * low + (torch.sin(strength * omega) / so).unsqueeze(1) * high


def image_rng_first(
    shape: Sequence[int],
    seeds: Sequence[int],
    subseeds: Sequence[int] = (),
    subseed_strength: float = 0.0,
    seed_resize_from_h: int = 0,
    seed_resize_from_w: int = 0,
    source: str = "GPU",
) -> torch.Tensor:
    """B×C×h×w: the first ``next()`` of the webui's ``ImageRNG`` for one batch (§11).

    ``shape`` is (C, H//8, W//8). Per image i: the subseed's noise (when ``subseed_strength``
    is not 0; a missing subseed counts as 0), the seed's noise at the "Seed resize from" size
    when both of its sides are > 0, the variation slerp, then the centre paste of that noise
    into a full-size first draw of the same seed.
    """
    shape = tuple(int(s) for s in shape)
    resize = seed_resize_from_h > 0 and seed_resize_from_w > 0
    noise_shape = (shape[0], seed_resize_from_h // 8, seed_resize_from_w // 8) if resize else shape
    out = []
    for i, seed in enumerate(seeds):
        subnoise = None
        if subseeds and subseed_strength != 0:
            subseed = subseeds[i] if i < len(subseeds) else 0
            subnoise = first_draw(subseed, noise_shape, source)
        noise = first_draw(seed, noise_shape, source)
        if subnoise is not None:
            noise = slerp(subseed_strength, noise, subnoise)
        if noise_shape != shape:
            x = first_draw(seed, shape, source)
            noise = _centre_paste(x, noise)
        out.append(noise)
    return torch.stack(out)


def _centre_paste(x: torch.Tensor, small: torch.Tensor) -> torch.Tensor:
    """``small`` centred into ``x`` (both C×h×w): where it is larger, its centre is cut out;
    Python's floor division decides the odd pixel, as in the webui."""
    H, W = x.shape[-2:]
    h, w = small.shape[-2:]
    dx, dy = (W - w) // 2, (H - h) // 2
    w = w if dx >= 0 else w + 2 * dx
    h = h if dy >= 0 else h + 2 * dy
    tx, ty, sx, sy = max(dx, 0), max(dy, 0), max(-dx, 0), max(-dy, 0)
    x = x.clone()
    x[:, ty : ty + h, tx : tx + w] = small[:, sy : sy + h, sx : sx + w]
    return x


# ----------------------------------------------------------------------------- stage (§11)
@stage("noise", returns="start_noise")
def start_noise_stage(noise_seeds, subseeds, subseed_strength, seed_resize_from_h, seed_resize_from_w, latent_shape, randn_source, noise_device) -> torch.Tensor:
    """§11: the sampler's first noise, B×C×h×w: the batch's ImageRNG with the variation seed and
    the seed resize (``noise_device``: which generator "GPU" means here; part of the key)."""
    return image_rng_first(latent_shape, noise_seeds, subseeds, subseed_strength, seed_resize_from_h, seed_resize_from_w, randn_source)


def job_seeds(seed: int, subseed: int, subseed_strength: float, batch_size: int, seeds=None) -> tuple[list[int], list[int], list[str]]:
    """(all_seeds, all_subseeds, notes) of the first batch, as the webui derives them (§11): -1
    picks a random seed once per job; the batch counts up from the seed, except that with a
    variation strength every image keeps the seed itself; subseeds always count up."""
    import random

    from .errors import InitError

    notes = []
    if seeds is None:
        base = int(seed)
        if base == -1:
            base = random.randrange(4294967294)
            notes.append(f"Seed -1: picked {base} at random (the webui does the same).")
        seeds = [base] * batch_size if subseed_strength != 0 else [base + i for i in range(batch_size)]
    try:
        seeds = [int(s) for s in seeds][:batch_size]
    except (TypeError, ValueError) as e:
        raise InitError(f"seeds must be whole numbers ({e})") from e
    if len(seeds) < batch_size:
        raise InitError(f"{len(seeds)} seeds given for a batch of {batch_size}")
    sub = int(subseed)
    if sub == -1:
        sub = random.randrange(4294967294)
        if subseed_strength != 0:
            notes.append(f"Variation seed -1: picked {sub} at random (the webui does the same).")
    subseeds = [sub + i for i in range(batch_size)]
    # The batch counts up from the seeds: the last ones can leave what torch accepts.
    if not all(map(seed_in_range, seeds + subseeds)):
        raise InitError("a seed of the batch is outside what torch.manual_seed accepts (-2^63 … 2^64-1); the webui fails on it too")
    return seeds, subseeds, notes

"""Tiny random-weight VAEs saved in every layout users have on disk.

The original-layout writers are written from the original projects' module structure (LDM's
``Encoder``/``Decoder`` naming, TAESD's ``nn.Sequential`` indices), not from our loader, so a
round trip through the loader checks both against each other and against diffusers' converter.
"""

from __future__ import annotations

import re

import torch
from torch import nn

# Four levels like the real SD VAE (so latents are 1/8 of the image), but 32 channels wide.
TINY_KL = dict(
    block_out_channels=(32, 32, 32, 32),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=64,
)


def tiny_kl(seed: int = 0, **overrides):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(**(TINY_KL | overrides)).eval()


def kl_to_ldm(state: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """diffusers AutoencoderKL keys → the original LDM (CompVis) VAE keys, as in webui VAE files."""
    out = {}
    for key, value in state.items():
        k = key
        k = k.replace("conv_shortcut", "nin_shortcut")
        k = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)", r"encoder.down.\1.block.\2", k)
        k = re.sub(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0", r"encoder.down.\1.downsample", k)

        def up(m):
            return f"decoder.up.{levels - 1 - int(m.group(1))}"

        k = re.sub(r"decoder\.up_blocks\.(\d+)", up, k)
        k = re.sub(r"(decoder\.up\.\d+)\.resnets\.(\d+)", r"\1.block.\2", k)
        k = re.sub(r"(decoder\.up\.\d+)\.upsamplers\.0", r"\1.upsample", k)
        k = re.sub(r"mid_block\.resnets\.(\d+)", lambda m: f"mid.block_{int(m.group(1)) + 1}", k)
        attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
        m = re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(weight|bias)", k)
        if m:
            k = f"{m.group(1)}.mid.attn_1.{attn[m.group(2)]}.{m.group(3)}"
            if m.group(2) != "group_norm" and m.group(3) == "weight":
                value = value[:, :, None, None]  # LDM attention uses 1×1 convolutions
        out[k] = value.clone()
    return out


# --- TAESD, as in the original project (madebyollin/taesd, MIT): the module structure that
# decides the state-dict keys of taesd_encoder.pth / taesd_decoder.pth.


def _conv(n_in, n_out, **kw):
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kw)


class _Clamp(nn.Module):
    def forward(self, x):
        return torch.tanh(x / 3) * 3


class _Block(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.conv = nn.Sequential(_conv(n_in, n_out), nn.ReLU(), _conv(n_out, n_out), nn.ReLU(), _conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()

    def forward(self, x):
        return self.fuse(self.conv(x) + self.skip(x))


def taesd_encoder(latent_channels=4):
    """Input [0, 1] RGB → latent (already scaled)."""
    return nn.Sequential(
        _conv(3, 64), _Block(64, 64),
        _conv(64, 64, stride=2, bias=False), _Block(64, 64), _Block(64, 64), _Block(64, 64),
        _conv(64, 64, stride=2, bias=False), _Block(64, 64), _Block(64, 64), _Block(64, 64),
        _conv(64, 64, stride=2, bias=False), _Block(64, 64), _Block(64, 64), _Block(64, 64),
        _conv(64, latent_channels),
    )  # fmt: skip


def taesd_decoder(latent_channels=4):
    """Latent → [0, 1] RGB."""
    return nn.Sequential(
        _Clamp(), _conv(latent_channels, 64), nn.ReLU(),
        _Block(64, 64), _Block(64, 64), _Block(64, 64), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        _Block(64, 64), _Block(64, 64), _Block(64, 64), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        _Block(64, 64), _Block(64, 64), _Block(64, 64), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        _Block(64, 64), _conv(64, 3),
    )  # fmt: skip


def random_taesd(seed: int = 0):
    torch.manual_seed(seed)
    enc, dec = taesd_encoder().eval(), taesd_decoder().eval()
    # Small weights keep activations in a sane range for a random network.
    with torch.no_grad():
        for p in list(enc.parameters()) + list(dec.parameters()):
            p.mul_(0.5)
    return enc, dec

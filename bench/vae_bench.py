"""Encode/decode time per VAE backend: python -m bench.vae_bench [--sizes 512 1024] [--repeats 3]

Real architectures with random weights (timing does not depend on the weights): the SD1.x
AutoencoderKL from the shipped config, TAESD (diffusers AutoencoderTiny defaults), and the
weightless approximation. Prints a table of median seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from inpaint_init.vae import CheapApproxVAE, default_device  # noqa: E402
from inpaint_init.vae_loaders import CONFIG_DIR, DiffusersKLVAE, TinyVAE  # noqa: E402


def backends(device):
    from diffusers import AutoencoderKL, AutoencoderTiny

    torch.manual_seed(0)
    kl = AutoencoderKL.from_config(json.loads((CONFIG_DIR / "sd1_vae.json").read_text()))
    yield "weightless approximation", CheapApproxVAE(device=device)
    yield "TAESD (AutoencoderTiny)", TinyVAE(AutoencoderTiny(), device=device, description="TAESD")
    yield "SD1.x AutoencoderKL", DiffusersKLVAE(kl, scaling_factor=0.18215, posterior="sample", device=device, description="SD1.x")


def median_time(fn, repeats):
    fn()  # warm-up (allocations, kernels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    device = torch.device(args.device) if args.device else default_device()
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} after a warm-up\n")
    print(f"| backend | size | encode s | decode s |\n|---|---:|---:|---:|")
    for name, vae in backends(device):
        for size in args.sizes:
            x = torch.rand(1, 3, size, size) * 2 - 1
            z = vae.encode(x)

            def enc():
                vae.encode(x)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            def dec():
                vae.decode(z)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            print(f"| {name} | {size}² | {median_time(enc, args.repeats):.3f} | {median_time(dec, args.repeats):.3f} |", flush=True)


if __name__ == "__main__":
    main()

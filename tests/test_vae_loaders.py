"""Real VAEs: tiny random models saved in every supported layout and loaded back offline."""


import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from inpaint_init import InitParams, run_init
from inpaint_init.vae_loaders import DiffusersKLVAE, TinyVAE, VAELoadError, load_vae
from vae_factories import kl_to_ldm, random_taesd, tiny_kl


pytestmark = pytest.mark.usefixtures("no_network")  # conftest: loopback only


@pytest.fixture(scope="module")
def kl():
    return tiny_kl(seed=3)


X = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1


def kl_mean(model, x=X):
    with torch.no_grad():
        return model.encode(x).latent_dist.mean


def test_diffusers_folder_sample_and_mean(kl, tmp_path):
    kl.save_pretrained(tmp_path / "vae")
    mean_vae = load_vae(tmp_path / "vae", posterior="mean", device="cpu")
    assert isinstance(mean_vae, DiffusersKLVAE) and mean_vae.latent_channels == 4
    z = mean_vae.encode(X)
    assert z.shape == (1, 4, 8, 8)
    assert torch.allclose(z, kl_mean(kl) * 0.18215, atol=1e-6)
    assert "SD1.x/2.x" in mean_vae.name and "posterior mean" in mean_vae.name

    sample_vae = load_vae(tmp_path / "vae", posterior="sample", seed=7, device="cpu")
    with torch.no_grad():
        dist = kl.encode(X).latent_dist
    # The webui draws ε with the global CPU RNG: equal to ours right after manual_seed(seed).
    torch.manual_seed(7)
    eps = torch.randn(dist.mean.shape)
    assert torch.allclose(sample_vae.encode(X), (dist.mean + dist.std * eps) * 0.18215, atol=1e-6)
    assert torch.equal(sample_vae.encode(X), sample_vae.encode(X))  # seeded: cacheable

    out = sample_vae.decode(sample_vae.encode(X))
    assert out.shape == (1, 3, 64, 64) and out.min() >= -1 and out.max() <= 1


def test_pipeline_folder_with_vae_subfolder(kl, tmp_path):
    kl.save_pretrained(tmp_path / "pipe" / "vae")
    assert load_vae(tmp_path / "pipe", device="cpu").latent_channels == 4


def test_single_file_original_ldm_keys(kl, tmp_path):
    f = tmp_path / "vae-ft-mse-840000-ema-pruned.safetensors"
    save_file(kl_to_ldm(kl.state_dict(), levels=4), str(f))
    vae = load_vae(f, posterior="mean", device="cpu")
    # diffusers' own converter reads our LDM-layout file back into the same weights.
    assert torch.allclose(vae.encode(X), kl_mean(kl) * 0.18215, atol=1e-6)
    assert vae.scaling_factor == 0.18215 and "assumed" in vae.name and "original LDM" in vae.name


@pytest.mark.parametrize(
    "name,metadata,family,expected,why",
    [
        ("sdxl_vae.safetensors", None, "auto", 0.13025, "file name"),
        ("vae.safetensors", {"modelspec.architecture": "stable-diffusion-xl-v1-base/vae"}, "auto", 0.13025, "metadata"),
        ("vae.safetensors", None, "sdxl", 0.13025, "as chosen"),
        ("my_sdxl_finetune.safetensors", None, "sd1", 0.18215, "as chosen"),
    ],
)
def test_single_file_family_and_scaling(kl, tmp_path, name, metadata, family, expected, why):
    f = tmp_path / name
    save_file(kl_to_ldm(kl.state_dict(), levels=4), str(f), metadata=metadata)
    vae = load_vae(f, family=family, posterior="mean", device="cpu")
    assert vae.scaling_factor == expected and why in vae.name
    assert torch.allclose(vae.encode(X), kl_mean(kl) * expected, atol=1e-6)


def test_full_checkpoint_takes_first_stage_model(kl, tmp_path):
    state = {f"first_stage_model.{k}": v for k, v in kl_to_ldm(kl.state_dict(), levels=4).items()}
    state["conditioner.embedders.1.model.dummy"] = torch.zeros(1)
    state["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(1)
    f = tmp_path / "model.safetensors"
    save_file(state, str(f))
    vae = load_vae(f, posterior="mean", device="cpu")
    assert vae.scaling_factor == 0.13025 and "full checkpoint" in vae.name
    assert torch.allclose(vae.encode(X), kl_mean(kl) * 0.13025, atol=1e-6)


def test_single_file_diffusers_keys_and_safe_pickle(kl, tmp_path):
    f = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file(kl.state_dict(), str(f))
    assert torch.allclose(load_vae(f, posterior="mean", device="cpu").encode(X), kl_mean(kl) * 0.18215, atol=1e-6)
    pt = tmp_path / "vae.pt"
    torch.save({"state_dict": kl_to_ldm(kl.state_dict(), levels=4)}, pt)
    assert torch.allclose(load_vae(pt, posterior="mean", device="cpu").encode(X), kl_mean(kl) * 0.18215, atol=1e-6)


class Evil:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_unsafe_pickle_is_refused(tmp_path, capsys):
    f = tmp_path / "vae.ckpt"
    torch.save({"state_dict": {"encoder.conv_in.weight": torch.zeros(1)}, "extra": Evil()}, f)
    with pytest.raises(VAELoadError, match="refused .*vae.ckpt"):
        load_vae(f, device="cpu")
    assert "code ran" not in capsys.readouterr().out


def test_truncated_file_names_the_file(kl, tmp_path):
    f = tmp_path / "vae.safetensors"
    save_file(kl_to_ldm(kl.state_dict(), levels=4), str(f))
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(VAELoadError, match=r"vae\.safetensors.*(truncated|corrupt)"):
        load_vae(f, device="cpu")
    pt = tmp_path / "vae.pt"
    torch.save(kl.state_dict(), pt)
    pt.write_bytes(pt.read_bytes()[:1000])
    with pytest.raises(VAELoadError, match=r"vae\.pt"):
        load_vae(pt, device="cpu")


def test_wrong_kind_of_file(tmp_path):
    f = tmp_path / "unet.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4)}, str(f))
    with pytest.raises(VAELoadError, match="does not hold VAE weights"):
        load_vae(f, device="cpu")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(VAELoadError, match="unsupported file type"):
        load_vae(txt, device="cpu")
    with pytest.raises(VAELoadError, match="does not exist"):
        load_vae(tmp_path / "missing.safetensors", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VAELoadError, match="without config.json"):
        load_vae(tmp_path / "empty", device="cpu")


def test_mismatched_weights_are_a_clear_error(kl, tmp_path):
    state = kl_to_ldm(kl.state_dict(), levels=4)
    state["decoder.conv_out.weight"] = torch.zeros(5, 5, 3, 3)
    f = tmp_path / "broken.safetensors"
    save_file(state, str(f))
    with pytest.raises(VAELoadError, match="broken.safetensors"):
        load_vae(f, device="cpu")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_original_taesd_files(tmp_path, suffix):
    enc, dec = random_taesd(seed=1)
    for part, module in (("encoder", enc), ("decoder", dec)):
        target = tmp_path / f"taesd_{part}{suffix}"
        if suffix == ".pth":
            torch.save(module.state_dict(), target)
        else:
            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(target))
    for path in (tmp_path, tmp_path / f"taesd_encoder{suffix}", tmp_path / f"taesd_decoder{suffix}"):
        vae = load_vae(path, device="cpu")
        assert isinstance(vae, TinyVAE) and vae.scaling_factor == 1.0
        x01 = (X + 1) / 2
        with torch.no_grad():
            z_ref = enc(x01)  # the original takes [0, 1]; the protocol hands [-1, 1]
            assert torch.allclose(vae.encode(X), z_ref, atol=1e-5)
            assert torch.allclose(vae.decode(z_ref), (dec(z_ref) * 2 - 1).clamp(-1, 1), atol=1e-5)


def test_taesd_missing_decoder(tmp_path):
    enc, _ = random_taesd()
    torch.save(enc.state_dict(), tmp_path / "taesd_encoder.pth")
    with pytest.raises(VAELoadError, match="not its decoder"):
        load_vae(tmp_path / "taesd_encoder.pth", device="cpu")


def test_taesd_diffusers_folder_and_run_init(tmp_path):
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny().save_pretrained(tmp_path / "taesd")
    vae = load_vae(tmp_path / "taesd", device="cpu")
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    mask = Image.new("L", (64, 64))
    mask.paste(255, (16, 16, 48, 48))
    r = run_init(img, mask, InitParams(width=64, height=64, seed=1, model_kind="inpainting", inpainting_fill=2), vae=vae)
    assert r.init_latent.shape == (1, 4, 8, 8) and r.image_conditioning.shape == (1, 5, 8, 8)
    assert r.decoded_latent.size == (64, 64) and "TAESD" in r.vae_name


def test_kl_in_run_init_encodes_once_per_distinct_image(kl, tmp_path):
    from inpaint_init import StageCache

    kl.save_pretrained(tmp_path / "vae")
    vae = load_vae(tmp_path / "vae", device="cpu")
    calls = []
    original = vae.encode
    vae.encode = lambda x: calls.append(1) or original(x)
    img = Image.new("RGB", (64, 64), "gray")
    cache = StageCache()
    p = InitParams(width=64, height=64, seed=1, batch_size=2)
    run_init(img, Image.new("L", (64, 64), 255), p, vae=vae, cache=cache)
    run_init(img, Image.new("L", (64, 64), 255), p.replace(mask_blur_x=8), vae=vae, cache=cache)
    assert len(calls) == 1


def _safetensors_with_header(path, header: dict, data: bytes = b""):
    import json
    import struct

    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def test_crafted_files_are_refused_before_allocating(tmp_path, kl):
    import json
    import os
    import time

    # A 300-byte file whose header asks for an 8192-wide zero-element tensor: refused from the
    # header, at once, instead of building an 8192-channel model.
    def empty(*shape):
        return {"dtype": "F32", "shape": list(shape), "data_offsets": [0, 0]}

    f = tmp_path / "zero.safetensors"
    _safetensors_with_header(f, {"encoder.conv_in.weight": empty(8192, 0), "decoder.conv_in.weight": empty(8192, 0),
                                 "encoder.down_blocks.0.resnets.0.conv1.weight": empty(8192, 0),
                                 "encoder.conv_out.weight": empty(8, 0)})  # fmt: skip
    start = time.perf_counter()
    with pytest.raises(VAELoadError, match="widths \\[8192\\]"):
        load_vae(f, device="cpu")
    assert time.perf_counter() - start < 2
    _safetensors_with_header(f, {"encoder.conv_in.weight": empty(2**20, 0)})
    with pytest.raises(VAELoadError, match="far larger than any VAE"):
        load_vae(f, device="cpu")
    # Widths read off the weights are bounded too.
    big = {"encoder.conv_in.weight": torch.zeros(4096, 3, 1, 1), "decoder.conv_in.weight": torch.zeros(1),
           "encoder.down_blocks.0.resnets.0.conv1.weight": torch.zeros(4096, 1, 1, 1), "encoder.conv_out.weight": torch.zeros(8)}  # fmt: skip
    save_file(big, str(tmp_path / "wide.safetensors"))
    with pytest.raises(VAELoadError, match="widths \\[4096\\]"):
        load_vae(tmp_path / "wide.safetensors", device="cpu")
    # A folder config asking for 65536 channels.
    (tmp_path / "huge").mkdir()
    (tmp_path / "huge" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL", "block_out_channels": [65536]}))
    with pytest.raises(VAELoadError, match="widths \\[65536\\]"):
        load_vae(tmp_path / "huge", device="cpu")
    # Missing encoder.conv_out.weight: a message, not a KeyError.
    state = {k: v for k, v in kl.state_dict().items() if k != "encoder.conv_out.weight"}
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(VAELoadError, match="incomplete VAE weights"):
        load_vae(tmp_path / "partial.safetensors", device="cpu")
    # config.json that is a list, or not UTF-8.
    for name, content in (("list", b"[1, 2]"), ("latin", '{"_class_name": "Autoencoder\xe9"}'.encode("latin-1"))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_bytes(content)
        with pytest.raises(VAELoadError, match="JSON"):
            load_vae(tmp_path / name, device="cpu")
    # A named pipe is never opened (it would block forever).
    os.mkfifo(tmp_path / "x.pt")
    with pytest.raises(VAELoadError, match="not a regular file"):
        load_vae(tmp_path / "x.pt", device="cpu")

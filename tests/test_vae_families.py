"""The four VAE families (forge.md §4): tiny random-weight AutoencoderKLs built from each family's
shipped config, saved in every layout people download, loaded back through load_vae.

The expected latents are computed here from the diffusers model itself and the spec's numbers
typed in by hand, never from the loader's tables.
"""

import json
import types

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from inpaint_init import InitError, InitParams, run_init
from inpaint_init.vae import FAMILIES, CheapApproxVAE, cheap_approx_for, family_from_numbers, vae_family
from inpaint_init.vae_layouts import CONFIG_DIR
from inpaint_init.vae_loaders import DiffusersKLVAE, TinyVAE, VAELoadError, load_vae
from vae_factories import kl_to_ldm

# forge.md §4, typed from the spec's table: (channels, scaling_factor, shift_factor).
SPEC = {"sd1": (4, 0.18215, 0.0), "sdxl": (4, 0.13025, 0.0), "sd3": (16, 1.5305, 0.0609), "flux": (16, 0.3611, 0.1159)}
X = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1


pytestmark = pytest.mark.usefixtures("no_network")  # conftest: loopback only


def tiny_family_kl(family: str, seed: int = 0):
    """The family's shipped config, shrunk: 4 levels of 32 channels, 1 block, 64 px."""
    from diffusers import AutoencoderKL

    config = {k: v for k, v in json.loads((CONFIG_DIR / f"{family}_vae.json").read_text()).items() if not k.startswith("_")}
    config.update(block_out_channels=[32] * 4, layers_per_block=1, sample_size=64)
    torch.manual_seed(seed)
    return AutoencoderKL(**config).eval()


@pytest.fixture(scope="module")
def models():
    return {fam: tiny_family_kl(fam, seed=i) for i, fam in enumerate(FAMILIES)}


def expected(model, family, x=X, eps=None):
    """(z − shift) × scale from the model's own posterior, with the spec's numbers."""
    _, scale, shift = SPEC[family]
    with torch.no_grad():
        dist = model.encode(x).latent_dist
    z = dist.mean if eps is None else dist.mean + dist.std * eps
    return (z - shift) * scale


def test_shipped_configs_match_the_spec():
    for fam, (channels, scale, shift) in SPEC.items():
        config = json.loads((CONFIG_DIR / f"{fam}_vae.json").read_text())
        assert config["latent_channels"] == channels and config["scaling_factor"] == scale
        assert config.get("shift_factor", 0.0) in (shift, None if shift == 0 else shift)
        assert config["block_out_channels"] == [128, 256, 512, 512] and config["layers_per_block"] == 2
    for fam in ("sd3", "flux"):  # the 16-channel VAEs have no 1×1 quant convolutions
        config = json.loads((CONFIG_DIR / f"{fam}_vae.json").read_text())
        assert config["use_quant_conv"] is False and config["use_post_quant_conv"] is False


def _save(model, family, layout, tmp_path):
    """The model saved in ``layout``; returns the path to hand to load_vae."""
    if layout == "folder":
        model.save_pretrained(tmp_path / "vae")
        return tmp_path / "vae"
    if layout == "diffusers-file":
        save_file(model.state_dict(), str(tmp_path / "diffusion_pytorch_model.safetensors"))
        return tmp_path / "diffusion_pytorch_model.safetensors"
    ldm = kl_to_ldm(model.state_dict(), levels=4)
    if layout == "ldm-file":  # the webui's VAE files; Flux's ae.safetensors is this layout too
        save_file(ldm, str(tmp_path / "vae.safetensors"))
        return tmp_path / "vae.safetensors"
    state = {f"first_stage_model.{k}": v for k, v in ldm.items()}
    state["model.diffusion_model.dummy"] = torch.zeros(1)
    save_file(state, str(tmp_path / "checkpoint.safetensors"))
    return tmp_path / "checkpoint.safetensors"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("layout", ["folder", "diffusers-file", "ldm-file", "checkpoint"])
def test_each_family_and_layout_encodes_scaled_and_shifted(models, tmp_path, family, layout):
    model = models[family]
    vae = load_vae(_save(model, family, layout, tmp_path), family=family, posterior="mean", device="cpu")
    channels, scale, shift = SPEC[family]
    assert isinstance(vae, DiffusersKLVAE) and vae.latent_channels == channels and vae.family == family
    assert vae.scaling_factor == scale and vae.shift_factor == shift and vae_family(vae) == family
    z = vae.encode(X)
    assert z.shape == (1, channels, 8, 8)
    assert torch.allclose(z, expected(model, family), atol=1e-5)
    # decode inverts the scaling: the model sees z / scale + shift
    with torch.no_grad():
        ref = model.decode(z / scale + shift).sample.clamp(-1, 1)
    assert torch.allclose(vae.decode(z), ref, atol=1e-5)


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_sampled_posterior_is_shifted_too(models, tmp_path, family):
    model = models[family]
    vae = load_vae(_save(model, family, "folder", tmp_path), posterior="sample", seed=11, device="cpu")
    assert vae.family == family  # auto, from the folder config's numbers
    torch.manual_seed(11)
    eps = torch.randn(1, 16, 8, 8)
    assert torch.allclose(vae.encode(X), expected(model, family, eps=eps), atol=1e-5)
    assert "shift" in vae.name


def test_flux_ae_safetensors_in_bfl_layout_is_flux(models, tmp_path):
    model = models["flux"]
    f = tmp_path / "ae.safetensors"
    save_file(kl_to_ldm(model.state_dict(), levels=4), str(f))
    assert not any("quant" in k for k in kl_to_ldm(model.state_dict(), levels=4))  # BFL's file has none
    vae = load_vae(f, posterior="mean", device="cpu")
    assert vae.family == "flux" and "file name" in vae.name and "LDM/BFL" in vae.name
    assert torch.allclose(vae.encode(X), expected(model, "flux"), atol=1e-5)
    sft = tmp_path / "ae.sft"  # BFL's first release used this suffix for the same safetensors file
    sft.write_bytes(f.read_bytes())
    assert load_vae(sft, posterior="mean", device="cpu").family == "flux"


@pytest.mark.parametrize(
    "family,prefix,marker",
    [("sd3", "first_stage_model.", "model.diffusion_model.joint_blocks.0.x"), ("flux", "vae.", "model.diffusion_model.double_blocks.0.x")],
)
def test_full_16_channel_checkpoints_are_recognised(models, tmp_path, family, prefix, marker):
    model = models[family]
    state = {f"{prefix}{k}": v for k, v in kl_to_ldm(model.state_dict(), levels=4).items()}
    state[marker] = torch.zeros(1)
    f = tmp_path / "model.safetensors"
    save_file(state, str(f))
    vae = load_vae(f, posterior="mean", device="cpu")
    assert vae.family == family and "full checkpoint" in vae.name and "transformer" in vae.name
    assert torch.allclose(vae.encode(X), expected(model, family), atol=1e-5)


def test_16_channel_detection_from_metadata_name_and_default(models, tmp_path):
    ldm = kl_to_ldm(models["sd3"].state_dict(), levels=4)
    cases = [
        ("vae.safetensors", {"modelspec.architecture": "stable-diffusion-v3-medium/vae"}, "sd3", "metadata"),
        ("vae.safetensors", {"modelspec.architecture": "Flux.1-dev/vae"}, "flux", "metadata"),
        ("sd3_medium_vae.safetensors", None, "sd3", "file name"),
        ("my_flux_vae.safetensors", None, "flux", "file name"),
        ("vae16.safetensors", None, "flux", "assumed"),
    ]
    for name, metadata, fam, why in cases:
        f = tmp_path / name
        save_file(ldm, str(f), metadata=metadata)
        vae = load_vae(f, posterior="mean", device="cpu")
        assert (vae.family, why in vae.name) == (fam, True), name
        assert vae.scaling_factor == SPEC[fam][1] and vae.shift_factor == SPEC[fam][2]


def test_checkpoint_without_vae_says_to_load_the_one_beside_it(tmp_path):
    f = tmp_path / "sd3.5_large.safetensors"
    save_file({"model.diffusion_model.joint_blocks.0.x": torch.zeros(1)}, str(f))
    with pytest.raises(VAELoadError, match="without its VAE"):
        load_vae(f, device="cpu")


def test_family_must_match_the_channel_count(models, tmp_path):
    f = tmp_path / "ae.safetensors"
    save_file(kl_to_ldm(models["flux"].state_dict(), levels=4), str(f))
    with pytest.raises(VAELoadError, match="16 latent channels.*SD1.x/2.x VAE has 4"):
        load_vae(f, family="sd1", device="cpu")
    models["sdxl"].save_pretrained(tmp_path / "xl")
    with pytest.raises(VAELoadError, match="4 latent channels, a Flux VAE 16"):
        load_vae(tmp_path / "xl", family="flux", device="cpu")
    with pytest.raises(VAELoadError, match="family must be"):
        load_vae(tmp_path / "xl", family="sd35", device="cpu")


def test_folder_with_unknown_16_channel_numbers_asks_for_the_family(tmp_path):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    AutoencoderKL(block_out_channels=[32] * 4, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                  latent_channels=16, scaling_factor=1.0).save_pretrained(tmp_path / "v")  # fmt: skip
    with pytest.raises(VAELoadError, match="fit none of the families"):
        load_vae(tmp_path / "v", device="cpu")
    vae = load_vae(tmp_path / "v", family="sd3", posterior="mean", device="cpu")
    assert (vae.scaling_factor, vae.shift_factor) == (1.5305, 0.0609)  # a chosen family sets the numbers


def test_vae_family_inference():
    def backend(**kw):
        return types.SimpleNamespace(**kw)

    assert vae_family(backend(latent_channels=4, scaling_factor=0.18215)) == "sd1"
    assert vae_family(backend(latent_channels=4, scaling_factor=0.13025)) == "sdxl"
    assert vae_family(backend(latent_channels=4)) == "sd1"  # a custom 4-channel backend without numbers
    assert vae_family(backend(latent_channels=16, scaling_factor=1.5305, shift_factor=0.0609)) == "sd3"
    assert vae_family(backend(latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159)) == "flux"
    assert vae_family(backend(latent_channels=16, scaling_factor=1.0, family="flux")) == "flux"  # the attribute wins
    with pytest.raises(InitError, match="cannot tell"):
        vae_family(backend(latent_channels=16, scaling_factor=1.0))
    with pytest.raises(InitError, match="cannot tell"):
        vae_family(backend(latent_channels=8, scaling_factor=1.0))
    with pytest.raises(InitError, match="has 4 latent channels"):
        vae_family(backend(latent_channels=4, family="sd3"))
    with pytest.raises(InitError, match="one of"):
        vae_family(backend(latent_channels=4, family="SDXL"))
    assert family_from_numbers(16, None, 0.1159) == "flux"


@pytest.mark.parametrize("kind", ["sd3", "flux"])
def test_weightless_16_channel_backends(kind):
    vae = CheapApproxVAE(kind)
    assert vae.latent_channels == 16 and vae.family == kind and vae_family(vae) == kind
    assert (vae.scaling_factor, vae.shift_factor) == (1.0, 0.0) and "our own" in vae.name
    assert vae.encode(torch.zeros(2, 3, 72, 100)).shape == (2, 16, 9, 12)
    c = vae.coeffs
    assert c.shape == (16, 3)
    # orthogonal colour columns of norm 0.5: the least-squares inverse is Cᵀ / 0.25
    assert torch.allclose(c.T @ c, 0.25 * torch.eye(3), atol=1e-6)
    # white encodes to √3 / (4 · 0.5) in every channel (the constant DCT vector carries grey)
    assert torch.allclose(vae.encode(torch.ones(1, 3, 8, 8)).flatten(), torch.full((16,), 3**0.5 / 2), atol=1e-6)
    # round trip: decode(encode(x)) is x averaged over 8×8 cells (inside [-1, 1], nothing clamps)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    cells = x.reshape(1, 3, 8, 8, 8, 8).mean(dim=(3, 5))
    assert torch.allclose(vae.decode(vae.encode(x)), cells.repeat_interleave(8, 2).repeat_interleave(8, 3), atol=1e-5)
    img = vae.decode_image(vae.encode(x))
    assert img.size == (64, 64) and img.mode == "RGB"
    with pytest.raises(InitError, match="B×16×h×w"):
        vae.decode(torch.zeros(1, 4, 8, 8))
    assert cheap_approx_for(vae) is vae


def test_sd3_and_flux_maps_are_the_same_and_differ_from_4_channel_ones():
    assert torch.equal(CheapApproxVAE("sd3").coeffs, CheapApproxVAE("flux").coeffs)
    assert CheapApproxVAE("sd3").cache_identity != CheapApproxVAE("flux").cache_identity
    with pytest.raises(InitError, match="kind must be one of"):
        CheapApproxVAE("sd35")


def test_cheap_approx_for_a_real_backend(models, tmp_path):
    models["flux"].save_pretrained(tmp_path / "vae")
    vae = load_vae(tmp_path / "vae", posterior="mean", device="cpu")
    approx = cheap_approx_for(vae)
    assert approx.kind == "flux"
    assert approx.decode_image(vae.encode(X)).size == (64, 64)


def test_tiny_vae_family_from_name(tmp_path):
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny().save_pretrained(tmp_path / "taesdxl")
    assert load_vae(tmp_path / "taesdxl", device="cpu").family == "sdxl"
    vae = load_vae(tmp_path / "taesdxl", family="sd1", device="cpu")
    assert isinstance(vae, TinyVAE) and vae.family == "sd1"
    with pytest.raises(VAELoadError, match="not a SD3 one"):
        load_vae(tmp_path / "taesdxl", family="sd3", device="cpu")


@pytest.mark.parametrize("kind,flavour", [("sd3", "webui"), ("sd3", "forge"), ("flux", "forge")])
def test_run_init_with_a_weightless_16_channel_backend_decodes(kind, flavour):
    img = Image.new("RGB", (64, 64), (200, 30, 90))
    mask = Image.new("L", (64, 64))
    mask.paste(255, (16, 16, 48, 48))
    p = InitParams(width=64, height=64, seed=3, inpainting_fill=2, flavour=flavour)
    r = run_init(img, mask, p, vae=CheapApproxVAE(kind), decode=True)
    assert r.init_latent.shape == (1, 16, 8, 8) and r.mask.shape[-3] == 16
    assert r.decoded_latent.size == (64, 64)
    assert r.family == kind and r.flavour == flavour
    # a flow model's start is not computed (its shifted schedule is not modelled), and says so by None
    assert r.start_latent is None and r.decoded_start_latent is None


def test_flux_in_the_webui_flavour_and_16_channel_inpainting_are_refused():
    img = Image.new("RGB", (64, 64))
    with pytest.raises(InitError, match="no Flux"):
        run_init(img, None, InitParams(width=64, height=64, seed=3), vae=CheapApproxVAE("flux"))
    for flavour in ("webui", "forge"):
        with pytest.raises(InitError, match="inpainting"):
            run_init(img, None, InitParams(width=64, height=64, seed=3, model_kind="inpainting", flavour=flavour), vae=CheapApproxVAE("sd3"))

"""The Forge flavour through run_init (forge.md §8), against the webui flavour on the same job:
each rule where the two differ, the 4/16-channel × webui/Forge matrix, with weightless backends
and with tiny random-weight diffusers AutoencoderKLs loaded through the real loading code."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from inpaint_init import CheapApproxVAE, InitError, InitParams, load_vae, run_init
from vae_factories import tiny_kl


def job(size=(64, 64)):
    img = Image.new("RGB", size, (120, 80, 200))
    ImageDraw.Draw(img).rectangle((5, 5, 40, 30), fill=(10, 200, 30))
    mask = Image.new("L", size)
    ImageDraw.Draw(mask).ellipse((16, 16, 48, 48), fill=255)
    return img, mask


def test_sdxl_inpainting_with_mask_round_off_rounds_in_the_webui_only():
    img, mask = job()
    p = InitParams(width=64, height=64, seed=1, model_kind="inpainting-sdxl", mask_round=False, mask_blur_x=8, mask_blur_y=8)
    web = run_init(img, mask, p, vae=CheapApproxVAE("sdxl"))
    forge = run_init(img, mask, p.replace(flavour="forge"), vae=CheapApproxVAE("sdxl"))
    assert set(np.unique(web.conditioning_mask.numpy())) <= {0.0, 1.0}
    soft = np.unique(forge.conditioning_mask.numpy())
    assert len(soft) > 2 and soft.min() == 0.0  # the blurred mask's k/255 levels reach the conditioning
    assert np.allclose(forge.conditioning_mask.numpy()[0, 0], np.asarray(forge.image_mask, np.float32) / 255)
    assert any("soft mask" in d for d in web.differences)
    # with mask_round on, both round: no difference there
    same = run_init(img, mask, p.replace(mask_round=True, flavour="forge"), vae=CheapApproxVAE("sdxl"))
    assert torch.equal(same.conditioning_mask, run_init(img, mask, p.replace(mask_round=True), vae=CheapApproxVAE("sdxl")).conditioning_mask)


@pytest.mark.parametrize("reproduce,cpu", [("ComfyUI", True), ("DrawThings", True), ("InvokeAI", False), ("None", False)])
def test_try_reproduce_comfyui_and_drawthings_draw_every_noise_on_the_cpu(reproduce, cpu):
    img, mask = job()
    p = InitParams(width=64, height=64, seed=42, inpainting_fill=2, randn_source="NV", flavour="forge", forge_try_reproduce=reproduce)
    r = run_init(img, mask, p)
    # torch's CPU generator after manual_seed, drawn here without the library
    g = torch.Generator().manual_seed(42)
    expected = torch.randn((4, 8, 8), generator=g)
    assert torch.equal(r.start_noise[0], expected) == cpu
    assert torch.equal(r.latent_noise[0], expected) == cpu
    assert r.randn_source == ("CPU" if cpu else "NV")
    assert r.params.randn_source == "NV"  # the setting is kept as the user made it


def test_try_reproduce_is_a_forge_option():
    img, _ = job()
    with pytest.raises(InitError, match="Forge option"):
        run_init(img, None, InitParams(width=64, height=64, forge_try_reproduce="ComfyUI"))


def test_sd3_sizes_are_rounded_to_16_in_the_webui_and_kept_in_forge():
    img, mask = job((100, 90))
    p = InitParams(width=88, height=72 + 8, seed=1)  # 88×80 → 80×80 in webui v1.10.1
    web = run_init(img, mask, p, vae=CheapApproxVAE("sd3"))
    forge = run_init(img, mask, p.replace(flavour="forge"), vae=CheapApproxVAE("sd3"))
    assert (web.params.width, web.params.height) == (80, 80) and web.init_latent.shape == (1, 16, 10, 10)
    assert any("multiples of 16: 88×80 → 80×80" in n for n in web.notes)
    assert forge.init_latent.shape == (1, 16, 10, 11) and not any("multiples of 16" in n for n in forge.notes)


@pytest.mark.parametrize("flavour", ["webui", "forge"])
@pytest.mark.parametrize("family", ["sd1", "sdxl", "sd3", "flux"])
@pytest.mark.parametrize("model_kind", ["standard", "inpainting"])
def test_the_flavour_family_matrix(flavour, family, model_kind):
    img, mask = job()
    p = InitParams(width=64, height=64, seed=2, inpainting_fill=3, flavour=flavour, model_kind=model_kind)
    refused = (family == "flux" and flavour == "webui") or (family in ("sd3", "flux") and model_kind != "standard")
    if refused:
        with pytest.raises(InitError):
            run_init(img, mask, p, vae=CheapApproxVAE(family))
        return
    r = run_init(img, mask, p, vae=CheapApproxVAE(family))
    channels = 16 if family in ("sd3", "flux") else 4
    assert r.init_latent.shape == (1, channels, 8, 8) and r.nmask.shape == (channels, 8, 8)
    assert torch.equal(r.init_latent, r.encoded_latent * r.mask)  # latent nothing, every channel
    assert r.decoded_init_latent.size == (64, 64)


@pytest.mark.parametrize("flavour,expected_seed", [("webui", 8), ("forge", (8 + 100000) % 65536)])
def test_the_conditioning_posterior_follows_the_latent_noise_draws(tmp_path, flavour, expected_seed):
    tiny_kl(seed=4).save_pretrained(tmp_path / "vae")
    vae = load_vae(str(tmp_path / "vae"), family="sd1").with_posterior("sample", 0)
    img, mask = job()
    p = InitParams(width=64, height=64, seed=7, batch_size=2, inpainting_fill=2, model_kind="inpainting", randn_source="CPU", flavour=flavour)
    r = run_init(img, mask, p, vae=vae, decode=False)
    # the batch's seeds are 7, 8: the last draw leaves the global generator at 8 (webui) or (8 + 100000) mod 65536
    again = vae.with_posterior("sample", expected_seed).encode(r.conditioning_masked_image)
    assert torch.equal(r.image_conditioning[:, 1:], again)
    other = vae.with_posterior("sample", 0).encode(r.conditioning_masked_image)
    assert not torch.equal(r.image_conditioning[:, 1:], other)


def test_a_tiny_16_channel_kl_runs_in_forge_and_sd3_runs_in_both(tmp_path):
    tiny_kl(seed=5, latent_channels=16).save_pretrained(tmp_path / "flux")
    img, mask = job()
    flux = load_vae(str(tmp_path / "flux"), family="flux")
    r = run_init(img, mask, InitParams(width=64, height=64, seed=1, flavour="forge"), vae=flux)
    assert r.family == "flux" and r.init_latent.shape == (1, 16, 8, 8) and r.decoded_init_latent_approx.size == (64, 64)
    with pytest.raises(InitError, match="no Flux"):
        run_init(img, mask, InitParams(width=64, height=64, seed=1), vae=flux)
    sd3 = load_vae(str(tmp_path / "flux"), family="sd3")
    for flavour in ("webui", "forge"):
        assert run_init(img, mask, InitParams(width=64, height=64, seed=1, flavour=flavour), vae=sd3).family == "sd3"

"""The webui/Forge rules of inpaint_init.flavour, each checked against forge.md's own statements
(§2, §5, §6, §7, §8) with cases worked out by hand or by a plain implementation written here."""

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaint_init import InitError
from inpaint_init.flavour import (
    FLAVOURS,
    FORGE_TRY_REPRODUCE,
    Flavour,
    check_family,
    conditioning_mask_rounds,
    dilate_sketch_mask,
    get_flavour,
    global_seed_after_draw,
    is_flow_family,
    job_differences,
    noise_settings,
    posterior_seed_after_draws,
    processing_size,
    resize_by_size,
    sketch_dilation_size,
    threshold_ui_mask,
    ui_thresholds_masks,
)

KINDS = ("standard", "inpainting", "inpainting-sdxl")


def test_flavours_are_frozen_records():
    assert set(FLAVOURS) == {"webui", "forge"}
    assert all(isinstance(f, Flavour) for f in FLAVOURS.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        FLAVOURS["forge"].reseed = None
    assert get_flavour(FLAVOURS["webui"]) is FLAVOURS["webui"]
    with pytest.raises(InitError, match="flavour must be one of"):
        get_flavour("Forge")


# §2 / §8 (1): every inpainting model rounds iff mask_round in Forge; v1.10.1 always rounds SDXL inpainting's.
@pytest.mark.parametrize(
    "kind,mask_round,webui,forge",
    [
        ("inpainting", True, True, True),
        ("inpainting", False, False, False),
        ("inpainting-sdxl", True, True, True),
        ("inpainting-sdxl", False, True, False),  # the one visible 4-channel difference
        ("standard", True, False, False),
        ("standard", False, False, False),
    ],
)
def test_conditioning_mask_rounding(kind, mask_round, webui, forge):
    assert conditioning_mask_rounds("webui", kind, mask_round) is webui
    assert conditioning_mask_rounds("forge", kind, mask_round) is forge


def test_conditioning_mask_rounding_rejects_unknown_kinds():
    with pytest.raises(InitError, match="model_kind must be one of"):
        conditioning_mask_rounds("forge", "depth", True)


# §4 / §6 / §8 (2), (4): the family × model-kind matrix.
@pytest.mark.parametrize("flavour", ["webui", "forge"])
@pytest.mark.parametrize("family", ["sd1", "sdxl", "sd3", "flux"])
@pytest.mark.parametrize("kind", KINDS)
def test_family_matrix(flavour, family, kind):
    runs = not (flavour == "webui" and family == "flux") and not (family in ("sd3", "flux") and kind != "standard")
    if runs:
        check_family(flavour, family, kind)
    elif family == "flux" and flavour == "webui":
        with pytest.raises(InitError, match="v1.10.1 has no Flux; choose the Forge flavour"):
            check_family(flavour, family, kind)
    else:
        with pytest.raises(InitError, match="no (SD3|Flux) inpainting model"):
            check_family(flavour, family, kind)


def test_check_family_rejects_unknown_families():
    with pytest.raises(InitError, match="family must be one of"):
        check_family("forge", "sd35")


# §6 / §8 (6): webui v1.10.1 rounds SD3 sizes down to multiples of 16; Forge does not.
def test_processing_size_cases():
    assert processing_size("webui", "sd3", 512, 512) == (512, 512, None)
    w, h, note = processing_size("webui", "sd3", 520, 777)
    assert (w, h) == (512, 768) and "multiples of 16" in note and "520×777 → 512×768" in note
    assert processing_size("forge", "sd3", 520, 777) == (520, 777, None)
    assert processing_size("webui", "sdxl", 520, 777) == (520, 777, None)
    assert processing_size("forge", "flux", 1000, 1001) == (1000, 1001, None)
    with pytest.raises(InitError, match="at least 16"):
        processing_size("webui", "sd3", 8, 512)


@settings(max_examples=40, deadline=None)
@given(st.integers(16, 4096), st.integers(16, 4096))
def test_processing_size_rounds_down_to_16(w, h):
    rw, rh, note = processing_size("webui", "sd3", w, h)
    assert rw % 16 == 0 and rh % 16 == 0 and 0 <= w - rw < 16 and 0 <= h - rh < 16
    assert (note is None) == (w % 16 == 0 and h % 16 == 0)


# §5 / §8 (3): forge_try_reproduce.
@pytest.mark.parametrize("value", FORGE_TRY_REPRODUCE)
@pytest.mark.parametrize("source", ["GPU", "CPU", "NV"])
def test_forge_try_reproduce_seven_values(value, source):
    s = noise_settings("forge", source, value)
    cpu = value in ("ComfyUI", "DrawThings")
    assert s.source == ("CPU" if cpu else source)
    assert (s.note is not None) == (cpu and source != "CPU")


def test_try_reproduce_is_a_forge_option():
    assert FORGE_TRY_REPRODUCE == ("None", "Diffusers", "ComfyUI", "WebUI 1.5", "InvokeAI", "EasyDiffusion", "DrawThings")
    assert noise_settings("webui", "NV") == ("NV", None)
    for value in FORGE_TRY_REPRODUCE[1:]:
        with pytest.raises(InitError, match="is a Forge option"):
            noise_settings("webui", "GPU", value)
    with pytest.raises(InitError, match="must be one of"):
        noise_settings("forge", "GPU", "comfyui")
    with pytest.raises(InitError, match="randn_source"):
        noise_settings("forge", "gpu")


# §5 / §8 (5): the reseed rule; the spec's own examples plus a plain implementation.
def test_reseed_examples_from_the_spec():
    assert [global_seed_after_draw("forge", s) for s in (7, 0, 65535)] == [34471, 34464, 34463]
    assert global_seed_after_draw("webui", 7) == 7
    assert global_seed_after_draw("forge", 7, from_image_generator=False) == 7  # subseed / small resize draw


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_reseed_matches_plain_arithmetic(seed):
    assert global_seed_after_draw("forge", seed) == (seed + 100000) - 65536 * ((seed + 100000) // 65536)
    assert 0 <= global_seed_after_draw("forge", seed) < 65536
    assert global_seed_after_draw("webui", seed) == seed


def test_posterior_seed_after_the_latent_noise_fill():
    assert posterior_seed_after_draws("forge", [10, 11, 12], "CPU") == 12 + 100000 - 65536
    assert posterior_seed_after_draws("webui", [10, 11, 12], "GPU") == 12
    assert posterior_seed_after_draws("forge", [10], "NV") is None  # NV draws seed the NV generator
    assert posterior_seed_after_draws("forge", [], "CPU") is None
    # what the sample then draws: ε of torch.manual_seed(that seed) — different between the programs
    eps = {f: torch.randn((), generator=torch.Generator().manual_seed(posterior_seed_after_draws(f, [7], "CPU"))) for f in FLAVOURS}
    g = torch.Generator().manual_seed(34471)
    assert eps["forge"] == torch.randn((), generator=g) and eps["webui"] != eps["forge"]


# §7: the UI-side rules.
def test_ui_mask_threshold_is_strictly_above_128():
    values = np.array([[0, 127, 128, 129, 200, 255]], dtype=np.uint8)
    mask = Image.fromarray(values, "L")
    assert ui_thresholds_masks("forge") and not ui_thresholds_masks("webui")
    assert np.array_equal(np.asarray(threshold_ui_mask("forge", mask)), [[0, 0, 0, 255, 255, 255]])
    assert threshold_ui_mask("webui", mask) is mask
    rgba = Image.fromarray(np.dstack([values] * 3 + [np.full_like(values, 129)]), "RGBA")
    out = np.asarray(threshold_ui_mask("forge", rgba))
    assert out.shape == (1, 6, 4) and np.array_equal(out[0, :, 0], [0, 0, 0, 255, 255, 255]) and (out[..., 3] == 255).all()
    assert threshold_ui_mask("forge", mask.convert("P")).mode == "L"


@pytest.mark.parametrize("size,expected", [((512, 768), 15), ((1024, 1024), 31), ((66, 500), 1), ((67, 67), 3)])
def test_sketch_dilation_size(size, expected):
    # 2·int(0.015·short side)+1, worked out by hand: 7.68 → 15, 15.36 → 31, 0.99 → 1, 1.005 → 3
    assert sketch_dilation_size("forge", *size) == expected
    assert sketch_dilation_size("webui", *size) == 1


def test_sketch_dilation_is_a_square_max_filter():
    rng = np.random.default_rng(0)
    a = (rng.random((80, 100)) > 0.97).astype(np.uint8) * 255
    out = np.asarray(dilate_sketch_mask("forge", Image.fromarray(a, "L")))
    r = sketch_dilation_size("forge", 100, 80) // 2  # 2·int(1.2)+1 = 3 → radius 1
    padded = np.pad(a, r)
    plain = np.max([padded[dy : dy + 80, dx : dx + 100] for dy in range(2 * r + 1) for dx in range(2 * r + 1)], axis=0)
    assert r == 1 and np.array_equal(out, plain)
    m = Image.fromarray(a, "L")
    assert dilate_sketch_mask("webui", m) is m


@pytest.mark.parametrize(
    "size,scale,webui,forge",
    [((61, 47), 1.37, (83, 64), (80, 64)), ((96, 80), 0.5, (48, 40), (48, 40)), ((100, 76), 0.29, (28, 22), (24, 16))],
)
def test_resize_by(size, scale, webui, forge):
    # webui values are webui-tabs.md §3's own examples; Forge floors them to multiples of 8
    assert resize_by_size("webui", *size, scale) == webui
    assert resize_by_size("forge", *size, scale) == forge


def test_flow_families():
    assert [is_flow_family(f) for f in ("sd1", "sdxl", "sd3", "flux")] == [False, False, True, True]
    with pytest.raises(InitError):
        is_flow_family("sd2")


def test_job_differences():
    assert job_differences("sd1", "inpainting", False, 512, 512) == []
    assert job_differences("sdxl", "standard", True, 512, 512, inpainting_fill=2) == []
    sdxl = job_differences("sdxl", "inpainting-sdxl", False, 512, 512)
    assert len(sdxl) == 1 and "soft mask" in sdxl[0]
    sd3 = job_differences("sd3", "standard", True, 520, 512)
    assert len(sd3) == 1 and "Forge keeps 520×512" in sd3[0]
    assert "only Forge" in job_differences("flux", "standard", True, 512, 512)[0]
    assert "CPU" in job_differences("sd1", "standard", True, 512, 512, forge_try_reproduce="DrawThings")[0]
    assert "65536" in job_differences("sd1", "inpainting", True, 512, 512, inpainting_fill=2)[0]
    assert job_differences("sd1", "inpainting", True, 512, 512, inpainting_fill=2, posterior="mean") == []


def test_rounding_decision_feeds_the_conditioning_mask():
    """With the conditioning module: SDXL inpainting, mask_round off — Forge keeps k/255, the webui 0/1."""
    from inpaint_init.conditioning import conditioning_mask_tensor

    soft = Image.fromarray(np.array([[0, 64, 128, 200]], dtype=np.uint8), "L")
    web = conditioning_mask_tensor(soft, (1, 4), conditioning_mask_rounds("webui", "inpainting-sdxl", False))
    forge = conditioning_mask_tensor(soft, (1, 4), conditioning_mask_rounds("forge", "inpainting-sdxl", False))
    assert web.flatten().tolist() == [0.0, 0.0, 1.0, 1.0]  # 128/255 ≈ 0.502 rounds to 1
    assert torch.allclose(forge.flatten(), torch.tensor([0, 64, 128, 200]) / 255.0)

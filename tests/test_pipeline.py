"""run_init end to end: against the plain reference, edge cases, batches, errors, caching."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bench import plain_reference as ref
from inpaint_init import BLANK_MASK_NOTE, CheapApproxVAE, InitError, InitParams, StageCache, run_init


def arr(img):
    return None if img is None else np.asarray(img)


def random_case(seed, iw, ih, kind="box"):
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (ih, iw, 3), dtype=np.uint8))
    m = np.zeros((ih, iw), np.uint8)
    if kind == "box":
        x, y = rng.integers(0, iw), rng.integers(0, ih)
        m[y : y + rng.integers(1, ih), x : x + rng.integers(1, iw)] = 255
    elif kind == "soft":
        m = rng.integers(0, 256, (ih, iw), dtype=np.uint8)
    return img, Image.fromarray(m)


params_strategy = st.builds(
    InitParams,
    # Sizes that are not multiples of 8 reach the webui through its API (§12).
    width=st.sampled_from([16, 32, 48, 64, 20, 37]),
    height=st.sampled_from([16, 32, 64, 13, 30]),
    mask_blur_x=st.sampled_from([0, 1, 4, 9]),
    mask_blur_y=st.sampled_from([0, 2, 4]),
    inpainting_mask_invert=st.integers(0, 1),
    inpainting_fill=st.integers(0, 3),
    inpaint_full_res=st.booleans(),
    inpaint_full_res_padding=st.sampled_from([0, 3, 32, 500]),
    resize_mode=st.integers(0, 2),
    mask_round=st.booleans(),
    model_kind=st.sampled_from(["standard", "inpainting", "inpainting-sdxl"]),
    seed=st.integers(0, 2**32 - 1),
    batch_size=st.integers(1, 3),
)


@settings(max_examples=200)
@given(params_strategy, st.integers(8, 80), st.integers(8, 80), st.integers(0, 2**31), st.sampled_from(["box", "soft", "blank"]))
def test_matches_plain_reference_and_invariants(p, iw, ih, seed, kind):
    img, mask = random_case(seed, iw, ih, kind)
    r = run_init(img, mask, p)
    o = ref.plain_init(img, mask, p)
    h, w = p.height // 8, p.width // 8

    assert np.array_equal(arr(r.binary_mask), arr(o["binary"]))
    assert np.array_equal(arr(r.blurred_mask), arr(o["blurred"]))
    assert r.crop_region == o["crop_region"]
    assert r.paste_to == o.get("paste_to")
    assert (r.image_mask is None) == (o["image_mask"] is None)
    if r.image_mask is not None:
        assert np.array_equal(arr(r.image_mask), arr(o["image_mask"]))
        assert np.array_equal(arr(r.mask_for_overlay), arr(o["mask_for_overlay"]))
        assert np.array_equal(arr(r.overlay_images[0]), arr(o["overlay"]))
        # Overlay equals the original wherever the overlay mask is 0.
        mfo = arr(r.mask_for_overlay.convert("L"))
        base = np.asarray(img) if p.inpaint_full_res else arr(r.processed_images[0])
        assert np.array_equal(arr(r.overlay_images[0])[mfo == 0][:, :3], base[mfo == 0])
        assert np.allclose(r.nmask.numpy()[0], o["latmask"])
        assert torch.equal(r.mask + r.nmask, torch.ones(4, h, w))
        assert r.mask.shape == (4, h, w)
    else:
        assert r.mask is None and r.overlay_images == []
    assert np.array_equal(arr(r.processed_images[0]), arr(o["processed"]))
    assert np.array_equal(arr(r.filled_images[0]), arr(o["filled"]))
    assert r.init_latent.shape == (p.batch_size, 4, h, w)
    if p.model_kind == "standard":
        assert r.image_conditioning.shape == (p.batch_size, 5, 1, 1)
    else:
        assert r.image_conditioning.shape == (p.batch_size, 5, h, w)
    blank = r.blurred_mask.getbbox() is None  # a blank mask inverted is a full one
    assert (BLANK_MASK_NOTE in r.notes) == (blank and p.inpaint_full_res)
    assert r.inpaint_full_res == (p.inpaint_full_res and not blank)


def test_latent_nothing_zeroes_exactly_the_repainted_cells():
    img, _ = random_case(0, 64, 64)
    m = Image.new("L", (64, 64))
    m.paste(255, (0, 0, 32, 64))
    r = run_init(img, m, InitParams(width=64, height=64, mask_blur_x=0, mask_blur_y=0, inpainting_fill=3, seed=1))
    assert torch.all(r.init_latent[..., :, :4] == 0)
    assert torch.equal(r.init_latent[..., :, 4:], r.encoded_latent[..., :, 4:])


def test_latent_noise_uses_seed_per_image():
    img, mask = random_case(1, 64, 64)
    p = InitParams(width=64, height=64, inpainting_fill=2, seed=42, batch_size=2, randn_source="CPU")
    r = run_init(img, mask, p)
    torch.manual_seed(43)
    second = torch.randn(4, 8, 8)
    assert r.seeds == [42, 43] and torch.equal(r.latent_noise[1], second)
    expected = r.encoded_latent * r.mask + r.latent_noise * r.nmask
    assert torch.equal(r.init_latent, expected)


def test_seed_minus_one_is_reported():
    img, mask = random_case(1, 32, 32)
    r = run_init(img, mask, InitParams(width=32, height=32, seed=-1))
    assert any("picked" in n for n in r.notes) and 0 <= r.seeds[0] < 2**32


def test_full_res_crop_numbers_by_hand():
    # 100×80 image, mask box x 40..50, y 30..40, no blur, padding 5 → (35, 25, 55, 45); square
    # processing, already square → unchanged; paste_to (35, 25, 20, 20).
    img = Image.new("RGB", (100, 80), "white")
    m = Image.new("L", (100, 80))
    m.paste(255, (40, 30, 50, 40))
    p = InitParams(width=64, height=64, mask_blur_x=0, mask_blur_y=0, inpaint_full_res=True, inpaint_full_res_padding=5)
    r = run_init(img, m, p)
    assert r.crop_region_unexpanded == (35, 25, 55, 45) and r.crop_region == (35, 25, 55, 45)
    assert r.paste_to == (35, 25, 20, 20)
    assert r.overlay_images[0].size == (100, 80) and r.processed_images[0].size == (64, 64)


def test_blur_spreads_the_crop_box():
    img = Image.new("RGB", (100, 80), "white")
    m = Image.new("L", (100, 80))
    m.paste(255, (40, 30, 50, 40))
    p = InitParams(width=64, height=64, mask_blur_x=4, mask_blur_y=0, inpaint_full_res=True, inpaint_full_res_padding=0)
    r = run_init(img, m, p)
    # 21 taps: the tail reaches 10 px left and right; only the non-zero part counts.
    x1, _, x2, _ = r.crop_region_unexpanded
    assert 30 <= x1 < 40 and 50 < x2 <= 60


def test_whole_picture_overlay_mask_is_doubled():
    img, _ = random_case(2, 64, 64)
    m = Image.new("L", (64, 64))
    m.paste(255, (16, 16, 48, 48))
    r = run_init(img, m, InitParams(width=64, height=64))
    im = arr(r.image_mask).astype(int)
    assert np.array_equal(arr(r.mask_for_overlay).astype(int), np.clip(im * 2, 0, 255))


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16", "LA"])
def test_input_modes_for_image_and_mask(mode):
    base = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    img = base.convert(mode) if mode != "I;16" else base.convert("L").convert("I;16")
    r = run_init(img, img, InitParams(width=32, height=32, seed=1))
    assert r.init_latent.shape == (1, 4, 4, 4)
    assert r.processed_images[0].mode == "RGB"


def test_rgba_init_image_is_flattened_on_white():
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    r = run_init(img, None, InitParams(width=16, height=16, seed=1))
    assert np.all(arr(r.processed_images[0]) == 255)


def test_edge_masks():
    img, _ = random_case(3, 64, 48)
    for box in [(0, 0, 64, 48), (0, 0, 1, 1), (63, 47, 64, 48), (0, 20, 64, 21)]:
        m = Image.new("L", (64, 48))
        m.paste(255, box)
        r = run_init(img, m, InitParams(width=32, height=32, inpaint_full_res=True, seed=1))
        x1, y1, x2, y2 = r.crop_region
        assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 48


def test_mask_of_another_size_runs_with_a_note():
    img, _ = random_case(4, 64, 64)
    m = Image.new("L", (32, 32), 255)
    r = run_init(img, m, InitParams(width=32, height=32, seed=1))
    assert any("does not check" in n for n in r.notes)


def test_plain_img2img_without_mask():
    img, _ = random_case(5, 32, 32)
    r = run_init(img, None, InitParams(width=32, height=32, model_kind="inpainting", seed=1))
    assert r.mask is None and r.overlay_images == []
    # An inpainting model without a mask gets an all-ones mask (everything repainted).
    assert torch.all(r.image_conditioning[:, 0] == 1)


def test_batch_one_image_times_three_and_two_images():
    img, mask = random_case(6, 32, 32)
    r = run_init(img, mask, InitParams(width=32, height=32, batch_size=3, color_correction=True, seed=1))
    assert r.init_latent.shape[0] == 3 and len(r.overlay_images) == 3 and len(r.color_corrections) == 3
    assert torch.equal(r.init_latent[0], r.init_latent[2])
    img2, _ = random_case(7, 32, 32)
    r2 = run_init([img, img2], mask, InitParams(width=32, height=32, batch_size=4, seed=1))
    assert r2.batch_size == 2 and r2.init_latent.shape[0] == 2 and not torch.equal(r2.init_latent[0], r2.init_latent[1])
    with pytest.raises(InitError, match="bad number of images"):
        run_init([img, img2, img], mask, InitParams(width=32, height=32, batch_size=2))


@pytest.mark.parametrize(
    "changes,match",
    [
        (dict(width=4), "width must be between 8"),
        (dict(height=0), "height must be between 8"),
        (dict(width=16.0), "width must be a whole number"),
        (dict(mask_blur_x="abc"), "mask_blur_x must be a finite number"),
        (dict(mask_blur_y=513), "mask_blur_y must be between 0 and 512"),
        (dict(seed=2**64), "outside what torch.manual_seed accepts"),
        (dict(subseed=-(2**63) - 1), "subseed .* outside"),
        (dict(randn_source="cuda"), "randn_source"),
        (dict(batch_size=1.5), "batch_size must be a whole number"),
        (dict(subseed_strength=float("nan")), "subseed_strength"),
        (dict(sampler_name=["Euler"]), "sampler_name"),
        (dict(mask_blur_x=-1), "mask_blur_x"),
        (dict(inpainting_fill=4), "inpainting_fill"),
        (dict(resize_mode=7), "resize_mode"),
        (dict(model_kind="depth"), "model_kind"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_bad_params_are_clear_errors(changes, match):
    img, mask = random_case(8, 16, 16)
    with pytest.raises(InitError, match=match):
        run_init(img, mask, InitParams(width=16, height=16).replace(**changes))


def test_mode3_whole_picture_fill_is_a_clear_error_like_the_reference_failure():
    img, mask = random_case(9, 40, 40)
    with pytest.raises(InitError, match="latent upscale"):
        run_init(img, mask, InitParams(width=32, height=32, resize_mode=3, inpainting_fill=0))
    # With "original" it works: the latent of the 40×40 image is interpolated to 4×4.
    r = run_init(img, mask, InitParams(width=32, height=32, resize_mode=3, inpainting_fill=1, seed=1))
    assert r.init_latent.shape == (1, 4, 4, 4) and r.processed_images[0].size == (40, 40)


def test_latent_mask_replaces_mask_for_fill_and_latent_only():
    img, mask = random_case(10, 32, 32)
    lm = Image.new("L", (32, 32), 0)
    lm.paste(255, (0, 0, 8, 8))
    r = run_init(img, mask, InitParams(width=32, height=32, inpainting_fill=3, seed=1, model_kind="inpainting", latent_mask=lm))
    assert r.nmask[0].tolist() == [[1.0] + [0.0] * 3] + [[0.0] * 4] * 3
    # The conditioning still uses the blurred mask, not latent_mask.
    assert not torch.equal(r.image_conditioning[0, 0], r.nmask[0])


def test_non_finite_vae_output_is_a_clear_error():
    class NaNVAE(CheapApproxVAE):
        def encode(self, x):
            return super().encode(x) * float("nan")

    img, mask = random_case(11, 16, 16)
    with pytest.raises(InitError, match="NaN"):
        run_init(img, mask, InitParams(width=16, height=16), vae=NaNVAE())


class CountingVAE(CheapApproxVAE):
    def __init__(self):
        super().__init__()
        self.encodes = 0

    def encode(self, x):
        self.encodes += 1
        return super().encode(x)


def test_cache_serves_unchanged_stages_and_gives_identical_results():
    img, mask = random_case(12, 96, 80)
    vae = CountingVAE()
    cache = StageCache()
    p = InitParams(width=64, height=64, seed=5)
    first = run_init(img, mask, p, vae=vae, cache=cache)
    assert vae.encodes == 1
    # A blur change in whole-picture mode with fill "original": the pixels to encode are unchanged.
    second = run_init(img, mask, p.replace(mask_blur_x=9), vae=vae, cache=cache)
    assert vae.encodes == 1 and "encode" in second.cached_stages and "image_resize" in second.cached_stages
    assert "blur" not in second.cached_stages
    # With fill, the same blur change changes the pixels: encode runs again.
    run_init(img, mask, p.replace(mask_blur_x=9, inpainting_fill=0), vae=vae, cache=cache)
    assert vae.encodes == 2
    # Cached and uncached runs agree exactly.
    fresh = run_init(img, mask, p.replace(mask_blur_x=9), vae=CheapApproxVAE())
    assert torch.equal(second.init_latent, fresh.init_latent) and np.array_equal(arr(second.blurred_mask), arr(fresh.blurred_mask))
    assert torch.equal(first.encoded_latent, second.encoded_latent)


def test_one_encode_for_a_repeated_deterministic_batch():
    img, mask = random_case(13, 32, 32)
    vae = CountingVAE()
    run_init(img, mask, InitParams(width=32, height=32, batch_size=3, seed=1), vae=vae, cache=StageCache())
    assert vae.encodes == 1


def test_non_deterministic_vae_is_never_cached():
    class Sampling(CountingVAE):
        deterministic = False

    img, mask = random_case(14, 32, 32)
    vae, cache = Sampling(), StageCache()
    run_init(img, mask, InitParams(width=32, height=32, seed=1), vae=vae, cache=cache)
    run_init(img, mask, InitParams(width=32, height=32, seed=1), vae=vae, cache=cache)
    assert vae.encodes == 2


def test_timings_and_progress():
    img, mask = random_case(15, 32, 32)
    seen = []
    r = run_init(img, mask, InitParams(width=32, height=32, seed=1, inpainting_fill=0), progress=lambda f, s: seen.append((f, s)))
    assert {"binary_mask", "blur", "fill", "encode", "latent_mask"} <= set(r.timings)
    assert all(t >= 0 for t in r.timings.values()) and seen and all(0 <= f < 1 for f, _ in seen)


def test_a_new_backend_never_gets_a_freed_ones_cached_latents():
    """Cache identity must not be id(): a freed backend's id is often reused at once."""
    import gc

    class Constant:
        deterministic = True
        latent_channels = 4
        name = "constant"

        def __init__(self, value):
            self.value = value

        def encode(self, x):
            return torch.full((x.shape[0], 4, x.shape[-2] // 8, x.shape[-1] // 8), self.value)

        def decode(self, z):
            return torch.zeros(z.shape[0], 3, z.shape[-2] * 8, z.shape[-1] * 8)

    img, mask = random_case(16, 32, 32)
    cache = StageCache()
    p = InitParams(width=32, height=32, seed=1)
    for value in range(20):
        r = run_init(img, mask, p, vae=Constant(float(value)), cache=cache)
        assert torch.all(r.encoded_latent == value)
        gc.collect()


def test_kl_posterior_copies_share_the_cache_but_new_loads_do_not(tmp_path):
    from inpaint_init.vae_loaders import load_vae
    from vae_factories import tiny_kl

    tiny_kl().save_pretrained(tmp_path / "vae")
    a = load_vae(tmp_path / "vae", device="cpu")
    assert a.with_posterior("sample", 0).cache_identity == a.cache_identity
    assert a.with_posterior("mean", 0).cache_identity != a.cache_identity
    assert load_vae(tmp_path / "vae", device="cpu").cache_identity != a.cache_identity

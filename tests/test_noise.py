"""The webui's random sources (spec §11): Philox/NV bit for bit, variation seeds, seed resize,
and which noise goes where."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inpaint_init import InitParams, run_init
from inpaint_init.noise import NVGenerator, first_draw, first_draws, image_rng_first, philox4x32_10, slerp
from inpaint_init.sampler import img2img_timestep, plan_img2img, start_latent
from tests.test_pipeline import random_case

# --- Philox4x32-10 -----------------------------------------------------------------------------

# Random123's published known answers (kat_vectors): counter words, key words → output words.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0), (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    out = philox4x32_10(np.array(counter, np.uint32).reshape(4, 1), key)
    assert tuple(int(v) for v in out[:, 0]) == expected


def _philox_scalar(c, k):
    """Philox4x32-10 on Python ints, one block: the plain reading of the spec's round."""
    c0, c1, c2, c3 = c
    k0, k1 = k
    for r in range(10):
        p0, p1 = c0 * 0xD2511F53, c2 * 0xCD9E8D57
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c3 ^ k1, p0 & 0xFFFFFFFF
        if r < 9:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c0, c1, c2, c3


def _nv_scalar(seed, offset, i):
    """One NV value the slow way: Philox on ints, Box–Muller in float64 with the webui's float32
    constants, rounded to float32 at the end."""
    seed %= 2**64
    x, y, _, _ = _philox_scalar((offset, 0, i, 0), (seed & 0xFFFFFFFF, seed >> 32))
    a = float(np.float32(2.3283064e-10))
    b = float(np.float32(2.3283064e-10 * 6.2831855))
    u, v = x * a + a / 2, y * b + b / 2
    return np.float32(math.sqrt(-2.0 * math.log(u)) * math.sin(v))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 3), st.integers(1, 40))
def test_nv_matches_a_plain_scalar_implementation(seed, calls_before, n):
    g = NVGenerator(seed)
    for _ in range(calls_before):
        g.randn((3,))
    values = g.randn((n,))
    expected = np.array([_nv_scalar(seed, calls_before, i) for i in range(n)], np.float32)
    assert np.array_equal(values, expected)


def test_nv_check_values_from_the_spec():
    g = NVGenerator(0)
    first = g.randn((3, 4))
    expected = [
        [-0.924662411, -0.425343961, -2.6438458, 0.145183876],
        [-0.120866507, -0.579725683, -0.622851312, -0.328387141],
        [-1.07454205, -0.3631441, -1.67105043, 2.26550508],
    ]
    assert np.array_equal(first, np.array(expected, np.float32))
    second = g.randn((2,))  # offset 1, whatever the first call's size
    assert np.array_equal(second, np.array([0.180825889, -0.552262723], np.float32))
    big = NVGenerator(1).randn((4, 64, 64))
    assert big[0, 0, 0] == np.float32(-0.296277821) and big[3, 63, 63] == np.float32(0.734359264)


def test_nv_statistics_look_standard_normal():
    from scipy import stats

    x = NVGenerator(1234).randn((200_000,)).astype(np.float64)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01
    assert stats.kstest(x, "norm").pvalue > 1e-3
    # Successive values are independent (no correlation between neighbours).
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01


# --- the three sources ---------------------------------------------------------------------------


def test_cpu_source_is_torch_manual_seed_then_randn():
    state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    expected = torch.randn(4, 3, 5)
    torch.random.set_rng_state(state)
    assert torch.equal(first_draw(1234, (4, 3, 5), "CPU"), expected)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched


@pytest.mark.skipif(torch.cuda.is_available(), reason="without CUDA, GPU means the NV stream")
def test_gpu_without_cuda_is_the_nv_stream():
    assert torch.equal(first_draw(7, (4, 8, 8), "GPU"), torch.from_numpy(NVGenerator(7).randn((4, 8, 8))))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: compares the device's own draw with our Philox")
def test_gpu_on_cuda_is_within_a_few_ulps_of_nv():
    for seed in (0, 1, 12345, 2**40 + 7):
        cuda = first_draw(seed, (4, 64, 64), "GPU")
        nv = torch.from_numpy(NVGenerator(seed).randn((4, 64, 64)))
        ulp = torch.finfo(torch.float32).eps * nv.abs().clamp(min=1)
        assert ((cuda - nv).abs() <= 4 * ulp).all(), seed


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="randn_source"):
        first_draw(1, (2,), "MPS")


# --- variation seed and seed resize -----------------------------------------------------------------


def test_slerp_by_hand():
    low = torch.tensor([[[1.0], [0.0]]])  # one channel, one column of height 2
    high = torch.tensor([[[0.0], [1.0]]])
    mid = slerp(0.5, low, high)
    assert torch.allclose(mid[0, :, 0], torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    # Strength 1 gives the subseed's noise exactly; 0 the seed's (up to rounding).
    assert torch.equal(slerp(1.0, low, high), high)
    assert torch.allclose(slerp(0.0, low, high), low, atol=1e-7)


def test_slerp_of_equal_noises_takes_the_reversed_linear_blend():
    a = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(0))
    # Nearly equal (mean cosine > 0.9995): a·s + b·(1−s), weights reversed, as the webui does.
    b = a + 1e-4
    assert torch.equal(slerp(0.3, a, b), a * 0.3 + b * 0.7)


def test_variation_strength_one_is_the_subseed_noise():
    x = image_rng_first((4, 8, 8), [5, 5], subseeds=[9, 10], subseed_strength=1.0, source="NV")
    assert torch.equal(x[0], first_draw(9, (4, 8, 8), "NV")) and torch.equal(x[1], first_draw(10, (4, 8, 8), "NV"))
    # A subseed list that is too short counts as subseed 0.
    y = image_rng_first((4, 8, 8), [5, 5], subseeds=[9], subseed_strength=1.0, source="CPU")
    assert torch.equal(y[1], first_draw(0, (4, 8, 8), "CPU"))
    # Strength 0: the subseed is not drawn at all.
    z = image_rng_first((4, 8, 8), [5], subseeds=[9], subseed_strength=0.0, source="CPU")
    assert torch.equal(z[0], first_draw(5, (4, 8, 8), "CPU"))


def test_seed_resize_512x768_from_512x512_pastes_rows_16_to_79():
    x = image_rng_first((4, 96, 64), [3], seed_resize_from_h=512, seed_resize_from_w=512, source="NV")[0]
    small = first_draw(3, (4, 64, 64), "NV")
    full = first_draw(3, (4, 96, 64), "NV")
    assert torch.equal(x[:, 16:80], small)
    assert torch.equal(x[:, :16], full[:, :16]) and torch.equal(x[:, 80:], full[:, 80:])


def test_seed_resize_512_from_520_cuts_the_centre_with_floor_division():
    x = image_rng_first((4, 64, 64), [3], seed_resize_from_h=520, seed_resize_from_w=520, source="CPU")[0]
    small = first_draw(3, (4, 65, 65), "CPU")
    full = first_draw(3, (4, 64, 64), "CPU")
    # dx = (64 − 65) // 2 = −1: 63 columns/rows from the small draw's index 1 on; row and column 63 stay.
    assert torch.equal(x[:, :63, :63], small[:, 1:64, 1:64])
    assert torch.equal(x[:, 63], full[:, 63]) and torch.equal(x[:, :, 63], full[:, :, 63])


def test_seed_resize_needs_both_sides():
    plain = image_rng_first((4, 8, 8), [3], seed_resize_from_h=-1, seed_resize_from_w=128, source="CPU")
    assert torch.equal(plain, first_draws((4, 8, 8), [3], "CPU"))


def test_variation_only_in_the_pasted_part():
    kw = dict(seed_resize_from_h=512, seed_resize_from_w=512, source="CPU")
    x = image_rng_first((4, 96, 64), [3], subseeds=[8], subseed_strength=0.5, **kw)[0]
    base = image_rng_first((4, 96, 64), [3], **kw)[0]
    assert torch.equal(x[:, :16], base[:, :16]) and not torch.equal(x[:, 16:80], base[:, 16:80])
    expected = slerp(0.5, first_draw(3, (4, 64, 64), "CPU"), first_draw(8, (4, 64, 64), "CPU"))
    assert torch.equal(x[:, 16:80], expected)


# --- the sampler's start ------------------------------------------------------------------------------


def test_kdiffusion_start_with_multiplier_and_extra_noise_by_hand():
    plan = plan_img2img("Euler", 20, 0.75)
    init, noise = torch.zeros(1, 4, 2, 2), torch.ones(1, 4, 2, 2)
    out = start_latent(init, noise, plan, noise_multiplier=0.5, extra_noise=0.2)
    # x = 0.5·noise; init + x·σ_start + x·e (extra noise is not scaled by σ)
    assert torch.allclose(out, torch.full_like(init, 0.5 * plan.sigma_start + 0.5 * 0.2))
    assert torch.allclose(start_latent(init + 1, noise, plan), torch.full_like(init, 1 + plan.sigma_start))


def test_timesteps_start_by_hand():
    assert img2img_timestep(20, 15) == 751  # range(0, 1000, 50) + 1, index 15
    assert img2img_timestep(1000, 999) == 999  # 1000 + 1 is clipped to 999
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    a = float(np.float32(np.cumprod(1 - betas)[751]))
    plan = plan_img2img("DDIM", 20, 0.75)
    init, noise = torch.full((1, 4, 1, 1), 2.0), torch.ones(1, 4, 1, 1)
    out = start_latent(init, noise, plan, extra_noise=0.1)
    expected = 2 * math.sqrt(a) + math.sqrt(1 - a) + 0.1 * math.sqrt(a)
    assert torch.allclose(out, torch.full_like(init, expected), atol=1e-6)


# --- in the pipeline ----------------------------------------------------------------------------------


def test_default_source_is_gpu_and_latent_noise_is_the_seeds_first_draw():
    assert InitParams().randn_source == "GPU"
    img, mask = random_case(2, 64, 64)
    for source in ("GPU", "CPU", "NV"):
        r = run_init(img, mask, InitParams(width=64, height=64, inpainting_fill=2, seed=11, batch_size=2, randn_source=source))
        assert torch.equal(r.latent_noise, first_draws((4, 8, 8), [11, 12], source)), source
        # No variation, no resize: the sampler starts from the same noise.
        assert torch.equal(r.start_noise, r.latent_noise)
        assert source in r.noise_source


def test_variation_seed_in_the_pipeline():
    img, mask = random_case(2, 64, 64)
    p = InitParams(width=64, height=64, inpainting_fill=2, seed=11, subseed=40, subseed_strength=0.25, batch_size=2, randn_source="NV")
    r = run_init(img, mask, p)
    # With a variation strength every image keeps the seed itself; subseeds count up.
    assert r.seeds == [11, 11] and r.subseeds == [40, 41]
    # The latent-noise fill ignores the variation; the sampler's start uses it.
    assert torch.equal(r.latent_noise[0], r.latent_noise[1])
    assert torch.equal(r.latent_noise, first_draws((4, 8, 8), [11, 11], "NV"))
    expected = torch.stack([slerp(0.25, first_draw(11, (4, 8, 8), "NV"), first_draw(s, (4, 8, 8), "NV")) for s in (40, 41)])
    assert torch.equal(r.start_noise, expected)
    assert torch.equal(r.start_latent, start_latent(r.init_latent, expected, r.sampler_plan))


def test_sizes_not_multiple_of_8_follow_the_floor():
    img, mask = random_case(4, 90, 70)
    r = run_init(img, mask, InitParams(width=100, height=76, inpainting_fill=2, seed=1))
    assert tuple(r.init_latent.shape) == (1, 4, 76 // 8, 100 // 8) and tuple(r.mask.shape) == (4, 9, 12)
    assert r.processed_images[0].size == (100, 76)
    assert any("last 4 columns and 4 rows are lost" in n for n in r.notes)


def test_latent_upscale_of_an_odd_sized_image_encodes_then_interpolates():
    img, mask = random_case(5, 451 // 4, 300 // 4)  # 112×75: not multiples of 8
    r = run_init(img, mask, InitParams(width=64, height=64, resize_mode=3))
    assert tuple(r.encoded_latent.shape) == (1, 4, 8, 8)


def test_a_batch_counting_past_the_seed_range_is_a_clear_error():
    from inpaint_init import InitError

    img, mask = random_case(2, 16, 16)
    with pytest.raises(InitError, match="seed of the batch is outside"):
        run_init(img, mask, InitParams(width=16, height=16, seed=2**64 - 1, batch_size=2))

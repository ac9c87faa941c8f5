"""Soft inpainting, pinned by the worked cases of soft-inpainting.md and by plain loops written
from its text (the extension is AGPL; nothing here comes from its code)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from inpaint_init import InitParams, run_init
from inpaint_init.sampler import plan_img2img
from inpaint_init.soft_inpainting import (
    KERNEL,
    SIMULATED,
    SOFT_PARAMS,
    UPLOADED,
    blend_weight,
    denoiser_sigmas,
    difference_to_mask,
    mask_scalar,
    soft_blend,
    weighted_histogram_filter,
)
from inpaint_init.webui_io import params_from_infotext, parse_api_payload, to_api_payload, to_infotext


# ---------------------------------------------------------------- parameters
def test_six_sliders_have_the_webui_labels_defaults_and_ranges():
    table = {sp.label: (sp.name, sp.default, sp.minimum, sp.maximum, sp.step) for sp in SOFT_PARAMS}
    assert table == {
        "Schedule bias": ("mask_blend_power", 1, 0, 8, 0.1),
        "Preservation strength": ("mask_blend_scale", 0.5, 0, 8, 0.05),
        "Transition contrast boost": ("inpaint_detail_preservation", 4, 1, 32, 0.5),
        "Mask influence": ("composite_mask_influence", 0, 0, 1, 0.05),
        "Difference threshold": ("composite_difference_threshold", 0.5, 0, 8, 0.25),
        "Difference contrast": ("composite_difference_contrast", 2, 0, 8, 0.25),
    }
    defaults = InitParams()
    assert defaults.soft_inpainting is False
    assert all(getattr(defaults, sp.name) == sp.default for sp in SOFT_PARAMS)


@pytest.mark.parametrize(
    "change, word",
    [
        (dict(mask_blend_scale=-1), "mask_blend_scale"),
        (dict(inpaint_detail_preservation=0), "inpaint_detail_preservation"),
        (dict(composite_mask_influence=1.5), "composite_mask_influence"),
        (dict(composite_difference_contrast=float("nan")), "composite_difference_contrast"),
        (dict(soft_inpainting="yes"), "soft_inpainting"),
    ],
)
def test_bad_soft_values_are_named(change, word):
    from inpaint_init import InitError

    with pytest.raises(InitError, match=word):
        InitParams(**change).validate()


# ---------------------------------------------------------------- the blend (§2)
@pytest.mark.parametrize(
    "sigma, expected",
    [
        (14.61, [0, 4.0e-5, 0.0063, 0.122, 1]),
        (1.0, [0, 0.5, 0.707, 0.866, 1]),
        (0.1, [0, 0.933, 0.966, 0.986, 1]),
    ],
)
def test_blend_weight_spec_examples_fp16(sigma, expected):
    nmask = torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float16)
    w = blend_weight(nmask, sigma, power=1, scale=0.5)
    assert w.dtype == torch.float16
    for got, want in zip(w.float().tolist(), expected):
        assert got == pytest.approx(want, rel=0.02, abs=1e-6)


def test_blend_weight_zero_strength_preserves_nothing():
    # 0^0 = 1: with preservation strength 0 even nmask = 0 keeps the sampled latent.
    w = blend_weight(torch.tensor([0.0, 0.3, 1.0]), 5.0, power=1, scale=0)
    assert w.tolist() == [1.0, 1.0, 1.0]


def test_soft_blend_worked_example():
    a = torch.tensor([1.0, 0, 0, 0]).view(4, 1, 1)
    b = torch.tensor([0, 1.0, 0, 0]).view(4, 1, 1)
    out = soft_blend(a, b, torch.full((4, 1, 1), 0.5), 4).flatten()
    assert out[:2].tolist() == pytest.approx([0.70710, 0.70710], abs=1e-5)
    assert out[2:].tolist() == [0, 0]  # a plain lerp would give 0.5, 0.5


def _soft_blend_plain(a, b, t, d):
    """One latent pixel at a time, from the spec's four steps, in Python floats."""
    c, h, w = a.shape
    out = np.zeros((c, h, w))
    for y in range(h):
        for x in range(w):
            lerp = [a[k, y, x] * (1 - t[k, y, x]) + b[k, y, x] * t[k, y, x] for k in range(c)]
            nl = math.sqrt(sum(v * v for v in lerp))
            na = math.sqrt(sum(a[k, y, x] ** 2 for k in range(c)))
            nb = math.sqrt(sum(b[k, y, x] ** 2 for k in range(c)))
            t0 = t[0, y, x]
            target = (na**d * (1 - t0) + nb**d * t0) ** (1 / d)
            out[:, y, x] = [v * target / (nl + 1e-5) for v in lerp]
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1, 32))
def test_soft_blend_matches_plain_loop(seed, d):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(4, 3, 5, generator=g, dtype=torch.float64), torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    t = torch.rand(1, 3, 5, generator=g, dtype=torch.float64).expand(4, 3, 5)
    got = soft_blend(a, b, t, d).numpy()
    np.testing.assert_allclose(got, _soft_blend_plain(a.numpy(), b.numpy(), t.numpy(), d), rtol=1e-9, atol=1e-12)


def test_soft_blend_ends_are_the_inputs():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 6, 6, generator=g), torch.randn(4, 6, 6, generator=g)
    torch.testing.assert_close(soft_blend(a, b, torch.zeros(4, 6, 6), 4), a, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(soft_blend(a, b, torch.ones(4, 6, 6), 4), b, atol=1e-4, rtol=1e-4)


def test_denoiser_calls_ddim_are_timesteps_without_index_0():
    sig = denoiser_sigmas(plan_img2img("DDIM", 20, 0.75))
    assert sig.tolist() == list(range(701, 0, -50))[:-1]  # 701, 651, … 51
    assert len(sig) == 14


@pytest.mark.parametrize("sampler", ["Euler", "Euler a", "DPM++ 2M"])
def test_denoiser_calls_kdiffusion_one_per_step_never_at_zero(sampler):
    plan = plan_img2img(sampler, 20, 0.75)
    sig = denoiser_sigmas(plan)
    assert len(sig) == plan.t_enc + 1 == plan.steps_run
    assert sig[0] == plan.sigma_start and (sig > 0).all()
    assert (np.diff(sig) < 0).all()


# ---------------------------------------------------------------- the overlay (§3)
def test_kernel_values_from_the_spec():
    assert KERNEL[2, 2] == 1
    for (dy, dx), want in {(0, 1): 0.634486, (1, 1): 0.400125, (0, 2): 0.153509, (1, 2): 0.091733, (2, 2): 0.010441}.items():
        assert KERNEL[2 + dy, 2 + dx] == pytest.approx(want, abs=1e-6)
        assert KERNEL[2 - dx, 2 - dy] == KERNEL[2 + dy, 2 + dx]
    assert KERNEL.sum() == pytest.approx(6.528106, abs=1e-6)


def _filter_plain(values: np.ndarray, pmin: float, pmax: float) -> np.ndarray:
    """A pixel at a time, written from §3.3's words."""
    h, w = values.shape
    out = np.zeros((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            items = []
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        items.append((float(values[y + dy, x + dx]), float(KERNEL[dy + 2, dx + 2])))
            items.sort(key=lambda it: it[0])
            total = 0.0
            for _, wt in items:
                total += wt
            lo, hi = total * pmin, total * pmax
            if hi - lo < 1:
                c = (lo + hi) / 2
                lo, hi = c - 0.5, c + 0.5
                if hi > total:
                    lo, hi = total - 1, total
                if lo < 0:
                    lo, hi = 0.0, 1.0
            acc = weight = 0.0
            start = 0.0
            for v, wt in items:
                ov = max(0.0, min(hi, start + wt) - max(lo, start))
                acc += v * ov
                weight += ov
                start += wt
            out[y, x] = acc / weight if weight > 0 else 0.0
    return out


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.25])),
    st.sampled_from([(0.9, 1.0), (0.25, 0.75), (0.0, 0.1), (0.0, 1.0)]),
)
def test_weighted_filter_matches_plain_loop_with_ties(values, window):
    np.testing.assert_allclose(weighted_histogram_filter(values, *window), _filter_plain(values, *window), rtol=1e-6, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 12), st.integers(1, 12))
def test_weighted_filter_matches_plain_loop_random(seed, h, w):
    values = np.random.default_rng(seed).gamma(2.0, size=(h, w)).astype(np.float32)
    for window in ((0.9, 1.0), (0.25, 0.75)):
        np.testing.assert_allclose(weighted_histogram_filter(values, *window), _filter_plain(values, *window), rtol=1e-6)


def test_first_pass_is_a_soft_maximum():
    # One spike of 10 among zeros: the top 1.0 of weight at the spike is the spike alone; one
    # pixel away, the spike's weight 0.634 plus 0.366 of zeros.
    v = np.zeros((9, 9), np.float32)
    v[4, 4] = 10
    f = weighted_histogram_filter(v, 0.9, 1.0)
    assert f[4, 4] == pytest.approx(10)
    assert f[4, 5] == pytest.approx(10 * KERNEL[2, 3], rel=1e-6)
    assert f[0, 0] == 0


def test_difference_to_mask_worked_values():
    f = np.array([0, 0.5, 1, 2, 4], np.float32)
    assert difference_to_mask(f, np.ones(5, np.float32), 2).tolist() == [0, 14, 127, 240, 254]
    assert difference_to_mask(f, np.ones(5, np.float32), 0).tolist() == [127] * 5
    # h = 0: x = f/0 = inf → take the generated pixel; 0/0 (unverified in the spec) → keep the original
    assert difference_to_mask(np.array([1.0, 0.0], np.float32), np.zeros(2, np.float32), 2).tolist() == [255, 0]


def test_mask_scalar_influence():
    m = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert mask_scalar(m, 0.5, 0.0).tolist() == [[pytest.approx(0.5 / 0.50001)] * 3]
    s1 = mask_scalar(m, 0.5, 1.0)[0]
    # I = 1: s = 1 − m^(K/2), then s/(1.00001 − s); m = 1 gives 0, so h = T·s = 0 there
    assert s1[2] == 0
    # float32: 1.00001 − 1 is 1.00136e-5 there, so m = 0 gives 99864, not 100000
    assert s1[0] == pytest.approx(1 / (float(np.float32(1.00001)) - 1), rel=1e-6)
    assert s1[1] == pytest.approx((1 - 0.5**0.25) / (1.00001 - (1 - 0.5**0.25)), rel=1e-5)


# ---------------------------------------------------------------- through run_init
def _scene(size=64):
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    alpha = np.zeros((size, size), np.uint8)
    alpha[16:44, 20:40] = 255
    alpha[16:44, 40:44] = 90  # a faint brush edge: ≤ 128 is dropped when the mask is rounded
    mask = Image.merge("RGBA", (*Image.new("RGB", (size, size), "white").split(), Image.fromarray(alpha)))
    return image, mask


def test_before_sampling_soft_is_exactly_mask_round_off():
    image, mask = _scene()
    base = InitParams(width=64, height=64, seed=5, mask_blur_x=6, mask_blur_y=6, inpainting_fill=2, model_kind="inpainting")
    soft = run_init(image, mask, base.replace(soft_inpainting=True))
    plain = run_init(image, mask, base.replace(mask_round=False))
    rounded = run_init(image, mask, base)
    for name in ("init_latent", "mask", "nmask", "image_conditioning", "start_latent"):
        torch.testing.assert_close(getattr(soft, name), getattr(plain, name), rtol=0, atol=0)
    assert np.array_equal(np.asarray(soft.binary_mask), np.asarray(plain.binary_mask))
    # and it is not the rounded job: the faint edge survives, the latent mask has soft values
    assert 90 in np.asarray(soft.binary_mask)
    assert 90 not in np.asarray(rounded.binary_mask)
    assert not set(soft.nmask.unique().tolist()) <= {0.0, 1.0}


def test_sdxl_inpaint_conditioning_rounds_even_with_soft():
    image, mask = _scene()
    r = run_init(image, mask, InitParams(width=64, height=64, seed=5, soft_inpainting=True, model_kind="inpainting-sdxl"))
    assert set(r.conditioning_mask.unique().tolist()) <= {0.0, 1.0}
    assert not set(r.nmask.unique().tolist()) <= {0.0, 1.0}


def test_preview_weights_follow_the_schedule():
    image, mask = _scene()
    p = InitParams(width=64, height=64, seed=5, mask_blur_x=6, mask_blur_y=6, soft_inpainting=True, sampler_name="Euler")
    r = run_init(image, mask, p)
    plan = r.sampler_plan
    assert r.soft.weights.shape == (plan.steps_run, 8, 8)
    n16 = r.nmask[0].half()
    for i, sigma in enumerate(denoiser_sigmas(plan)):
        expected = n16 ** float(np.float32(sigma) * np.float32(0.5))
        torch.testing.assert_close(r.soft.weights[i], expected, rtol=0, atol=0)
    # later calls (smaller σ) free more of the edge
    edge = (r.nmask[0] > 0) & (r.nmask[0] < 1)
    assert edge.any()
    assert (r.soft.weights[-1][edge] >= r.soft.weights[0][edge]).all()


def test_preview_overlay_keeps_the_original_where_the_result_is_unchanged():
    image, mask = _scene()
    p = InitParams(width=64, height=64, seed=5, soft_inpainting=True)
    # the result image = the init image: its latent is the init latent, d = 0, mask 0 everywhere
    r = run_init(image, mask, p, result_image=image)
    assert r.soft.result_source == UPLOADED
    assert float(np.abs(r.soft.distance).max()) == 0
    assert np.asarray(r.soft.overlay_mask).max() == 0
    assert np.asarray(r.soft.overlay)[..., 3].min() == 255  # the overlay is the whole original


def test_preview_overlay_takes_the_result_where_it_differs():
    image, mask = _scene()
    p = InitParams(width=64, height=64, seed=5, soft_inpainting=True)
    changed = image.copy()
    changed.paste((255, 0, 255), (16, 16, 40, 44))
    r = run_init(image, mask, p, result_image=changed)
    m = np.asarray(r.soft.overlay_mask)
    # The filters spread a difference ~2 latent cells and the default threshold (0.5) is small
    # next to this change's distance (~12), so the taken area reaches well past the change.
    assert m[30, 28] > 200 and m[63, 63] < 100
    strict = run_init(image, mask, p.replace(composite_difference_threshold=8), result_image=changed)
    ms = np.asarray(strict.soft.overlay_mask)
    assert ms[30, 28] > 200 and (ms > 127).sum() < (m > 127).sum()


def test_preview_simulated_result_only_masked_is_zero_outside_the_crop():
    image, mask = _scene(96)
    p = InitParams(width=64, height=64, seed=5, soft_inpainting=True, inpaint_full_res=True, inpaint_full_res_padding=4)
    r = run_init(image, mask, p)
    assert r.soft.result_source == SIMULATED
    m = np.asarray(r.soft.overlay_mask)
    assert m.shape == (96, 96)
    x, y, w, h = r.paste_to
    outside = np.ones_like(m, bool)
    outside[y : y + h, x : x + w] = False
    assert m[outside].max() == 0 and m[~outside].max() > 0
    assert r.soft.overlay.size == image.size


def test_preview_off_without_soft_or_mask():
    image, mask = _scene()
    assert run_init(image, mask, InitParams(width=64, height=64, seed=1)).soft is None
    assert run_init(image, None, InitParams(width=64, height=64, seed=1, soft_inpainting=True)).soft is None


# ---------------------------------------------------------------- infotext and API
def test_infotext_round_trip():
    p = InitParams(seed=3, soft_inpainting=True, mask_blend_power=2.5, composite_difference_contrast=3.25)
    text = to_infotext(p)
    assert "Soft inpainting enabled: True" in text and "Soft inpainting schedule bias: 2.5" in text
    back = params_from_infotext(text).params
    assert back.soft_inpainting and back.mask_blend_power == 2.5 and back.composite_difference_contrast == 3.25
    assert back.mask_blend_scale == 0.5
    # absent keys: soft inpainting off, even onto a base that had it on
    assert not params_from_infotext("Steps: 20, Mask blur: 4", base=p).params.soft_inpainting


def _body(**extra):
    import base64
    import io

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "gray").save(buf, format="PNG")
    return {"init_images": [base64.b64encode(buf.getvalue()).decode()], "width": 64, "height": 64} | extra


def test_api_alwayson_scripts():
    job = parse_api_payload(_body(alwayson_scripts={"Soft Inpainting": {"args": [True, 2, 1.5]}}))
    p = job.params
    assert p.soft_inpainting and p.mask_blend_power == 2 and p.mask_blend_scale == 1.5
    assert p.inpaint_detail_preservation == 4  # missing trailing args take the defaults
    assert any("not given" in n for n in job.notes)
    off = parse_api_payload(_body(alwayson_scripts={"ADetailer": {"args": []}})).params
    assert not off.soft_inpainting
    from inpaint_init import InitError

    with pytest.raises(InitError, match="Schedule bias"):
        parse_api_payload(_body(alwayson_scripts={"soft inpainting": {"args": [True, "2"]}}))


def test_api_body_round_trip():
    p = InitParams(width=64, height=64, seed=3, soft_inpainting=True, composite_mask_influence=0.25)
    back = parse_api_payload(_body(**to_api_payload(p))).params
    assert back.soft_inpainting and back.composite_mask_influence == 0.25


# ---------------------------------------------------------------- issue 23: fp16 as the extension runs it
from inpaint_init.sampler import SAMPLERS  # noqa: E402
from inpaint_init.soft_inpainting import RUN_FP16, RUN_FP32, overlay_mask, soft_preview  # noqa: E402
from inpaint_init.soft_plots import blend_lines, edge_row  # noqa: E402

#: Every k/255 a latent mask can hold, stored in fp16 as on a usual GPU run.
NMASK16 = (torch.arange(256, dtype=torch.float32) / 255).half()
SLIDER_P = [round(0.1 * i, 1) for i in range(81)]  # Schedule bias 0–8, step 0.1
SLIDER_K = [round(0.05 * i, 2) for i in range(161)]  # Preservation strength 0–8, step 0.05
STRENGTHS = [round(0.05 * i, 2) for i in range(21)]


def _weight_like_the_extension(n16, sigma, power, scale):
    """What the extension's fp16 weight is (issue 23, checked against its code by a reviewer):
    σ^P·K on a 0-d float32 tensor, then cast to fp16 by torch.pow; where that cast overflows,
    nmask^inf = 0 below 1 and 1 at 1; elsewhere the plain fp16 power with that exponent."""
    e32 = float(torch.tensor(float(sigma), dtype=torch.float32) ** float(power) * float(scale))
    with np.errstate(over="ignore"):
        e16 = float(np.float16(e32))
    if math.isinf(e16):
        return (n16 == 1).to(torch.float16)
    return n16 ** e16


def _all_sigmas(sampler):
    return sorted({float(s) for k in STRENGTHS for fix in (False, True) if not (fix and k == 0)
                   for s in denoiser_sigmas(plan_img2img(sampler, 20, k, fix))})


def test_blend_weight_whole_slider_grid_at_the_extreme_calls():
    # σ^P·K is monotone in σ for P, K ≥ 0, so over every run of every sampler the exponent
    # lies between its values at the smallest and the largest σ any call sees.
    sigmas = [s for name in SAMPLERS for s in _all_sigmas(name)]
    overflowed = 0
    for sigma in (min(sigmas), max(sigmas)):
        for power in SLIDER_P:
            for scale in SLIDER_K:
                w = blend_weight(NMASK16, sigma, power, scale)
                want = _weight_like_the_extension(NMASK16, sigma, power, scale)
                assert w.dtype == torch.float16
                assert torch.equal(w, want), (sigma, power, scale)
                overflowed += bool(sigma**power * scale > 65520)
    assert overflowed > 1000  # the grid does reach the exponents that used to raise


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_blend_weight_every_call_of_every_strength(sampler):
    for strength in STRENGTHS:
        for sigma in denoiser_sigmas(plan_img2img(sampler, 20, strength)):
            for power in (0, 0.1, 1, 1.8, 4.4, 8):
                for scale in (0, 0.5, 8):
                    assert torch.equal(blend_weight(NMASK16, sigma, power, scale), _weight_like_the_extension(NMASK16, sigma, power, scale))


@pytest.mark.parametrize(
    "sampler, strength, power, scale",
    [("DDIM", 0.75, 1.8, 0.5), ("Euler", 1.0, 4.4, 0.5), ("DPM++ 2M", 1.0, 8, 8), ("Euler a", 0.5, 8, 8)],
)
def test_run_init_survives_the_exponents_that_crashed(sampler, strength, power, scale):
    # Issue 23: these raised "value cannot be converted to type c10::Half without overflow".
    image, mask = _scene()
    p = InitParams(width=64, height=64, seed=5, mask_blur_x=6, mask_blur_y=6, soft_inpainting=True, sampler_name=sampler,
                   denoising_strength=strength, mask_blend_power=power, mask_blend_scale=scale)
    r = run_init(image, mask, p)
    first = r.soft.weights[0]
    n16 = r.nmask[0].half()
    assert torch.equal(first, (n16 == 1).half())  # saturated: 0 or 1 only


def _blend_lines_plain(a, b, t16, d, row):
    """|soft blend| and |plain lerp| along ``row`` from the spec's steps, t in fp16 as the
    extension gets it: 1 − t rounded in fp16, the lerp in the latents' float32, the norms
    float32 → float64, the target in float64 (t0 upcast), the factor back to float32."""
    a, b, t16 = a.astype(np.float32), b.astype(np.float32), t16.astype(np.float16)
    one_minus = np.float16(1) - t16
    lerp = a * one_minus.astype(np.float32) + b * t16.astype(np.float32)
    norm = lambda v: np.sqrt((v.astype(np.float64) ** 2).sum(0))  # noqa: E731
    t0 = t16[0].astype(np.float64)
    target = (norm(a) ** d * (1 - t0) + norm(b) ** d * t0) ** (1 / d)
    out = lerp * (target / (norm(lerp) + 1e-5)).astype(np.float32)
    return norm(out)[row], norm(lerp)[row]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1, 32))
def test_soft_blend_with_fp16_weight_matches_plain_fp16_recomputation(seed, d):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, 5, generator=g)
    t = torch.rand(1, 3, 5, generator=g).half().expand(4, 3, 5)
    got = torch.linalg.vector_norm(soft_blend(a, b, t, d), dim=0).numpy()
    for row in range(3):
        np.testing.assert_allclose(got[row], _blend_lines_plain(a.numpy(), b.numpy(), t.numpy(), d, row)[0], rtol=2e-6)


def test_blend_view_lines_are_the_fp16_blend():
    image, mask = _scene()
    # DDIM's last call (timestep 51) leaves w well inside (0, 0.5), where 1 − t rounds in fp16.
    p = InitParams(width=64, height=64, seed=5, mask_blur_x=8, mask_blur_y=8, soft_inpainting=True, sampler_name="DDIM")
    r = run_init(image, mask, p)
    soft = r.soft
    assert soft.weights.dtype == torch.float16
    a, noise = r.init_latent[0].float(), r.start_noise[0].float()
    t16 = soft.weights[-1].expand_as(a).numpy()
    worst_upcast = 0.0
    for row in range(a.shape[1]):
        got = blend_lines(soft, r.init_latent[0], r.start_noise[0], p.inpaint_detail_preservation, row)
        want = _blend_lines_plain(a.numpy(), (a + noise).numpy(), t16, p.inpaint_detail_preservation, row)
        np.testing.assert_allclose(got[0], want[0], rtol=2e-6, atol=1e-7)
        np.testing.assert_allclose(got[1], want[1], rtol=2e-6, atol=1e-7)
        # the old view's float32 t: measurably elsewhere, so the check above can fail
        t32 = t16.astype(np.float32)
        old = np.sqrt(((a.numpy() * (np.float32(1) - t32) + (a + noise).numpy() * t32).astype(np.float64) ** 2).sum(0))[row]
        rel = np.abs(old - want[1]) / np.maximum(np.abs(want[1]), 1e-6)
        worst_upcast = max(worst_upcast, float(rel.max()))
    print(f"old float32-t plain lerp off by up to {worst_upcast:.2e} relative")
    assert worst_upcast > 1e-5


def _soft_edge_job(**extra):
    image, mask = _scene()
    return image, mask, InitParams(width=64, height=64, seed=5, mask_blur_x=6, mask_blur_y=6, soft_inpainting=True,
                                   composite_mask_influence=0.75, **extra)


def test_overlay_chain_uses_the_fp16_nmask_of_the_weights():
    image, mask, p = _soft_edge_job()
    r = run_init(image, mask, p)
    soft = r.soft
    n16 = r.nmask[0].half().float().numpy()
    assert soft.weights.dtype == torch.float16 and soft.run == RUN_FP16
    assert soft.nmask0.dtype == np.float32 and np.array_equal(soft.nmask0, n16)
    s16 = mask_scalar(n16, p.mask_blend_scale, p.composite_mask_influence)
    s32 = mask_scalar(r.nmask[0].float().numpy(), p.mask_blend_scale, p.composite_mask_influence)
    assert np.array_equal(soft.mask_scalar, s16)
    assert not np.array_equal(s16, s32)  # the dtype matters with Mask influence > 0
    assert np.array_equal(soft.half_distance, np.float32(p.composite_difference_threshold) * s16)
    _, _, expected = overlay_mask(soft.result_latent, r.init_latent[0], n16, 64, 64, scale=p.mask_blend_scale,
                                  influence=p.composite_mask_influence, threshold=p.composite_difference_threshold,
                                  contrast=p.composite_difference_contrast)
    assert np.array_equal(np.asarray(soft.overlay_mask), np.asarray(expected))
    # the overlay keeps the original through invert(mask): its alpha is 255 − mask
    assert np.array_equal(np.asarray(soft.overlay)[..., 3], 255 - np.asarray(expected))
    assert any(RUN_FP16 in n for n in r.notes)
    from inpaint_init.views import render_views

    views = render_views(r, image)
    assert RUN_FP16 in views["soft_overlay"].caption and RUN_FP16 in views["soft_blend"].caption


def test_overlay_chain_float32_run_on_request():
    image, mask, p = _soft_edge_job()
    r = run_init(image, mask, p)
    soft = soft_preview(p, r.sampler_plan, r.nmask, r.init_latent[0], r.start_noise[0], None, None, half=False)
    assert soft.weights.dtype == torch.float32 and soft.run == RUN_FP32
    n32 = r.nmask[0].float().numpy()
    assert np.array_equal(soft.nmask0, n32)
    assert np.array_equal(soft.mask_scalar, mask_scalar(n32, p.mask_blend_scale, p.composite_mask_influence))
    assert torch.equal(soft.weights[0], blend_weight(r.nmask[0].float(), soft.sigmas[0], p.mask_blend_power, p.mask_blend_scale))


def test_resize_mode_3_says_the_webui_fails():
    # Whole picture, latent upscale: the overlay image keeps the original size (96×80), the
    # soft mask is W×H; the extension's post_sample then raises "images do not match" (issue 23:
    # confirmed against the extension, no longer unverified).
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8))
    mask = Image.new("L", (96, 80))
    mask.paste(255, (30, 20, 60, 50))
    p = InitParams(width=64, height=64, seed=5, soft_inpainting=True, resize_mode=3)
    r = run_init(image, mask, p)
    assert r.soft.overlay is None and r.soft.overlay_mask is None
    assert "images do not match" in r.soft.failure and "resize mode 3" in r.soft.failure
    assert any("images do not match" in n for n in r.notes)
    from inpaint_init.views import render_views

    view = render_views(r, image)["soft_overlay"]
    assert "images do not match" in view.caption
    # PIL checks the sizes only: an image already W×H pastes fine in resize mode 3 too.
    same = run_init(image.resize((64, 64)), mask.resize((64, 64)), p)
    assert same.soft.failure is None and same.soft.overlay is not None

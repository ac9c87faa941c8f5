"""The sampler's view: t_enc, the start sigma, the noised start."""

import numpy as np
import pytest
import torch

from inpaint_init.sampler import SAMPLERS, _training_sigmas, kdiffusion_sigmas, noised_start, plan_img2img, sigma_schedule_plot


@pytest.mark.parametrize(
    "steps,strength,t_enc,start,run",
    [
        (20, 0.75, 15, 4, 16),  # int(0.75 * 20) = 15; sigmas[20 - 15 - 1:] → 16 steps
        (20, 1.0, 19, 0, 20),  # strength capped at 0.999: int(19.98) = 19 → the whole schedule
        (20, 0.5, 10, 9, 11),
        (30, 0.3, 9, 20, 10),  # int(0.3 * 30) = int(9.0) = 9
        (20, 0.0, 0, 19, 1),
    ],
)
def test_t_enc_and_start(steps, strength, t_enc, start, run):
    plan = plan_img2img("Euler", steps, strength)
    assert (plan.t_enc, plan.start_index, plan.steps_run) == (t_enc, start, run)
    assert len(plan.sigmas) == steps + 1 and plan.sigmas[-1] == 0


def test_fix_steps_runs_exactly_the_requested_steps():
    # int(20 / 0.75) = 26-step schedule, t_enc = 19, start at 26 - 19 - 1 = 6 → 20 steps run.
    plan = plan_img2img("Euler", 20, 0.75, fix_steps=True)
    assert (plan.schedule_steps, plan.t_enc, plan.start_index, plan.steps_run) == (26, 19, 6, 20)


def test_training_sigmas_of_sd1():
    s = _training_sigmas()
    # The well-known SD1.x range: sigma_min ≈ 0.0292, sigma_max ≈ 14.6146.
    assert s[0] == pytest.approx(0.0292, abs=1e-4) and s[-1] == pytest.approx(14.6146, abs=1e-3)


def test_diffusers_euler_close_to_kdiffusion_schedule():
    ours = plan_img2img("Euler", 20, 1.0).sigmas
    ref = kdiffusion_sigmas(20)
    assert ours[0] == pytest.approx(ref[0], rel=1e-5) and ours[-2] == pytest.approx(ref[-2], rel=1e-4)
    assert np.max(np.abs(ours[:-1] / ref[:-1] - 1)) < 0.01


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_has_a_decreasing_schedule(sampler):
    plan = plan_img2img(sampler, 20, 0.6)
    assert np.all(np.diff(plan.sigmas) < 0) and 10 < plan.sigmas[0] < 15


def test_ddim_start_is_the_uniform_timestep():
    # Uniform DDIM at 20 steps: t = 951, 901, …, 1; strength 0.75 starts at index 4, t = 751.
    plan = plan_img2img("DDIM", 20, 0.75)
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    ac = np.cumprod(1 - betas)[751]
    assert plan.sigma_start == pytest.approx(np.sqrt((1 - ac) / ac), rel=1e-5)


def test_noised_start_and_plot():
    plan = plan_img2img("Euler a", 20, 0.75)
    z = torch.zeros(1, 4, 2, 2)
    n = torch.ones(1, 4, 2, 2)
    assert torch.allclose(noised_start(z, n, plan), torch.full_like(z, plan.sigma_start))
    img = sigma_schedule_plot(plan)
    assert img.size == (460, 330) and np.asarray(img).std() > 0  # sized for a view cell


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown sampler"):
        plan_img2img("LMS", 20, 0.5)
    with pytest.raises(ValueError, match="denoising_strength"):
        plan_img2img("Euler", 20, 1.5)
    with pytest.raises(ValueError, match="no schedule"):
        plan_img2img("Euler", 20, 0.0, fix_steps=True)

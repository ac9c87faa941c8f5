"""The sampler's first view of an img2img job (spec §1): which steps run and where they start.

``t_enc = int(min(denoising_strength, 0.999) * steps)``. The webui takes the schedule's sigmas
(``steps`` values plus a final 0) from index ``steps - t_enc - 1`` on and starts sampling from
``init_latent + noise * sigma_start``: the last ``t_enc + 2`` sigmas, ``t_enc + 1`` sampling steps
(spec §1). With the "fix steps" option ``t_enc`` is ``steps_requested - 1``, so exactly the
requested number of steps runs; ``tests/test_sampler.py`` pins both.

Schedules come from diffusers' schedulers with the SD1.x training config (scaled-linear betas
0.00085…0.012 over 1000 steps), set up the way the webui's defaults behave:

- Euler, Euler a: ``timestep_spacing="linspace"`` (the k-diffusion "Automatic" schedule; diffusers
  interpolates σ linearly between training timesteps where k-diffusion interpolates log σ — the
  two differ by well under 1 % at 20 steps, see :func:`kdiffusion_sigmas`);
- DPM++ 2M: Karras sigmas (its default schedule type in the webui since 1.9);
- DDIM: uniform ("leading", offset 1) timesteps, σ = √((1−ᾱ)/ᾱ) for the plot. DDIM is one of
  the webui's *timesteps* samplers: it starts from ``√ᾱ_t·x + √(1−ᾱ_t)·ε`` at
  ``t = timesteps[t_enc]`` (:func:`img2img_timestep`), which is ``x + σ·ε`` scaled by √ᾱ_t.

:func:`start_latent` applies the start rule of each family with the webui's noise multiplier
(``initial_noise_multiplier``) and extra noise (``img2img_extra_noise``), spec §11.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from ._deps import diffusers
from .cache import stage

__all__ = [
    "SAMPLERS",
    "TIMESTEP_SAMPLERS",
    "SamplerPlan",
    "plan_img2img",
    "noised_start",
    "start_latent",
    "img2img_timestep",
    "kdiffusion_sigmas",
    "sigma_schedule_plot",
]

SAMPLERS = ("Euler", "Euler a", "DPM++ 2M", "DDIM")
#: The webui's samplers that start from ``√ᾱ_t·x + √(1−ᾱ_t)·ε`` (DDIM, DDIM CFG++, PLMS, UniPC);
#: the others are k-diffusion samplers that start from ``x + σ·ε``.
TIMESTEP_SAMPLERS = ("DDIM",)
SD1_TRAINING = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


@dataclass(frozen=True)
class SamplerPlan:
    sampler: str
    steps: int  # steps requested
    denoising_strength: float
    fix_steps: bool
    schedule_steps: int  # length of the schedule the sigmas come from
    t_enc: int
    sigmas: np.ndarray  # schedule_steps + 1 values, the last 0
    start_index: int

    @property
    def sigma_start(self) -> float:
        return float(self.sigmas[self.start_index])

    @property
    def steps_run(self) -> int:
        return len(self.sigmas) - 1 - self.start_index


def _alphas_cumprod() -> np.ndarray:
    """ᾱ of the SD training schedule, float64 (the model keeps a float32 copy of these)."""
    betas = np.linspace(SD1_TRAINING["beta_start"] ** 0.5, SD1_TRAINING["beta_end"] ** 0.5, 1000, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def _training_sigmas() -> np.ndarray:
    alphas_cumprod = _alphas_cumprod()
    return np.sqrt((1 - alphas_cumprod) / alphas_cumprod)


def kdiffusion_sigmas(steps: int) -> np.ndarray:
    """The k-diffusion discrete schedule the webui's Euler uses: timesteps ``linspace(999, 0,
    steps)``, σ interpolated in log space between training sigmas, then a final 0."""
    log_sigmas = np.log(_training_sigmas())
    t = np.linspace(999, 0, steps)
    return np.append(np.exp(np.interp(t, np.arange(1000), log_sigmas)), 0.0)


@lru_cache(maxsize=64)
def _schedule(sampler: str, steps: int) -> tuple[float, ...]:
    d = diffusers()
    if sampler == "Euler":
        s = d.EulerDiscreteScheduler(**SD1_TRAINING, timestep_spacing="linspace")
    elif sampler == "Euler a":
        s = d.EulerAncestralDiscreteScheduler(**SD1_TRAINING, timestep_spacing="linspace")
    elif sampler == "DPM++ 2M":
        s = d.DPMSolverMultistepScheduler(**SD1_TRAINING, use_karras_sigmas=True)
    elif sampler == "DDIM":
        s = d.DDIMScheduler(**SD1_TRAINING, timestep_spacing="leading", steps_offset=1, set_alpha_to_one=False)
        s.set_timesteps(steps)
        ac = s.alphas_cumprod[s.timesteps.long()].double().numpy()
        return tuple(np.append(np.sqrt((1 - ac) / ac), 0.0).tolist())
    else:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    s.set_timesteps(steps)
    return tuple(np.asarray(s.sigmas, dtype=np.float64).tolist())


def plan_img2img(sampler: str, steps: int, denoising_strength: float, fix_steps: bool = False) -> SamplerPlan:
    """Which part of the schedule an img2img job runs.

    >>> plan = plan_img2img("Euler", 20, 0.75)
    >>> plan.t_enc, plan.start_index, plan.steps_run
    (15, 4, 16)
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not 0 <= denoising_strength <= 1:
        raise ValueError(f"denoising_strength must be in [0, 1], got {denoising_strength}")
    strength = min(denoising_strength, 0.999)
    if fix_steps:
        schedule_steps = int(steps / strength) if denoising_strength > 0 else 0
        t_enc = steps - 1
    else:
        schedule_steps = steps
        t_enc = int(strength * steps)
    if schedule_steps < 1:
        raise ValueError("denoising strength 0 with 'fix steps' leaves no schedule (the webui runs nothing either)")
    sigmas = np.array(_schedule(sampler, schedule_steps))
    start = max(schedule_steps - t_enc - 1, 0)
    return SamplerPlan(sampler, steps, denoising_strength, fix_steps, schedule_steps, t_enc, sigmas, start)


def noised_start(init_latent: torch.Tensor, noise: torch.Tensor, plan: SamplerPlan) -> torch.Tensor:
    """``init_latent + noise · σ_start``: the k-diffusion form of the start, for any sampler."""
    return init_latent + noise.to(init_latent) * plan.sigma_start


def img2img_timestep(schedule_steps: int, t_enc: int) -> int:
    """The training timestep a timesteps sampler starts img2img from: the webui's timesteps are
    ``clip(range(0, 1000, 1000 // steps) + 1, 0, 999)`` and it starts at index ``t_enc``.

    >>> img2img_timestep(20, 15)
    751
    """
    stride = 1000 // schedule_steps
    if stride == 0:
        raise ValueError(
            f"a timesteps sampler cannot make a schedule of {schedule_steps} steps (1000 // steps is 0); the webui fails here too"
        )
    timesteps = np.clip(np.arange(0, 1000, stride) + 1, 0, 999)
    return int(timesteps[t_enc])


def start_latent(
    init_latent: torch.Tensor,
    noise: torch.Tensor,
    plan: SamplerPlan,
    noise_multiplier: float = 1.0,
    extra_noise: float = 0.0,
) -> torch.Tensor:
    """What the first sampling step sees, by the webui's rule for the plan's sampler (§11).

    ``x = noise · m`` when the noise multiplier ``m`` is not 1. k-diffusion samplers:
    ``init + x·σ_start``, then ``+ x·e`` when the extra noise ``e`` is > 0 (not scaled by σ).
    Timesteps samplers: ``init·√ᾱ_t + x·√(1−ᾱ_t)``, then ``+ x·e·√ᾱ_t``.
    """
    x = noise.to(init_latent)
    if noise_multiplier != 1:
        x = x * noise_multiplier
    if plan.sampler in TIMESTEP_SAMPLERS:
        t = img2img_timestep(plan.schedule_steps, plan.t_enc)
        # The model holds ᾱ as float32 and takes the roots in float32.
        a = torch.tensor(_alphas_cumprod()[t], dtype=torch.float32)
        sqrt_a, sqrt_1ma = torch.sqrt(a).to(init_latent), torch.sqrt(1 - a).to(init_latent)
        xi = init_latent * sqrt_a + x * sqrt_1ma
        if extra_noise > 0:
            xi = xi + x * extra_noise * sqrt_a
        return xi
    xi = init_latent + x * plan.sigma_start
    if extra_noise > 0:
        xi = xi + x * extra_noise
    return xi


_MATPLOTLIB = threading.Lock()


def sigma_schedule_plot(plan: SamplerPlan, size: tuple[int, int] = (460, 330)) -> Image.Image:
    """σ per step (log scale), the part that runs in colour, the img2img start marked."""
    # matplotlib's text layout is not thread-safe (its parsers raise under concurrent first use);
    # the app renders from several worker threads.
    with _MATPLOTLIB:
        return _sigma_schedule_plot(plan, size)


def _sigma_schedule_plot(plan: SamplerPlan, size: tuple[int, int]) -> Image.Image:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)  # an explicit canvas: no pyplot, no global backend switch
    ax = fig.add_subplot()
    idx = np.arange(len(plan.sigmas) - 1)  # the final 0 cannot be shown on a log axis
    ax.plot(idx, plan.sigmas[:-1], "o-", color="#bbbbbb", ms=3, label="full schedule")
    run = idx[plan.start_index :]
    ax.plot(run, plan.sigmas[plan.start_index : -1], "o-", color="tab:orange", ms=3, label=f"runs: {plan.steps_run} steps")
    ax.axvline(plan.start_index, color="tab:red", lw=1)
    ax.annotate(
        f"start σ = {plan.sigma_start:.3g}",
        (plan.start_index, plan.sigma_start),
        textcoords="offset points",
        xytext=(6, 6),
        fontsize=8,
        color="tab:red",
    )
    ax.set_yscale("log")
    ax.set_xlabel("step of the schedule")
    ax.set_ylabel("σ")
    # Sized for a view cell (~400 px): two short title lines at a font that stays readable.
    title = f"{plan.sampler}, {plan.steps} steps, denoising {plan.denoising_strength:g}\nt_enc = {plan.t_enc}"
    ax.set_title(title + (" (fix steps)" if plan.fix_steps else ""), fontsize=10)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


# ----------------------------------------------------------------------------- stages (§1/§11)
@stage("sampler_start", returns="sampler_plan", cached=False)
def sampler_plan_stage(sampler_name: str, steps: int, denoising_strength: float, img2img_fix_steps: bool) -> SamplerPlan:
    """§1: the schedule img2img runs (t_enc, σ_start)."""
    from .errors import InitError

    try:
        return plan_img2img(sampler_name, steps, denoising_strength, img2img_fix_steps)
    except ValueError as e:
        raise InitError(str(e)) from e


@stage("sampler_start", returns="start_latent", cached=False)
def sampler_start_stage(init_latent, start_noise, sampler_plan, initial_noise_multiplier: float, img2img_extra_noise: float, flow_model: bool):
    """§11: what the first sampling step sees, by the sampler's own rule. None for a flow model
    (SD3, Flux: σ·noise + (1 − σ)·x on a shifted schedule this project does not compute)."""
    from .errors import InitError

    if flow_model:
        return None
    try:
        return start_latent(init_latent, start_noise, sampler_plan, initial_noise_multiplier, img2img_extra_noise)
    except ValueError as e:
        raise InitError(str(e)) from e

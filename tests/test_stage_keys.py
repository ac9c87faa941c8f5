"""Cache keys are correct by construction: a stage's key is made from exactly the values its
parameters name, so changing one of them changes the key, and a change of anything else leaves
the stage's cached output in use. After one parameter change, only the stages downstream of it
(through the declared inputs and outputs) run again."""

import pytest
from PIL import Image, ImageDraw

import inpaint_init  # noqa: F401  (registers every stage)
from inpaint_init import InitParams, StageCache, run_init
from inpaint_init.cache import REGISTRY, StageRunner, signature
from inpaint_init.pipeline import DERIVED


def test_every_stage_declares_its_parameters_and_a_known_group():
    from inpaint_init.pipeline import STAGES

    assert len(REGISTRY) >= 20
    for name, s in REGISTRY.items():
        assert s.inputs == tuple(s.fn.__code__.co_varnames[: s.fn.__code__.co_argcount]), name
        assert s.group in STAGES, name


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_changing_any_declared_input_changes_the_key(name):
    s = REGISTRY[name]
    base = {n: i for i, n in enumerate(s.inputs)}
    key = StageRunner.key(s, {n: signature(v) for n, v in base.items()})
    for n in s.inputs:
        changed = base | {n: 1000}
        assert StageRunner.key(s, {m: signature(v) for m, v in changed.items()}) != key, n


def test_signatures_tell_values_apart():
    a = Image.new("L", (8, 8))
    b = a.copy()
    b.putpixel((3, 3), 1)
    import torch

    values = [None, 0, 0.0, False, "0", (0,), [0], a, b, a.convert("RGB"), torch.zeros(2), torch.tensor([0.0, 1e-7])]
    sigs = [signature(v) for v in values]
    assert len(set(sigs)) == len(values)
    assert signature(a.copy()) == signature(a)


def _downstream(field: str) -> set[str]:
    """Stages that read ``field``, directly or through other stages' outputs or DERIVED values."""
    reached, names = set(), {field}
    while True:
        derived = {d for d, sources in DERIVED.items() if names & set(sources)}
        new = {n for n, s in REGISTRY.items() if set(s.inputs) & (names | derived)} - reached
        names |= derived
        if not new and derived <= names:
            return reached
        reached |= new
        for n in new:
            names |= set(REGISTRY[n].returns)
        if not new:
            return reached


def _job():
    img = Image.new("RGB", (128, 96), (90, 120, 60))
    ImageDraw.Draw(img).rectangle((20, 10, 80, 70), fill=(200, 30, 30))
    mask = Image.new("L", (128, 96))
    ImageDraw.Draw(mask).ellipse((40, 30, 90, 80), fill=255)
    return img, mask


CHANGES = {
    "mask_blur_x": 9, "mask_blur_y": 7, "inpainting_mask_invert": 1, "inpainting_fill": 2, "inpaint_full_res_padding": 8,
    "resize_mode": 1, "width": 96, "height": 72, "mask_round": False, "seed": 5, "model_kind": "inpainting-sdxl",
    "inpainting_mask_weight": 0.5, "sampler_name": "DDIM", "steps": 30, "denoising_strength": 0.5,
    "color_correction": True, "randn_source": "CPU", "subseed": 9, "subseed_strength": 0.3, "seed_resize_from_w": 64,
    "seed_resize_from_h": 48, "initial_noise_multiplier": 0.9, "img2img_extra_noise": 0.1, "soft_inpainting": True,
    "mask_blend_power": 2.0, "background_color": "#000000", "batch_size": 2, "inpaint_full_res": True, "flavour": "forge",
}  # fmt: skip


CASES = [(f, full_res) for full_res in (False, True) for f in sorted(CHANGES) if not (full_res and f == "inpaint_full_res")]


@pytest.mark.parametrize("field,full_res", CASES, ids=[f"{f}-{'only masked' if m else 'whole'}" for f, m in CASES])
def test_one_change_reruns_only_what_is_downstream_of_it(field, full_res):
    img, mask = _job()
    base = InitParams(width=128, height=96, seed=1, subseed=2, inpainting_fill=0, model_kind="inpainting", inpaint_full_res=full_res)
    cache = StageCache()
    first = run_init(img, mask, base, cache=cache)
    again = run_init(img, mask, base, cache=cache)
    assert all(c.hit for c in again.calls if REGISTRY[c.stage].cached)  # nothing changed: all from the cache
    second = run_init(img, mask, base.replace(**{field: CHANGES[field]}), cache=cache)
    ran_before = {c.stage for c in first.calls}
    rerun = {c.stage for c in second.calls if not c.hit and REGISTRY[c.stage].cached and c.stage in ran_before}
    assert rerun <= _downstream(field), f"{field} reran {sorted(rerun - _downstream(field))}"
    # ... and the stages not downstream were served from the cache
    for c in second.calls:
        if c.stage in ran_before and c.stage not in _downstream(field) and REGISTRY[c.stage].cached:
            assert c.hit, c.stage


def test_a_blur_change_does_not_encode_again_when_the_pixels_to_encode_are_the_same():
    img, mask = _job()
    cache = StageCache()
    p = InitParams(width=128, height=96, seed=1, inpainting_fill=1)
    run_init(img, mask, p, cache=cache)
    r = run_init(img, mask, p.replace(mask_blur_x=12), cache=cache)
    assert "encode" in r.cached_stages and "blur" not in r.cached_stages


def test_the_architecture_map_names_every_stage():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    assert [n for n in REGISTRY if f"`{n}`" not in text] == []

"""A real browser on the app: headless Debian chromium, driven by playwright (no browser download)."""

import collections
import inspect
import io
import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# The benchmark's browser and its way of moving a control: the tests and the timings drive the
# page alike.
from bench.browser_latency import ARGS, CHROMIUM
from bench.browser_latency import SET_JS as SET

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def open_page(browser, url, width=1600, height=1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.locator("#view-blurred_mask img").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_load_state("networkidle", timeout=60_000)
    return page


def shown_picture(page, key) -> Image.Image:
    """The picture a view shows, fetched from the page's own URL, decoded."""
    src = page.locator(f"#view-{key} img").first.get_attribute("src")
    response = page.request.get(page.url + src if not src.startswith("http") else src)
    assert response.ok, src
    return Image.open(io.BytesIO(response.body()))


def test_blur_slider_updates_blurred_mask(running_app, browser):
    page = open_page(browser, running_app)
    caption = page.locator("#caption-blurred_mask")
    page.wait_for_function("() => document.querySelector('#caption-blurred_mask')?.innerText.includes('blur x 4')", timeout=60_000)
    before = page.locator("#view-blurred_mask img").first.get_attribute("src")
    number = page.locator("#mask-blur-x input[type=number]")
    number.fill("24")
    number.press("Enter")
    page.wait_for_function("() => document.querySelector('#caption-blurred_mask')?.innerText.includes('blur x 24')", timeout=60_000)
    after = page.locator("#view-blurred_mask img").first.get_attribute("src")
    assert after and after != before and "blur x 24" in caption.inner_text()
    assert "●" in caption.inner_text()  # marked as changed on the last update
    page.close()


CALLERS = collections.Counter()  # which handler ran each computation
CHECKED = ("blurred_mask", "crop", "filled", "decoded_init", "latent_mask_overlay")


def test_never_stale_after_racing_inputs(running_app, browser, monkeypatch):
    """Bursts of inputs (a slider dragged through values, radios, the view size: two different
    event listeners) without waiting; once the page is idle, every checked view must show the
    library's picture for the last state of the controls. 24 trials, 0 stale allowed.

    Each server computation is slowed by a random 0–150 ms (as a real VAE would), so requests of
    the two listeners overlap and would finish out of order without the session's ordering."""
    from webapp import refresh as h  # where the refresh looks up run_session
    from webapp.layout import DEFAULT_VALUES
    from webapp.session import Session

    rng = random.Random(7)
    slow = random.Random(11)
    run_session = h.run_session

    active = [0, 0]  # now, most at once

    def slowed(*args, **kwargs):
        import time

        active[0] += 1
        active[1] = max(active)
        CALLERS.update([f.function for f in inspect.stack()[1:8] if f.function.startswith("on_")][:1])
        try:
            time.sleep(slow.uniform(0, 0.15))
            return run_session(*args, **kwargs)
        finally:
            active[0] -= 1

    page = open_page(browser, running_app)
    page.get_by_text("Views: which, how big").click()  # the view size radio: another event listener
    page.locator("#view-size").wait_for(state="visible")
    state = dict(DEFAULT_VALUES)
    stale = []
    monkeypatch.setattr(h, "run_session", slowed)
    for trial in range(24):
        steps = []
        for _ in range(rng.randint(3, 8)):
            what = rng.choice(["blur_x", "blur_x", "blur_y", "fill", "area", "padding", "size"])
            if what in ("blur_x", "blur_y"):
                v = rng.randint(0, 40)
                steps.append(("range", f"#mask-blur-{what[-1]}", v))
                state[f"mask_blur_{what[-1]}"] = v
            elif what == "fill":
                label, v = rng.choice([("fill", 0), ("original", 1), ("latent noise", 2), ("latent nothing", 3)])
                steps.append(("radio", "#masked-content", label))
                state["inpainting_fill"] = v
            elif what == "area":
                label = rng.choice(["Whole picture", "Only masked"])
                steps.append(("radio", "#inpaint-area", label))
                state["inpaint_full_res"] = label == "Only masked"
            elif what == "padding":
                v = rng.choice([0, 8, 16, 32, 48])
                steps.append(("range", "#padding", v))
                state["inpaint_full_res_padding"] = v
            else:
                steps.append(("radio", "#view-size", rng.choice(["small", "medium", "large"])))
        # A change of the other listener in the middle, then one more control change: the racy order.
        size = "large" if trial % 2 else "medium"
        v = rng.randint(0, 40)
        steps += [("radio", "#view-size", size), ("range", "#mask-blur-x", v)]
        state["mask_blur_x"] = v
        for kind, sel, value in steps:
            page.evaluate(SET, dict(kind=kind, sel=sel, value=value))
            page.wait_for_timeout(rng.choice([0, 5, 15, 40]))
        session = Session()
        h.start_with_example(session, h.EXAMPLES[0].name)
        session.shown = {}
        with monkeypatch.context() as m:
            m.setattr(h, "run_session", run_session)
            expected = h.run_refresh(session, state)
        by_key = {key: picture for key, picture, _, _, _ in expected.views}
        # Idle = no request for 500 ms; a view still different after 10 s of idling is stale.
        for attempt in range(20):
            page.wait_for_load_state("networkidle", timeout=60_000)
            wrong = [k for k in CHECKED if not np.array_equal(np.asarray(shown_picture(page, k)), np.asarray(by_key[k]))]
            if not wrong:
                break
            page.wait_for_timeout(500)
        if wrong:
            shown = page.inner_text("#caption-blurred_mask"), page.inner_text("#caption-filled")
            inputs = page.evaluate("['#mask-blur-x', '#mask-blur-y'].map(s => document.querySelector(s + ' input[type=number]').value)")
            stale.append((trial, wrong, shown, inputs, state["mask_blur_x"], state["mask_blur_y"], state["inpainting_fill"], steps))
    page.close()
    # The race was run: both listeners computed (without the session's ordering, 5 of 24 trials
    # ended stale here), and the session never let two of its computations overlap.
    assert CALLERS["on_view_options"] >= 10 and CALLERS["on_controls"] >= 24
    assert active[1] == 1
    assert stale == [], f"{len(stale)} stale views, first: {stale[:3]}"


@pytest.mark.parametrize("width,height", [(1280, 800), (1600, 1000)])
def test_controls_stay_beside_the_views(running_app, browser, width, height):
    """Scrolled down to the last views, the main controls are still on screen (sticky)."""
    page = open_page(browser, running_app, width, height)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{width}x{height}.png"))
    page.locator("#view-latent_mask_overlay").scroll_into_view_if_needed()
    page.locator("#view-sampler_start").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"page-{width}x{height}-scrolled.png"))
    assert page.evaluate("window.scrollY") > 300
    for control in ("#mask-blur-x", "#mask-blur-y", "#masked-content", "#inpaint-area", "#padding", "#mask-mode", "#width", "#height"):
        box = page.locator(control).bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= height, (control, box)
    view = page.locator("#view-sampler_start").bounding_box()
    assert view["y"] < height and view["y"] + view["height"] > 0
    # the webui's labels and the view titles are on the page
    text = page.inner_text("body")
    for label in ("Mask blur x", "Mask blur y", "Masked content", "Inpaint area", "Only masked padding, pixels", "Width", "Height"):
        assert label in text, label
    for title in ("Binary mask", "Blurred mask", "Crop box", "Latent mask"):
        assert title in text, title
    page.close()


def test_example_masks_are_lossless_and_in_place(running_app, browser):
    """The Rocket example's soft mask, as the page holds it, has every grey level of the
    library's; the painted Chelsea mask lies over the eye in the editor (screenshot)."""
    from inpaint_init.examples import load_example

    page = open_page(browser, running_app)
    page.locator("#example input").first.click()
    page.get_by_role("option", name="Rocket: a soft mask that was never binary").click()
    page.wait_for_function("() => document.querySelector('#caption-binary_mask')?.innerText.includes('grey levels')", timeout=60_000)
    page.get_by_role("tab", name="Image & mask").click()
    img = page.locator("#mask-upload img").first
    img.wait_for(state="visible", timeout=30_000)
    response = page.request.get(img.get_attribute("src") if img.get_attribute("src").startswith("http") else page.url + img.get_attribute("src"))
    held = np.asarray(Image.open(io.BytesIO(response.body())).convert("L"))
    _, mask, _ = load_example("Rocket: a soft mask that was never binary")
    assert np.array_equal(np.bincount(held.ravel(), minlength=256), np.bincount(np.asarray(mask).ravel(), minlength=256))
    page.get_by_role("tab", name="Views").click()
    page.locator("#example input").first.click()
    page.get_by_role("option", name="Chelsea: eye, only masked with small padding").click()
    page.wait_for_function("() => document.querySelector('#caption-crop')?.innerText.includes('paste_to')", timeout=60_000)
    page.get_by_role("tab", name="Image & mask").click()
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#editor").screenshot(path=str(ARTIFACTS / "editor-chelsea.png"))
    page.get_by_role("tab", name="Views").click()
    binary = np.asarray(shown_picture(page, "binary_mask").convert("L"))
    _, chelsea_mask, _ = load_example("Chelsea: eye, only masked with small padding")
    inside = np.asarray(chelsea_mask)[..., 3] > 128
    assert np.array_equal(binary == 255, inside)  # the views use the mask the page holds
    held = page.locator("#mask-upload img").first
    assert held.count() == 1  # ... which is in the upload slot, not a layer laid out by the editor
    page.close()


def test_two_pages_are_two_sessions(running_app, browser):
    """What one visitor does never shows in another's page (each page is its own session)."""
    from webapp import handlers as h

    a, b = open_page(browser, running_app), open_page(browser, running_app)
    before = len(h.SESSIONS)
    a.evaluate(SET, dict(kind="range", sel="#mask-blur-x", value=30))
    a.wait_for_function("() => document.querySelector('#caption-blurred_mask')?.innerText.includes('blur x 30')", timeout=60_000)
    b.evaluate(SET, dict(kind="range", sel="#mask-blur-y", value=20))
    b.wait_for_function("() => document.querySelector('#caption-blurred_mask')?.innerText.includes('y 20')", timeout=60_000)
    assert "blur x 4," in b.inner_text("#caption-blurred_mask")  # b never saw a's blur x 30
    assert "y 4 " in a.inner_text("#caption-blurred_mask") or "y 4 ·" in a.inner_text("#caption-blurred_mask")
    assert len(h.SESSIONS) >= before + 2
    a.close()
    b.close()


def test_first_picture_arrives_with_the_page(running_app, browser):
    import app

    before = app.STATS["computes"]
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(running_app)
    page.wait_for_function(
        "() => { const i = document.querySelector('#view-blurred_mask img'); return i && i.complete && i.naturalWidth > 0 }",
        timeout=60_000,
    )
    page.wait_for_load_state("networkidle", timeout=60_000)
    assert app.STATS["computes"] == before  # the first state is rendered once, when the app is built
    page.close()


def test_exif_rotated_photo_and_its_mask_through_the_page(running_app, browser, tmp_path):
    """A JPEG with EXIF orientation 6 is shown turned (96×64 stored, 64×96 shown); a mask made
    for what is shown fits it: no size-mismatch note, and the views are 64×96."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(tmp_path / "turned.jpg", exif=exif)
    mask = Image.new("L", (64, 96))
    mask.paste(255, (16, 20, 48, 70))
    mask.save(tmp_path / "mask.png")
    page = open_page(browser, running_app)
    page.get_by_role("tab", name="Image & mask").click()
    page.locator("#image-upload input[type=file]").first.set_input_files(str(tmp_path / "turned.jpg"))
    page.wait_for_function("() => document.querySelector('#example-info')?.innerText.includes('Your own image')", timeout=60_000)
    page.locator("#mask-upload input[type=file]").first.set_input_files(str(tmp_path / "mask.png"))
    page.wait_for_function("() => !document.querySelector('#caption-binary_mask')?.innerText.includes('0/255) ·') || true")
    page.wait_for_timeout(1000)
    page.wait_for_load_state("networkidle", timeout=60_000)
    page.get_by_role("tab", name="Views").click()
    notes = page.inner_text("#notes")
    assert "The mask is" not in notes, notes
    binary = shown_picture(page, "binary_mask")
    assert binary.size == (64, 96)
    assert np.array_equal(np.asarray(binary.convert("L")) == 255, np.asarray(mask) == 255)
    page.close()

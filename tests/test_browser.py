"""A real browser on the app: headless Debian chromium, driven by playwright (no browser download)."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
)


def test_blur_slider_updates_blurred_mask(running_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1300})
            page.goto(running_app)
            blurred = page.locator("#view-blurred_mask img").first
            blurred.wait_for(state="visible", timeout=60_000)
            caption = page.locator("#caption-blurred_mask")
            page.wait_for_function(
                "() => document.querySelector('#caption-blurred_mask')?.innerText.includes('blur x 4')", timeout=60_000
            )
            before = blurred.get_attribute("src")

            number = page.locator("#mask-blur-x input[type=number]")
            number.fill("24")
            number.press("Enter")
            page.wait_for_function(
                "() => document.querySelector('#caption-blurred_mask')?.innerText.includes('blur x 24')", timeout=60_000
            )
            page.wait_for_function(
                "(old) => document.querySelector('#view-blurred_mask img')?.getAttribute('src') !== old",
                arg=before,
                timeout=60_000,
            )
            after = blurred.get_attribute("src")
            assert after and after != before
            assert "blur x 24" in caption.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "screenshot.png"), full_page=True)
            assert (ARTIFACTS / "screenshot.png").stat().st_size > 10_000
        finally:
            browser.close()

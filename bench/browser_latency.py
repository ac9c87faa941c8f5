"""What a user waits for: python -m bench.browser_latency [--sizes 512 1024] [--changes 7]

Starts the app on 127.0.0.1, opens it in headless Debian chromium (playwright, no browser
download) and, for each control, changes it ``--changes`` times like a user would (the slider's
range input, a radio's label) and times each change in the page, from the input event to the
view that control changes showing its new picture, loaded (``img.complete`` with a new ``src``).
Bytes up and down per change come from the browser's own network events (CDP). Also: the time
from the page starting to load to the first useful picture (the blurred mask), and how many
computes the server ran for it.

512²: the default example (Astronaut, 512×512), then with Soft inpainting on (its sliders and a
blur change, timed to the soft views). 1024²: the same photo upscaled to 1024×1024
with its mask, uploaded through the page (editor and mask upload), processing size 1024×1024.
The radios that need it set their context first (padding: Only masked; resize mode: a 4:3 size).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# In the page: apply one change, resolve with the ms until the target view shows a new picture.
CHANGE_JS = """
async ({kind, sel, value, view}) => {
  const img = () => document.querySelector(`#view-${view} img`);
  const before = img() ? img().getAttribute('src') : null;
  const t0 = performance.now();
  if (kind === 'range') {
    const el = document.querySelector(`${sel} input[type=range]`);
    el.value = value;
    el.dispatchEvent(new Event('input', {bubbles: true}));
    el.dispatchEvent(new Event('change', {bubbles: true}));
  } else {
    const label = [...document.querySelectorAll(`${sel} label`)].find(l => l.innerText.trim() === value);
    if (!label) throw new Error(`no choice ${value} in ${sel}`);
    (label.querySelector('input') || label).click();
  }
  return await new Promise((resolve, reject) => {
    const check = () => {
      const el = img();
      if (el && el.getAttribute('src') !== before && el.complete && el.naturalWidth > 0) return resolve(performance.now() - t0);
      if (performance.now() - t0 > 60000) return reject(new Error(`timeout waiting for ${view}`));
      setTimeout(check, 1);
    };
    check();
  });
}
"""

# Apply a value without waiting for a picture (set-up and reset between rows).
SET_JS = """
({kind, sel, value}) => {
  if (kind === 'range') {
    const el = document.querySelector(`${sel} input[type=range]`);
    if (String(el.value) === String(value)) return false;
    el.value = value;
    el.dispatchEvent(new Event('input', {bubbles: true}));
    el.dispatchEvent(new Event('change', {bubbles: true}));
    return true;
  }
  const label = [...document.querySelectorAll(`${sel} label`)].find(l => l.innerText.trim() === value);
  const input = label.querySelector('input');
  if (input && input.checked) return false;
  (input || label).click();
  return true;
}
"""

# (row label, kind, selector, values to cycle through, target view, set-up changes)
CONTROLS = [
    ("Mask blur x", "range", "#mask-blur-x", [6, 9, 12, 15, 18, 21, 24, 27], "blurred_mask", []),
    ("Mask blur y", "range", "#mask-blur-y", [6, 9, 12, 15, 18, 21, 24, 27], "blurred_mask", []),
    ("Masked content", "radio", "#masked-content", ["fill", "latent noise", "latent nothing", "original"], "decoded_init", []),
    ("Inpaint area", "radio", "#inpaint-area", ["Only masked", "Whole picture"], "processed", []),
    ("Mask mode", "radio", "#mask-mode", ["Inpaint not masked", "Inpaint masked"], "blurred_mask", []),
    ("Only masked padding, pixels", "range", "#padding", [0, 8, 16, 24, 36, 48, 4, 12], "crop", [("radio", "#inpaint-area", "Only masked", "crop")]),
    (
        "Resize mode",
        "radio",
        "#resize-mode",
        ["Crop and resize", "Resize and fill", "Just resize"],
        "processed",
        [("radio", "#inpaint-area", "Whole picture", "processed"), ("range", "#height", None, "processed")],
    ),
]


class Network:
    """Bytes the page sends and receives, from CDP events."""

    def __init__(self, page):
        self.up = self.down = 0
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.dataReceived", self._down)
        cdp.on("Network.requestWillBeSent", self._up)

    def _down(self, event):
        self.down += event.get("encodedDataLength") or event.get("dataLength", 0)

    def _up(self, event):
        request = event.get("request", {})
        body = request.get("postData")
        if body is not None:
            self.up += len(body.encode())
        else:
            for entry in request.get("postDataEntries", []) or []:
                self.up += len(entry.get("bytes", "")) * 3 // 4  # base64

    def snapshot(self):
        return self.up, self.down


#: What each row leaves behind, set back before the next row.
DEFAULTS = [("radio", "#masked-content", "original"), ("radio", "#inpaint-area", "Whole picture"), ("radio", "#mask-mode", "Inpaint masked"),
            ("radio", "#resize-mode", "Just resize")]  # fmt: skip


def _set(page, kind, sel, value):
    if page.evaluate(SET_JS, dict(kind=kind, sel=sel, value=value)):
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)


def _change(page, net, kind, sel, value, view):
    up, down = net.snapshot()
    ms = page.evaluate(CHANGE_JS, dict(kind=kind, sel=sel, value=value, view=view))
    page.wait_for_timeout(150)  # let late bytes of this change arrive before the next
    u, d = net.snapshot()
    return ms, u - up, d - down


def _upload_1024(page, tmp: Path):
    """The 1024² photo and its mask through the page, as a user would: the "Image & mask" tab,
    the picture's and the mask's upload; then the processing size to 1024×1024."""
    from PIL import Image

    from inpaint_init.examples import load_example

    image, mask, _ = load_example("Astronaut: face, whole picture")
    image.resize((1024, 1024), Image.Resampling.LANCZOS).save(tmp / "photo1024.png")
    alpha = mask.getchannel("A").resize((1024, 1024), Image.Resampling.NEAREST)
    alpha.save(tmp / "mask1024.png")
    page.get_by_role("tab", name="Image & mask").click()
    page.locator("#image-upload input[type=file]").first.set_input_files(str(tmp / "photo1024.png"))
    page.wait_for_function("() => (document.querySelector('#example-info')||{}).innerText?.includes('Your own image')", timeout=120_000)
    page.locator("#mask-upload input[type=file]").first.set_input_files(str(tmp / "mask1024.png"))
    page.wait_for_load_state("networkidle")
    page.get_by_role("tab", name="Views").click()
    for sel in ("#width", "#height"):
        _set(page, "range", sel, 1024)
    page.wait_for_function("() => (document.querySelector('#caption-processed')||{}).innerText?.includes('1024×1024')", timeout=120_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)


#: With Soft inpainting on (512²): its sliders and a blur change, timed to the soft views.
SOFT_CONTROLS = [
    ("Schedule bias", "range", "#soft-mask_blend_power", [1.5, 2, 2.5, 3, 3.5, 4, 4.5], "soft_blend"),
    ("Difference threshold", "range", "#soft-composite_difference_threshold", [0.75, 1, 1.25, 1.5, 1.75, 2, 2.25], "soft_overlay"),
    ("Mask blur x (soft on)", "range", "#mask-blur-x", [6, 9, 12, 15, 18, 21, 24], "soft_blend"),
]


def _soft_rows(page, net, changes: int) -> list:
    page.get_by_text("Soft inpainting", exact=True).first.click()
    page.locator("#soft-inpainting input").first.check()
    page.wait_for_timeout(1000)
    page.wait_for_load_state("networkidle")
    rows = []
    for label, kind, sel, values, view in SOFT_CONTROLS:
        times, ups, downs = [], [], []
        for i in range(changes):
            page.locator(f"#view-{view}").scroll_into_view_if_needed()
            ms, up, down = _change(page, net, kind, sel, values[i % len(values)], view)
            times.append(ms)
            ups.append(up)
            downs.append(down)
        rows.append((512, label, statistics.median(times), max(times), statistics.median(ups), statistics.median(downs)))
    return rows


def run(sizes, changes: int, soft: bool = True):
    import app
    from playwright.sync_api import sync_playwright

    from tests.conftest import free_port

    port = free_port()
    demo = app.launch(port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    rows, first = [], []
    tmp = Path(tempfile.mkdtemp(prefix="browser-latency-"))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                for size in sizes:
                    page = browser.new_page(viewport={"width": 1600, "height": 1000})
                    net = Network(page)
                    computes = app.STATS["computes"]
                    page.goto(url)
                    page.wait_for_function(
                        "() => { const i = document.querySelector('#view-blurred_mask img'); return i && i.complete && i.naturalWidth > 0 }",
                        timeout=120_000,
                    )
                    loaded = page.evaluate("performance.now()")
                    # The image editor fires a few events of its own while it loads its layers;
                    # measure from a quiet page.
                    page.wait_for_load_state("networkidle", timeout=60_000)
                    page.wait_for_timeout(500)
                    if size == 512:
                        first.append((loaded, app.STATS["computes"] - computes))
                    else:
                        _upload_1024(page, tmp)
                    for label, kind, sel, values, view, setup in CONTROLS:
                        for d_kind, d_sel, d_value in DEFAULTS:
                            _set(page, d_kind, d_sel, d_value)
                        _set(page, "range", "#height", size)
                        for s_kind, s_sel, s_value, s_view in setup:
                            _set(page, s_kind, s_sel, s_value if s_value is not None else size * 3 // 4)
                        times, ups, downs = [], [], []
                        try:
                            for i in range(changes):
                                ms, up, down = _change(page, net, kind, sel, values[i % len(values)], view)
                                times.append(ms)
                                ups.append(up)
                                downs.append(down)
                        except Exception as e:  # a control that is not on the page
                            print(f"{size}² {label}: {str(e).splitlines()[0]}", file=sys.stderr)
                            continue
                        rows.append((size, label, statistics.median(times), max(times), statistics.median(ups), statistics.median(downs)))
                    if size == 512 and soft:
                        rows += _soft_rows(page, net, changes)
                    page.close()
            finally:
                browser.close()
    finally:
        demo.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("| size | control | median ms | max ms | bytes up / change | bytes down / change |")
    print("|---|---|---:|---:|---:|---:|")
    for size, label, med, mx, up, down in rows:
        print(f"| {size}² | {label} | {med:.0f} | {mx:.0f} | {up / 1024:.1f} KB | {down / 1024:.1f} KB |")
    for loaded, computes in first:
        print(f"\nFirst useful picture (512², default example): {loaded / 1000:.2f} s after the page started loading; {computes} compute(s) on load.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--changes", type=int, default=7)
    ap.add_argument("--no-soft", action="store_true", help="skip the rows with Soft inpainting on")
    args = ap.parse_args(argv)
    run(args.sizes, args.changes, not args.no_soft)


if __name__ == "__main__":
    main()

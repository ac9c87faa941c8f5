"""Regenerate the README's walkthrough figures with the app's own views: python docs/make_figures.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from inpaint_init import InitParams, run_init
from inpaint_init.examples import load_example
from inpaint_init.views import render_views

OUT = Path(__file__).resolve().parent


def strip(images, height=256):
    """Images side by side at one height."""
    scaled = [im.convert("RGB").resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS) for im in images]
    out = Image.new("RGB", (sum(s.width for s in scaled) + 8 * (len(scaled) - 1), height), "white")
    x = 0
    for s in scaled:
        out.paste(s, (x, 0))
        x += s.width + 8
    return out


def main():
    image, mask, _ = load_example("Chelsea: eye, only masked with small padding")
    for padding in (4, 64):
        p = InitParams(inpaint_full_res=True, inpaint_full_res_padding=padding, seed=1)
        r = run_init(image, mask, p)
        v = render_views(r, image)
        print(f"padding {padding}: crop {r.crop_region} paste_to {r.paste_to} scale {512 / r.paste_to[2]:.2f}")
        strip([v["crop"].image, v["processed"].image, v["latent_mask_overlay"].image, v["overlay"].image]).save(
            OUT / f"walkthrough-padding-{padding}.png"
        )
    seam(image, mask)


def seam(image, mask):
    """Paste-back with clearly new content (latent noise), and the alpha profile behind it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from inpaint_init.plots import upscale_nearest
    from inpaint_init.resize import resize_image

    p = InitParams(inpaint_full_res=True, inpaint_full_res_padding=4, inpainting_fill=2, seed=1)
    r = run_init(image, mask, p)
    v = render_views(r, image)
    x, y, w, h = r.paste_to
    zoom = (x, y, x + w, y + h)
    strip([image.crop(zoom), v["paste_back"].image.crop(zoom)], height=300).save(OUT / "walkthrough-seam.png")

    # One row through the mask centre, in original-image pixels.
    row = y + h // 2
    original_share = np.asarray(r.overlay_images[0])[row, x : x + w, 3].astype(int)  # overlay alpha
    blurred = np.asarray(r.blurred_mask)[row, x : x + w].astype(int)
    cells = Image.fromarray((upscale_nearest(r.nmask[0].numpy(), 8) * 255).astype(np.uint8))
    regenerated = np.asarray(resize_image(1, cells, w, h).convert("L"))[h // 2].astype(int)
    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=110)
    xs = np.arange(x, x + w)
    ax.plot(xs, blurred / 255, label="blurred mask = the sample's share in the paste-back", color="tab:blue")
    ax.fill_between(xs, 0, regenerated / 255, step="mid", alpha=0.2, color="tab:red", label="regenerated latent cells (nmask)")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"x in the image (row y = {row})")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower center", fontsize=7, frameon=False)
    ax.set_title("Only masked, padding 4: where the original still shows", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / "walkthrough-profile.png")
    ghost = (original_share > 0) & (regenerated > 127)
    print(f"row {row}: {int(ghost.sum())} of {int((regenerated > 127).sum())} regenerated pixels still show the original "
          f"(up to {original_share[ghost].max() / 255:.0%})" if ghost.any() else "no ghost")


if __name__ == "__main__":
    main()

"""Fingerprint every Pillow operation the init uses, to compare Pillow versions.

    python bench/pillow_parity.py > pillow-A.json     # under one Pillow
    python bench/pillow_parity.py > pillow-B.json     # under another (e.g. 9.5, the webui's pin)
    python bench/pillow_parity.py --compare pillow-A.json pillow-B.json

Needs only Pillow and NumPy, so it runs in a bare virtual environment with an old Pillow.
"""

import hashlib
import json
import sys

import numpy as np
from PIL import Image, ImageFilter, ImageOps


def digest(img) -> str:
    return hashlib.sha256(img.mode.encode() + str(img.size).encode() + img.tobytes()).hexdigest()[:16]


def _per_axis() -> bool:
    try:
        Image.new("RGBa", (2, 2)).filter(ImageFilter.GaussianBlur((1, 0)))
        return True
    except TypeError:  # Pillow < 10.1
        return False


def cases():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (61, 83, 3), dtype=np.uint8))
    soft = Image.fromarray(rng.integers(0, 256, (61, 83), dtype=np.uint8))
    binary = soft.point(lambda v: 255 if v > 200 else 0)
    rgba = Image.fromarray(rng.integers(0, 256, (61, 83, 4), dtype=np.uint8), "RGBA")
    out = {
        "lanczos up (resize modes)": rgb.resize((128, 96), Image.Resampling.LANCZOS),
        "lanczos down": rgb.resize((40, 29), Image.Resampling.LANCZOS),
        "lanczos L mask": soft.resize((64, 64), Image.Resampling.LANCZOS),
        "bicubic default (latent mask)": binary.convert("RGB").resize((10, 7)),
        "zero-height box bicubic (mode 2 band)": rgb.resize((83, 9), box=(0, 0, 83, 0)),
        "zero-width box bicubic (mode 2 band)": rgb.resize((9, 61), box=(83, 0, 83, 61)),
        "alpha threshold point (binary mask)": rgba.split()[-1].convert("L").point(lambda a: 255 if a > 128 else 0),
        "invert": ImageOps.invert(soft),
        "I;16 to L": Image.frombytes("I;16", (4, 1), np.array([0, 100, 255, 4000], np.uint16).tobytes()).convert("L"),
        "RGB to L": rgb.convert("L"),
        "P to L": rgb.convert("P").convert("L"),
    }
    masked = Image.new("RGBa", rgb.size)
    masked.paste(rgb.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(soft))
    out["premultiplied paste through mask (overlay/fill)"] = masked
    out["RGBa to RGBA (overlay)"] = masked.convert("RGBA")
    for r in (256, 64, 16, 4, 2, 0):
        out[f"gaussian blur {r} on RGBa (fill)"] = masked.filter(ImageFilter.GaussianBlur(r))
        if r and _per_axis():  # the fast fill's x pass then y pass; must equal the 2-D blur above
            out[f"gaussian blur {r} as x then y passes"] = masked.filter(ImageFilter.GaussianBlur((r, 0))).filter(ImageFilter.GaussianBlur((0, r)))
    acc = Image.new("RGBA", rgb.size)
    for _ in range(3):
        acc.alpha_composite(masked.filter(ImageFilter.GaussianBlur(4)).convert("RGBA"))
    out["alpha_composite x3 (fill)"] = acc
    flat = Image.new("RGBA", rgba.size, "#ffffff")
    flat.paste(rgba, mask=rgba)
    out["flatten RGBA on white"] = flat.convert("RGB")
    out["getbbox"] = binary.getbbox()
    return out


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        a, b = (json.load(open(p)) for p in sys.argv[2:])
        print(f"| operation | Pillow {a['pillow']} | Pillow {b['pillow']} |\n|---|---|---|")
        for key in list(a["cases"]) + [k for k in b["cases"] if k not in a["cases"]]:
            if key not in a["cases"] or key not in b["cases"]:
                print(f"| {key} | {'–' if key not in a['cases'] else 'only here'} | {'–' if key not in b['cases'] else 'only here'} |")
                continue
            same = a["cases"][key] == b["cases"][key]
            print(f"| {key} | {'same' if same else a['cases'][key]} | {'same' if same else b['cases'].get(key)} |")
        return
    import PIL

    result = {k: (digest(v) if isinstance(v, Image.Image) else list(v)) for k, v in cases().items()}
    json.dump({"pillow": PIL.__version__, "cases": result}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()

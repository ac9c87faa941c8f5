"""How other tools prepare the same inpainting inputs, for the comparison view (``peers.md``).

All masks here follow the webui's convention: 255 (or 1) = repaint.

- :func:`diffusers_prepare` — ``StableDiffusion[XL]InpaintPipeline``'s preparation, in its
  order, through diffusers' public ``VaeImageProcessor`` (installed with the project): optional
  caller blur (PIL, one radius), size (the UNet's default when none is given), the
  ``padding_mask_crop`` box and its letterbox ("fill") resize, binarising at 0.5 *after* the
  resize and blur, the zeroed masked image, the nearest latent mask, and which of init latent /
  per-step blending / paste-back the pipeline actually does for a 4- or 9-channel UNet.
- :func:`comfy_prepare` — ComfyUI's core nodes (reimplemented from their behaviour; ComfyUI is
  GPL): "VAE Encode (for Inpainting)", "InpaintModelConditioning", "Set Latent Noise Mask",
  the GrowMask node (:func:`comfy_grow_mask`) and Differential Diffusion
  (:func:`differential_diffusion_masks`).
- :func:`repaint_map` — where a tool's latent mask lands in the original image, in that tool's
  own geometry (stretch, diffusers' crop-mode un-letterbox, ComfyUI's unscaled offset paste).
- :func:`latent_mask_rules` — one mask downsampled to latent size by each rule in use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._deps import diffusers

__all__ = [
    "PeerPrep",
    "DIFFUSERS_PIPELINES",
    "COMFY_NODES",
    "diffusers_prepare",
    "comfy_prepare",
    "comfy_vae_encode_for_inpaint",
    "comfy_grow_mask",
    "comfy_round",
    "differential_diffusion_masks",
    "repaint_map",
    "latent_mask_rules",
    "LATENT_RULES",
]

#: pipeline → (UNet sample size × 8, default strength, VAE scaling factor, VAE dtype on a GPU)
DIFFUSERS_PIPELINES = {
    "sd": (512, 1.0, 0.18215, "fp16"),
    "sdxl": (1024, 0.9999, 0.13025, "fp32 (force_upcast)"),
}
COMFY_NODES = {
    "vae_encode_for_inpaint": "VAE Encode (for Inpainting)",
    "inpaint_model_conditioning": "InpaintModelConditioning",
    "set_latent_noise_mask": "Set Latent Noise Mask",
}


@dataclass
class PeerPrep:
    """What a tool hands its VAE and sampler, in that tool's own pixel size, and what it does
    with the result.

    ``placement`` says how the tool's pixel grid sits in the original image: ``("stretch",)``,
    ``("crop", box)`` (diffusers' ``padding_mask_crop``: the W×H result is resized in mode
    "crop" to the box and pasted at its corner) or ``("offset", (x, y))`` (ComfyUI: unscaled, at
    its centre-crop offset).
    """

    name: str
    image: torch.Tensor  # 1×3×H×W in [-1, 1]: the pixels whose latent becomes the init latent
    masked_image: torch.Tensor | None  # 1×3×H×W in [-1, 1]: what a 9-channel UNet's conditioning encodes
    pixel_mask: torch.Tensor  # 1×1×H×W in [0, 1], 1 = repaint
    latent_mask: torch.Tensor  # 1×1×h×w in [0, 1] as the sampler uses it (all zeros: no blending)
    crop_region: tuple[int, int, int, int] | None = None
    notes: list[str] = field(default_factory=list)
    placement: tuple = ("stretch",)
    #: "original": the init latent is the original's; "grey": of the grey-filled pixels; "none":
    #: sampling starts from pure noise.
    init_latent_from: str = "original"
    latents_pinned: bool = True  # unmasked latents are reset to the original's each step
    pasted_back: bool = False  # the original is composited over the result at the end
    paste_mask: np.ndarray | None = None  # H×W of the original image in [0, 1]: the paste-back's alpha for the result
    concat_mask: torch.Tensor | None = None  # 1×1×h×w: a 9-channel UNet's mask channel
    why: list[str] = field(default_factory=list)  # one true line per rule that applied in this case


def _pil_mask(mask: Image.Image) -> Image.Image:
    return mask.convert("L")


def diffusers_prepare(
    image: Image.Image,
    mask: Image.Image,
    width: int | None = None,
    height: int | None = None,
    *,
    blur_factor: float | None = None,
    padding_mask_crop: int | None = None,
    pipeline: str = "sd",
    unet_channels: int = 4,
    strength: float | None = None,
) -> PeerPrep:
    """diffusers' inpaint preparation (peers.md, "diffusers").

    ``width``/``height`` default to the UNet's sample size (512 SD, 1024 SDXL) whatever the
    input size, as the pipeline does; a size that is not a multiple of 8 is a ValueError there,
    here it is floored with a note. ``blur_factor``: the caller's ``mask_processor.blur`` (PIL
    GaussianBlur, one radius); diffusers blurs nothing by itself. ``strength`` None: the
    pipeline's default (1.0 SD, 0.9999 SDXL).
    """
    if pipeline not in DIFFUSERS_PIPELINES:
        raise ValueError(f"pipeline must be one of {list(DIFFUSERS_PIPELINES)}")
    if unet_channels not in (4, 9):
        raise ValueError("unet_channels must be 4 or 9")
    sample, default_strength, scaling, vae_dtype = DIFFUSERS_PIPELINES[pipeline]
    strength = default_strength if strength is None else float(strength)
    VaeImageProcessor = diffusers().image_processor.VaeImageProcessor
    image_processor = VaeImageProcessor(vae_scale_factor=8)
    mask_processor = VaeImageProcessor(vae_scale_factor=8, do_normalize=False, do_binarize=True, do_convert_grayscale=True)
    notes: list[str] = []
    why: list[str] = []
    image = image.convert("RGB")
    mask = _pil_mask(mask)
    if blur_factor:
        mask = mask_processor.blur(mask, blur_factor)
    width = sample if width is None else int(width)
    height = sample if height is None else int(height)
    if width % 8 or height % 8:
        notes.append(f"diffusers refuses {width}×{height} (not a multiple of 8, ValueError); shown at {width // 8 * 8}×{height // 8 * 8}.")
        width, height = width // 8 * 8, height // 8 * 8
    crops = None
    resize_mode = "default"
    if padding_mask_crop is not None:
        if mask.getbbox() is None:
            notes.append("padding_mask_crop with a blank mask: diffusers' crop box is inverted (ValueError); shown without the crop.")
        else:
            crops = mask_processor.get_crop_region(mask, width, height, pad=padding_mask_crop)
            resize_mode = "fill"
    init = image_processor.preprocess(image, height=height, width=width, crops_coords=crops, resize_mode=resize_mode).float()
    cond = mask_processor.preprocess(mask, height=height, width=width, resize_mode=resize_mode, crops_coords=crops).float()
    masked = init * (cond < 0.5)
    latent = F.interpolate(cond, size=(height // 8, width // 8))

    why.append(
        "binarises at 0.5 after the resize" + (f" and after its blur ({blur_factor:g}, one radius): blur erodes thin strokes and corners" if blur_factor else "")
    )
    why.append("latent mask by nearest: the top-left pixel of each 8×8 cell decides")
    makes_init = unet_channels == 4 or strength < 1
    if unet_channels == 4:
        why.append("init latent from the original pixels; every step resets unmasked latents to the noised original")
    elif makes_init:
        why.append(f"9-channel UNet at strength {strength:g}: init latent from the original, but no per-step blending")
    else:
        why.append("9-channel UNet at strength 1.0: starts from pure noise and never blends latents; it sees the original only in the masked image")
    if unet_channels == 9:
        why.append("masked image for the 9-channel UNet = image × (mask < 0.5): masked pixels 0 (grey), encoded as a posterior sample")
    paste = None
    if crops is not None:
        why.append("crop box from every non-zero pixel of the mask as passed, letterboxed into W×H, mapped back in mode 'crop'")
        why.append("paste-back through the mask as passed (blurred, not binarised): the result shows wherever it is above 0")
        paste = np.asarray(mask, np.float32) / 255
    else:
        why.append(f"no paste-back: the output is {width}×{height} and the whole image went through the VAE")
    if pipeline == "sdxl":
        notes.append(f"SDXL: default strength 0.9999 (one step fewer, the original always encoded), size 1024, scaling {scaling}, VAE in {vae_dtype}.")
    steps_note = f"int(steps × {strength:g}) steps run" if strength < 1 else "all steps run"
    notes.append(f"diffusers {pipeline.upper()} inpaint, {unet_channels}-channel UNet, strength {strength:g}: {steps_note}.")
    return PeerPrep(
        "diffusers",
        init,
        masked if unet_channels == 9 else None,
        cond,
        latent,
        crops,
        notes,
        placement=("crop", crops) if crops is not None else ("stretch",),
        init_latent_from="original" if makes_init else "none",
        latents_pinned=unet_channels == 4,
        pasted_back=crops is not None,
        paste_mask=paste,
        why=why,
    )


def comfy_round(x: torch.Tensor) -> torch.Tensor:
    """torch.round: half to even, so exactly 0.5 → 0 (peers.md: "Round")."""
    return torch.round(x)


def comfy_grow_mask(mask: torch.Tensor, expand: int, tapered_corners: bool = True) -> torch.Tensor:
    """The GrowMask node on an H×W mask in [0, 1]: ``|expand|`` repetitions of a 3×3 grey
    dilation (erosion when negative), with a plus-shaped window when ``tapered_corners`` (diamond
    growth), a square one otherwise. Works on soft masks."""
    out = mask.float()[None, None]
    window = torch.ones(3, 3, dtype=torch.bool)
    if tapered_corners:
        window[0, 0] = window[0, 2] = window[2, 0] = window[2, 2] = False
    offsets = [(dy - 1, dx - 1) for dy in range(3) for dx in range(3) if window[dy, dx]]
    for _ in range(abs(int(expand))):
        # Grey dilation / erosion; scipy's default "reflect" border repeats the edge pixel for a 3×3 window.
        padded = F.pad(out, (1, 1, 1, 1), mode="replicate")
        h, w = out.shape[-2:]
        stack = torch.stack([padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets])
        out = stack.max(0).values if expand > 0 else stack.min(0).values
    return out[0, 0]


def differential_diffusion_masks(latent_mask: torch.Tensor, steps: int, strength: float = 1.0) -> torch.Tensor:
    """Differential Diffusion's per-step masks (peers.md): before each of ``steps`` model calls
    the soft latent mask is thresholded at ``t``, the call's position in the schedule in model
    timesteps, 1 at the first call down to 0 at the last (ComfyUI's "normal" scheduler: linear
    in timesteps, ending at the model's smallest σ). Cells with ``mask ≥ t`` are free (1).
    ``strength`` s < 1 mixes ``s·binary + (1 − s)·soft``. Returns steps×h×w.

    >>> differential_diffusion_masks(torch.tensor([[0.0, 0.5, 1.0]]), 3)[:, 0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    m = latent_mask.float()
    t = torch.linspace(1, 0, steps) if steps > 1 else torch.zeros(1)
    binary = (m[None] >= t[:, None, None]).float()
    if strength >= 1:
        return binary
    return strength * binary + (1 - strength) * m[None]


def comfy_prepare(
    image: Image.Image,
    mask: Image.Image,
    node: str = "vae_encode_for_inpaint",
    *,
    grow_mask_by: int = 6,
    noise_mask: bool = True,
    grow_mask: int = 0,
    tapered_corners: bool = True,
    unet_channels: int = 4,
    denoise: float = 1.0,
    differential_diffusion: bool = False,
) -> PeerPrep:
    """ComfyUI's preparation by one of :data:`COMFY_NODES`, with an optional GrowMask node
    (``grow_mask`` ≠ 0) before it and Differential Diffusion on the model (peers.md, "ComfyUI").

    Every encode centre-crops the pixels to multiples of 8 at offset ``(size % 8) // 2``; the
    sampler's latent mask is the noise mask bilinear to latent size (soft).
    """
    if node not in COMFY_NODES:
        raise ValueError(f"node must be one of {list(COMFY_NODES)}")
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)[None]  # 1×H×W×3
    m = torch.from_numpy(np.asarray(_pil_mask(mask), dtype=np.float32) / 255.0)
    notes: list[str] = []
    why: list[str] = []
    if grow_mask:
        m = comfy_grow_mask(m, grow_mask, tapered_corners)
        shape = "diamond" if tapered_corners else "square"
        why.append(f"GrowMask {grow_mask:+d}: {abs(grow_mask)} × 3×3 grey {'dilation' if grow_mask > 0 else 'erosion'} ({shape}), soft values kept")
    m = m[None, None]
    h, w = pixels.shape[1], pixels.shape[2]
    m = F.interpolate(m, size=(h, w), mode="bilinear")
    h8, w8 = (h // 8) * 8, (w // 8) * 8
    oy, ox = (h % 8) // 2, (w % 8) // 2
    pixels = pixels[:, oy : oy + h8, ox : ox + w8, :]
    m = m[:, :, oy : oy + h8, ox : ox + w8]
    if (h8, w8) != (h, w):
        notes.append(
            f"{w}×{h} is centre-cropped to {w8}×{h8} at offset ({ox}, {oy}): {w - w8} columns and {h - h8} rows are lost, "
            "and the output keeps the cropped size."
        )
    rounded = comfy_round(m)
    keep = (1.0 - rounded)[:, 0, :, :, None]  # 1×H×W×1
    grey = ((pixels - 0.5) * keep + 0.5).permute(0, 3, 1, 2) * 2 - 1
    original = pixels.permute(0, 3, 1, 2) * 2 - 1
    concat_mask = None
    pinned = True
    if node == "vae_encode_for_inpaint":
        if grow_mask_by == 0:
            grown = rounded
        else:
            kernel = torch.ones(1, 1, grow_mask_by, grow_mask_by)
            grown = torch.clamp(F.conv2d(rounded, kernel, padding=math.ceil((grow_mask_by - 1) / 2)), 0, 1)
        noise = comfy_round(grown[:, :, :h8, :w8])
        ring = int((noise - rounded).clamp(min=0).sum())
        encoded, init_from = grey, "grey"
        why.append("pixels under round(mask) become 0.5 grey before encoding: the original content there is gone")
        why.append(f"noise mask = round(mask) grown by a {grow_mask_by}×{grow_mask_by} box, rounded; the grown ring ({ring} px) keeps its pixels yet is repainted")
        if denoise < 1:
            why.append(f"denoise {denoise:g} < 1 starts from the grey latent: the grey shows through")
        concat_mask = F.interpolate(noise, size=(h8 // 8, w8 // 8), mode="bilinear")
        masked = grey
    elif node == "inpaint_model_conditioning":
        encoded, init_from = original, "original"
        noise = m if noise_mask else torch.zeros_like(m)
        pinned = noise_mask
        why.append("latent from the original pixels; the grey fill goes only into the conditioning image")
        why.append("noise mask = the mask as given, neither rounded nor grown" if noise_mask else "noise_mask off: no latent blending, everything may change")
        concat_mask = comfy_round(F.interpolate(m, size=(h8 // 8, w8 // 8), mode="bilinear"))
        masked = grey
    else:
        encoded, init_from, masked = original, "original", None
        noise = m
        why.append("latent from a plain VAE Encode of the original; noise mask = the mask as given")
    latent = F.interpolate(noise, size=(h8 // 8, w8 // 8), mode="bilinear")
    why.append("at sampling the noise mask is bilinear to latent size: soft edges blend (a binary edge gives 0, .25, .5, .75, 1)")
    if differential_diffusion:
        why.append("Differential Diffusion: each call frees the cells whose mask ≥ the schedule position: a soft value v is repainted for the last ~v of the steps")
    if unet_channels == 9:
        if node == "vae_encode_for_inpaint":
            why.append("9-channel model: concat image = the grey latent itself, concat mask = the grown mask")
        elif node == "inpaint_model_conditioning":
            why.append("9-channel model: concat mask = the mask bilinear to latent size, then rounded")
        else:
            notes.append("Set Latent Noise Mask gives a 9-channel model no concat image: use InpaintModelConditioning.")
    why.append("no paste-back unless the graph adds ImageCompositeMasked; the whole image goes through the VAE")
    return PeerPrep(
        "ComfyUI",
        encoded,
        masked if unet_channels == 9 else None,
        noise[:, :, :h8, :w8],
        latent,
        None,
        notes,
        placement=("offset", (ox, oy)),
        init_latent_from=init_from,
        latents_pinned=pinned,
        pasted_back=False,
        concat_mask=concat_mask if unet_channels == 9 else None,
        why=why,
    )


def comfy_vae_encode_for_inpaint(image: Image.Image, mask: Image.Image, grow_mask_by: int = 6) -> PeerPrep:
    """ComfyUI's "VAE Encode (for Inpainting)" on an RGB image and a mask (255 = repaint)."""
    return comfy_prepare(image, mask, "vae_encode_for_inpaint", grow_mask_by=grow_mask_by)


def repaint_map(prep: PeerPrep, image_size: tuple[int, int], latent_mask: np.ndarray | None = None) -> np.ndarray:
    """Where ``prep``'s latent mask (or ``latent_mask``, h×w in [0, 1]) lands in the original
    image (W×H size ``image_size``): an H×W float array. Each cell is 8×8 of the tool's pixels
    (nearest), placed by the tool's own geometry:

    - stretch: resized to the image size;
    - crop (diffusers with ``padding_mask_crop``): resized in diffusers' mode "crop" to the box
      (scaled to cover, centred, the letterbox bands cut off) and pasted at its corner;
    - offset (ComfyUI): pasted unscaled at the centre-crop offset, also when the offset is
      (0, 0) (a 513×385 image: the last row and column are never repainted).
    """
    cells = latent_mask if latent_mask is not None else prep.latent_mask[0, 0].numpy()
    # Float cells ("F"): a cell at exactly 0.5 stays 0.5 (half blended), where 1/255 steps
    # would round it to 128/255 > 0.5 and count it as repainted.
    small = Image.fromarray(np.clip(cells, 0, 1).astype(np.float32), mode="F")
    ph, pw = prep.pixel_mask.shape[-2:]
    big = small.resize((pw, ph), Image.Resampling.NEAREST)
    kind = prep.placement[0]
    if kind == "stretch":
        out = big.resize(image_size, Image.Resampling.NEAREST)
    elif kind == "crop":
        x1, y1, x2, y2 = prep.placement[1]
        processor = diffusers().image_processor.VaeImageProcessor(vae_scale_factor=8, resample="nearest")
        fitted = processor.resize(big, height=y2 - y1, width=x2 - x1, resize_mode="crop")
        out = Image.new("F", image_size, 0.0)
        out.paste(fitted, (x1, y1))
    else:
        out = Image.new("F", image_size, 0.0)
        out.paste(big, prep.placement[1])
    return np.asarray(out, dtype=np.float32)


#: (name, one line on where it is used)
LATENT_RULES = {
    "bicubic + round": "webui: PIL bicubic to 1/8, then rounded at 0.5",
    "nearest": "diffusers: F.interpolate default, the top-left pixel of each 8×8 cell",
    "bilinear": "ComfyUI at sampling: soft, the centre of each cell",
    "max over cell": "Fooocus-style: any masked pixel marks the whole cell",
}


def latent_mask_rules(mask: Image.Image) -> dict[str, np.ndarray]:
    """One mask (processing size, 255 = repaint) at latent size under each rule, h×w in [0, 1]."""
    w, h = mask.width // 8, mask.height // 8
    l = mask.convert("L")
    t = torch.from_numpy(np.asarray(l, dtype=np.float32) / 255.0)[None, None]
    return {
        "bicubic + round": np.around(np.asarray(l.convert("RGB").resize((w, h)), dtype=np.float32)[..., 0] / 255),
        "nearest": F.interpolate(t, size=(h, w))[0, 0].numpy(),
        "bilinear": F.interpolate(t, size=(h, w), mode="bilinear")[0, 0].numpy(),
        "max over cell": F.max_pool2d(t[..., : h * 8, : w * 8], 8)[0, 0].numpy(),
    }

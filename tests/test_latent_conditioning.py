"""Spec §8 VAE protocol, §9 latent mask and fills, §10 image conditioning."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from inpaint_init import CheapApproxVAE, VAEBackend, apply_latent_fill, create_noise, latent_mask_image, latent_masks
from inpaint_init.conditioning import conditioning_mask_tensor, inpainting_conditioning, standard_conditioning


class TestLatentMask:
    def test_rounding_at_the_half(self):
        # 127/255 = 0.498 → 0, 128/255 = 0.502 → 1 (a 1×1 image resizes to itself).
        for v, want in [(127, 0.0), (128, 1.0), (0, 0.0), (255, 1.0)]:
            mask, nmask = latent_masks(Image.new("RGB", (1, 1), (v, 0, 0)), 4, mask_round=True)
            assert nmask.flatten().tolist() == [want] * 4 and mask.flatten().tolist() == [1 - want] * 4

    def test_numpy_round_is_half_to_even(self):
        # The reference rounds with np.around: an exact 0.5 goes to 0 (and 1.5 to 2).
        assert np.around(np.float32(0.5)) == 0 and np.around(np.float32(1.5)) == 2

    def test_soft_without_round_uses_first_channel(self):
        mask, nmask = latent_masks(Image.new("RGB", (2, 1), (51, 255, 255)), 4, mask_round=False)
        assert torch.allclose(nmask, torch.full((4, 1, 2), 0.2))

    def test_bicubic_default_resample(self):
        m = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
        small = latent_mask_image(m, 8, 8)
        expected = m.convert("RGB").resize((8, 8), Image.Resampling.BICUBIC)
        assert small.size == (8, 8) and np.array_equal(np.asarray(small), np.asarray(expected))

    @given(st.integers(1, 90), st.integers(1, 90), st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31))
    def test_l_fast_path_equals_rgb_path(self, w, h, lw, lh, seed):
        """For an L mask we resize the one channel, then convert; the reference converts to RGB
        first. Same pixels (PIL resamples each channel alike)."""
        m = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8))
        expected = m.convert("RGB").resize((lw, lh))
        assert np.array_equal(np.asarray(latent_mask_image(m, lw, lh)), np.asarray(expected))

    @given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31), st.booleans())
    def test_mask_plus_nmask_is_one(self, w, h, seed, rnd):
        img = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
        mask, nmask = latent_masks(img, 4, rnd)
        assert mask.shape == (4, h, w) and torch.equal(mask + nmask, torch.ones_like(mask))


class TestLatentFills:
    def test_noise_is_manual_seed_then_randn_per_image(self):
        noise = create_noise((4, 2, 3), [7, 8])
        torch.manual_seed(7)
        a = torch.randn(4, 2, 3)
        torch.manual_seed(8)
        b = torch.randn(4, 2, 3)
        assert torch.equal(noise, torch.stack([a, b]))

    def test_noise_leaves_global_rng_alone(self):
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        create_noise((4, 1, 1), [1])
        assert torch.equal(torch.rand(3), expected)

    def test_fill_modes(self):
        z = torch.full((1, 4, 1, 2), 5.0)
        nmask = torch.tensor([[[0.0, 1.0]]]).expand(4, 1, 2)
        mask = 1 - nmask
        noise = torch.full((1, 4, 1, 2), -1.0)
        assert apply_latent_fill(z, mask, nmask, 2, noise)[0, :, 0].tolist() == [[5.0, -1.0]] * 4
        assert apply_latent_fill(z, mask, nmask, 3, None)[0, :, 0].tolist() == [[5.0, 0.0]] * 4
        assert apply_latent_fill(z, mask, nmask, 0, None) is z


class TestConditioning:
    def test_standard_is_zeros_b511(self):
        c = standard_conditioning(3)
        assert c.shape == (3, 5, 1, 1) and not c.any()

    def test_mask_rounding_and_all_ones_without_mask(self):
        m = Image.fromarray(np.array([[127, 128]], np.uint8))
        assert conditioning_mask_tensor(m, (1, 2), True).flatten().tolist() == [0.0, 1.0]
        assert conditioning_mask_tensor(m, (1, 2), False).flatten().tolist() == pytest.approx([127 / 255, 128 / 255])
        assert torch.equal(conditioning_mask_tensor(None, (3, 4), True), torch.ones(1, 1, 3, 4))

    def test_masked_image_lerp_and_nearest_downsample(self):
        src = torch.full((2, 3, 16, 16), 0.5)
        m = torch.zeros(1, 1, 16, 16)
        m[..., :, 8:] = 1  # right half repainted
        m[..., 0, 0] = 1  # a single pixel at the top-left sample point of cell (0, 0)
        seen = []

        def encode(x):
            seen.append(x)
            return torch.zeros(x.shape[0], 4, 2, 2)

        cond, masked = inpainting_conditioning(src, (2, 2), m, 1.0, encode)
        assert cond.shape == (2, 5, 2, 2)
        assert masked[:, :, :, 8:].abs().max() == 0 and torch.all(masked[:, :, 1:, :8] == 0.5)
        # nearest picks the top-left pixel of each 8×8 cell: cell (0,0) is 1 because of one pixel.
        assert cond[0, 0].tolist() == [[1.0, 1.0], [0.0, 1.0]]
        half, _ = inpainting_conditioning(src, (2, 2), m, 0.5, encode)
        assert torch.allclose(seen[-1][:, :, 4, 12], torch.tensor(0.25))

    def test_size_mismatch_is_clear(self):
        with pytest.raises(ValueError, match="conditioning mask"):
            inpainting_conditioning(torch.zeros(1, 3, 8, 8), (1, 1), torch.zeros(1, 1, 16, 16), 1.0, lambda x: x)


class TestCheapVAE:
    def test_protocol_and_shapes(self):
        vae = CheapApproxVAE()
        assert isinstance(vae, VAEBackend)
        z = vae.encode(torch.zeros(2, 3, 24, 16))
        assert z.shape == (2, 4, 3, 2)
        assert vae.decode(z).shape == (2, 3, 24, 16)
        assert "approximation" in vae.name

    def test_roundtrip_gives_cell_averages(self):
        """The encoder is the least-squares inverse of the cheap decoder, so a decode of the
        encode is exactly the 8×8 average colour (the 3 RGB channels are in the map's range)."""
        x = torch.rand(1, 3, 16, 16) * 1.6 - 0.8
        y = CheapApproxVAE().decode(CheapApproxVAE().encode(x))
        avg = torch.nn.functional.avg_pool2d(x, 8)
        assert torch.allclose(y[..., ::8, ::8], avg, atol=1e-5)

    @given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31), st.sampled_from(["sd1", "sdxl", "sd3", "flux"]))
    def test_decode_image_equals_the_full_resolution_path(self, h, w, seed, kind):
        from inpaint_init.pipeline import _tensor_to_pil

        vae = CheapApproxVAE(kind)
        z = torch.randn(1, vae.latent_channels, h, w, generator=torch.Generator().manual_seed(seed)) * 3
        assert np.array_equal(np.asarray(vae.decode_image(z)), np.asarray(_tensor_to_pil(vae.decode(z)[0])))

    def test_sdxl_coefficients_and_bad_kind(self):
        assert "SDXL" in CheapApproxVAE("sdxl").name
        with pytest.raises(ValueError, match="kind must be one of"):
            CheapApproxVAE("sd35")

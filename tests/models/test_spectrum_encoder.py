"""Spectrum encoder: patch geometry, parameter count, masked loss (Tang et al. 2025 configuration)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skysift.config import ConfigError
from skysift.models.spectrum_encoder import (
    EncoderConfig,
    SpectrumEncoder,
    count_parameters,
    masked_mse,
    random_mask,
)
from skysift.spectra.patches import n_patches, patchify, patchify_torch


def test_paper_patch_count_is_735():
    assert n_patches(3688, 15, 10) == 735
    assert EncoderConfig().n_patches == 735
    # the last patch must end inside the spectrum and one more would not fit
    last_end = (735 - 1) * 5 + 15
    assert last_end <= 3688 < last_end + 5


def test_patchify_matches_loop_reference():
    rng = np.random.default_rng(1)
    flux = rng.normal(size=(3, 103)).astype(np.float32)
    ref = np.array([[row[s : s + 15] for s in range(0, 103 - 15 + 1, 5)] for row in flux])
    got = patchify(flux, 15, 10)
    assert got.shape == ref.shape == (3, 18, 15)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(patchify_torch(torch.from_numpy(flux), 15, 10).numpy(), ref)


def test_patchify_rejects_bad_geometry():
    with pytest.raises(ValueError):
        n_patches(100, 15, 15)
    with pytest.raises(ValueError):
        n_patches(10, 15, 10)


def _expected_parameters(S, P, O, D, L, ff):
    N = (S - P) // (P - O) + 1
    patch_embed = P * D + D
    positional = N * D
    mask_token = D
    attention = (3 * D * D + 3 * D) + (D * D + D)
    feed_forward = (D * ff + ff) + (ff * D + D)
    norms = 2 * (2 * D)
    block = attention + feed_forward + norms
    final_norm = 2 * D
    head = D * P + P
    return patch_embed + positional + mask_token + L * block + final_norm + head


def test_parameter_count_of_paper_configuration():
    cfg = EncoderConfig(profile="paper")
    assert (cfg.embed_dim, cfg.depth, cfg.n_heads, cfg.patch_size, cfg.overlap) == (768, 6, 6, 15, 10)
    model = SpectrumEncoder(cfg)
    expected = _expected_parameters(3688, 15, 10, 768, 6, 4 * 768)
    assert count_parameters(model) == expected == 43_117_839


def test_parameter_count_of_tiny_profile():
    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id="lin:3850:9000:200")
    assert count_parameters(SpectrumEncoder(cfg)) == _expected_parameters(200, 15, 10, 64, 2, 256)


def test_random_mask_masks_a_quarter_exactly():
    cfg = EncoderConfig(profile="tiny")
    gen = torch.Generator().manual_seed(0)
    mask = random_mask(64, cfg, gen)
    assert mask.shape == (64, 735)
    assert (mask.sum(1) == round(0.25 * 735)).all()
    # positions differ between rows (random per spectrum) and cover the whole range
    assert not (mask[0] == mask[1]).all()
    assert mask.any(0).float().mean() > 0.99


def test_masked_loss_ignores_unmasked_patches():
    gen = torch.Generator().manual_seed(3)
    pred = torch.randn(4, 20, 15, generator=gen, requires_grad=True)
    target = torch.randn(4, 20, 15, generator=gen)
    mask = torch.rand(4, 20, generator=gen) < 0.3
    loss = masked_mse(pred, target, mask)
    ref = ((pred - target) ** 2).mean(-1)[mask].mean()
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert torch.all(pred.grad[~mask] == 0)
    assert torch.all(pred.grad[mask].abs().sum(-1) > 0)
    # any change of the prediction or target on unmasked patches leaves the loss unchanged
    pred2 = pred.detach().clone()
    target2 = target.clone()
    pred2[~mask] += 100.0
    target2[~mask] -= 50.0
    torch.testing.assert_close(masked_mse(pred2, target2, mask), loss.detach())


def test_model_loss_depends_only_on_masked_reconstructions():
    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id="lin:3850:9000:200", dropout=0.0)
    torch.manual_seed(0)
    model = SpectrumEncoder(cfg)
    flux = torch.randn(3, 200)
    mask = random_mask(3, cfg, torch.Generator().manual_seed(1))
    pred = model(flux, mask)
    pred.retain_grad()
    loss = masked_mse(pred, model.patches(flux), mask)
    loss.backward()
    assert torch.all(pred.grad[~mask] == 0)
    torch.testing.assert_close(loss, model.loss(flux, mask))


def test_mask_token_replaces_masked_patch_content():
    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id="lin:3850:9000:200", dropout=0.0)
    torch.manual_seed(0)
    model = SpectrumEncoder(cfg).eval()
    flux = torch.randn(1, 200)
    mask = torch.zeros(1, cfg.n_patches, dtype=torch.bool)
    mask[0, :] = True  # everything masked: the input cannot matter any more
    other = torch.randn(1, 200)
    with torch.no_grad():
        torch.testing.assert_close(model(flux, mask), model(other, mask))
        assert not torch.allclose(model.embed(flux), model.embed(other))


def test_embed_shape_and_pooling():
    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id="lin:3850:9000:200")
    model = SpectrumEncoder(cfg).eval()
    with torch.no_grad():
        x = torch.randn(5, 200)
        tokens = model.encode(x)
        torch.testing.assert_close(model.embed(x, "mean"), tokens.mean(1))
        torch.testing.assert_close(model.embed(x, "max"), tokens.amax(1))
        with pytest.raises(ValueError, match="expects 200"):
            model.embed(torch.randn(2, 199))


def test_config_validation():
    with pytest.raises(ConfigError, match="divisible"):
        EncoderConfig(profile="tiny", n_heads=3)
    with pytest.raises(ConfigError, match="3688 points"):
        EncoderConfig(n_points=200)
    with pytest.raises(ConfigError, match="mask_ratio"):
        EncoderConfig(mask_ratio=0.0)
    assert EncoderConfig(profile="tiny", embed_dim=32).embed_dim == 32


def test_sincos_position_codes_match_formula():
    import math

    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder, sincos_positions

    codes = sincos_positions(735, 64)
    pos, i = 417, 5
    assert codes[pos, i].item() == pytest.approx(math.sin(pos / 10000 ** (i / 32)), abs=1e-6)
    assert codes[pos, 32 + i].item() == pytest.approx(math.cos(pos / 10000 ** (i / 32)), abs=1e-6)
    model = SpectrumEncoder(EncoderConfig(profile="tiny"))
    assert torch.equal(model.pos_embed[0], codes) and model.pos_embed.requires_grad  # a start, still learned


def test_precision_contexts():
    """tf32 touches only CUDA's TF32 flags and restores them; bf16 autocasts; unknown names are refused."""
    from skysift.models.precision import forward_autocast, matmul_precision

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with matmul_precision("cuda:0", "tf32"):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with matmul_precision("cuda:0", "fp32"):
        assert not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    with forward_autocast("cpu", "tf32"):  # plain float32 on CPU
        assert torch.equal(a @ b, torch.matmul(a, b)) and (a @ b).dtype == torch.float32
    with forward_autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        with forward_autocast("cpu", "fp16"):
            pass

"""GalaxIDNet's ViT (paper parameter count, block structure, batched attention), combined similarity, loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skysift.config import ConfigError
from skysift.models.image_similarity import (SimilarityWeights, combined_similarity, combined_similarity_numpy,
                                             contrastive_loss, similarity_matrix, similarity_terms)
from skysift.models.image_vit import (PAPER_TOTAL, PAPER_TRAINABLE, GalaxyBlock, GalaxyVit, ImageVitConfig,
                                      SliceAttention, parameter_counts, patchify, pooled_vector, sincos_table)


def test_paper_profile_parameter_count():
    model = GalaxyVit(ImageVitConfig(profile="paper"))
    counts = parameter_counts(model)
    assert counts["trainable"] == PAPER_TRAINABLE == 17_859_584
    assert counts["total"] == PAPER_TOTAL == 18_060_288  # the paper's printed figure counts the fixed table
    assert counts["fixed"] == 196 * 1024
    # the table is a buffer: not a parameter, so no optimiser ever sees it
    assert "pos_table" not in dict(model.named_parameters()) and "pos_table" in dict(model.named_buffers())
    cfg = model.cfg
    assert (cfg.image_size_px, cfg.n_patches, cfg.patch_values, cfg.hidden_dim, cfg.out_dim) == (224, 196, 768, 1024, 2048)
    # the note's component arithmetic, piece by piece
    per_head = model.blocks[0].attn.qkv_weight.numel() + model.blocks[0].attn.qkv_bias.numel()
    assert per_head == 4 * 3 * (256 * 256 + 256) == 789_504
    assert sum(p.numel() for p in model.blocks[0].parameters()) == 4_990_976


def test_position_table_is_fixed_sin_cos():
    table = sincos_table(7, 8).numpy()
    pos, j = np.meshgrid(np.arange(7), np.arange(8), indexing="ij")
    angle = pos / 10000.0 ** (2 * (j // 2) / 8)
    assert np.allclose(table, np.where(j % 2 == 0, np.cos(angle), np.sin(angle)), atol=1e-6)
    model = GalaxyVit(ImageVitConfig(profile="tiny"))
    before = model.pos_table.clone()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.rand(2, 3, 64, 64)).sum().backward()
    opt.step()
    assert torch.equal(model.pos_table, before)


def test_2d_position_table_codes_row_and_column_separately():
    from skysift.models.image_vit import sincos_table_2d

    grid, dim = 4, 16
    table = sincos_table_2d(grid, dim).numpy()
    half = sincos_table(grid, dim // 2).numpy()
    for i in range(grid * grid):
        r, c = divmod(i, grid)  # row-major patch order, as patchify
        assert np.allclose(table[i], np.concatenate([half[r], half[c]]))
    cfg = ImageVitConfig(profile="paper", position_table="2d")
    assert parameter_counts(GalaxyVit(cfg)) == parameter_counts(GalaxyVit(ImageVitConfig(profile="paper")))
    with pytest.raises(ConfigError, match="position_table"):
        ImageVitConfig(profile="tiny", position_table="3d")


def test_patchify_keeps_channels_in_row_column_channel_order():
    x = torch.rand(2, 3, 32, 32)
    p = patchify(x, 8)
    assert p.shape == (2, 16, 192)
    # patch (row 1, column 2) = index 1 * 4 + 2
    ref = x[:, :, 8:16, 16:24].permute(0, 2, 3, 1).reshape(2, -1)
    assert torch.equal(p[:, 6], ref)


def _loop_attention(attn: SliceAttention, x: torch.Tensor) -> torch.Tensor:
    """Per image, per head: softmax(q k^T / sqrt(d)) v with the head's own Linear(d, d) maps, in float64."""
    w, b = attn.qkv_weight.double(), attn.qkv_bias.double()
    d = attn.head_dim
    out = torch.zeros_like(x, dtype=torch.float64)
    for i in range(x.shape[0]):
        for h in range(attn.n_heads):
            xs = x[i, :, h * d:(h + 1) * d].double()
            q, k, v = (xs @ w[s, h].T + b[s, h] for s in range(3))
            att = torch.softmax(q @ k.T / np.sqrt(d), dim=-1)
            out[i, :, h * d:(h + 1) * d] = att @ v
    return out


@pytest.mark.parametrize("dim,heads", [(1024, 4), (64, 4), (48, 3)])
def test_batched_attention_matches_per_head_loop(dim, heads):
    torch.manual_seed(0)
    attn = SliceAttention(dim, heads)
    x = torch.randn(3, 10, dim)
    assert torch.allclose(attn(x).double(), _loop_attention(attn, x), atol=1e-5)


def test_each_image_gets_its_own_attention():
    """The author's code returned the last image's attention for the whole batch (note section 7)."""
    torch.manual_seed(1)
    model = GalaxyVit(ImageVitConfig(profile="tiny")).eval()
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)
    assert not torch.allclose(together[0], together[3], atol=1e-3)


def test_block_is_the_notes_layer_norm_placement():
    torch.manual_seed(2)
    cfg = ImageVitConfig(profile="tiny")
    block = GalaxyBlock(cfg)
    x = torch.randn(2, 5, cfg.hidden_dim)
    z = block.norm2(x + block.attn(block.norm1(x)))
    assert torch.allclose(block(x), z + block.mlp(z), atol=1e-6)
    assert len([m for m in block.modules() if isinstance(m, torch.nn.LayerNorm)]) == 2


def test_outputs_and_pooled_vector():
    model = GalaxyVit(ImageVitConfig(profile="tiny")).eval()
    with torch.no_grad():
        feats, vec = model.embed(torch.rand(3, 3, 64, 64))
    assert feats.shape == (3, 64, 128) and vec.shape == (3, 128)
    assert torch.allclose(vec.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(vec, pooled_vector(feats))
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\)"):
        model(torch.rand(1, 3, 32, 32))


def test_config_validation():
    with pytest.raises(ConfigError, match="patch_size_px"):
        ImageVitConfig(profile="tiny", patch_size_px=7)
    with pytest.raises(ConfigError, match="n_heads"):
        ImageVitConfig(profile="tiny", n_heads=5)


def test_combined_similarity_matches_the_formula_in_numpy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 6, 16)).astype(np.float32)
    for w in ((1 / 3, 1 / 3, 1 / 3), (0.5, 0.2, 0.3)):
        ours = float(combined_similarity(torch.from_numpy(a), torch.from_numpy(b), w))
        assert ours == pytest.approx(combined_similarity_numpy(a, b, w), rel=1e-5)
    cos, l2, l3 = (float(t) for t in similarity_terms(torch.from_numpy(a), torch.from_numpy(b)))
    d = a.astype(np.float64) - b
    assert l3 == pytest.approx(np.mean(np.sum(np.abs(d) ** 3, axis=1) ** (1 / 3)), rel=1e-5)  # p = 3, not 2
    assert l3 < l2  # a Minkowski p = 3 distance is below the Euclidean one
    # identical features: cos 1, distances 0, sim = sum of weights = 1
    assert float(combined_similarity(torch.from_numpy(a), torch.from_numpy(a))) == pytest.approx(1.0, abs=1e-5)
    # opposite features: sim stays above -1/3
    assert float(combined_similarity(torch.from_numpy(a), torch.from_numpy(-a))) > -1 / 3


def test_similarity_matrix_equals_pairs():
    rng = np.random.default_rng(4)
    q = torch.from_numpy(rng.normal(size=(3, 5, 8)).astype(np.float32))
    db = torch.from_numpy(rng.normal(size=(11, 5, 8)).astype(np.float32))
    m = similarity_matrix(q, db, SimilarityWeights(), chunk_elements=80)  # 2 database rows per chunk
    ref = np.array([[combined_similarity_numpy(q[i].numpy(), db[j].numpy()) for j in range(11)] for i in range(3)])
    assert np.allclose(m.numpy(), ref, atol=1e-5)
    assert np.allclose(similarity_matrix(q, db.half()).numpy(), ref, atol=5e-3)


def test_contrastive_loss_matches_the_formula():
    rng = np.random.default_rng(5)
    s = rng.uniform(-0.3, 1.2, 50)
    y = rng.integers(0, 2, 50).astype(float)
    ref = np.mean((1 - y) * s ** 2 + y * np.maximum(0, 1.0 - s) ** 2)
    got = float(contrastive_loss(torch.from_numpy(s), torch.from_numpy(y), margin=1.0))
    assert got == pytest.approx(ref, rel=1e-12)
    # the note's convention: y = 1 positive (pushed to s = m), y = 0 negative (pushed to s = 0)
    assert float(contrastive_loss(torch.tensor([1.0]), torch.tensor([1.0]))) == 0.0
    assert float(contrastive_loss(torch.tensor([0.0]), torch.tensor([0.0]))) == 0.0
    assert float(contrastive_loss(torch.tensor([0.0]), torch.tensor([1.0]))) == 1.0
    # skysift's negative margin: negatives with |s| <= m_neg cost nothing; positives unchanged
    ref = np.mean((1 - y) * np.maximum(0, np.abs(s) - 0.3) ** 2 + y * np.maximum(0, 1.0 - s) ** 2)
    got = float(contrastive_loss(torch.from_numpy(s), torch.from_numpy(y), 1.0, negative_margin=0.3))
    assert got == pytest.approx(ref, rel=1e-12)
    assert float(contrastive_loss(torch.tensor([0.25, -0.25]), torch.tensor([0.0, 0.0]), negative_margin=0.3)) == 0.0


def test_loss_gradient_is_finite_for_identical_features():
    a = torch.randn(2, 4, 8, requires_grad=True)
    s = combined_similarity(a, a.detach().clone())
    contrastive_loss(s, torch.ones(2)).backward()
    assert torch.isfinite(a.grad).all()

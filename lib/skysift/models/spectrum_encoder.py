"""Masked-patch Transformer encoder for 1-D spectra (Tang et al. 2025, GalSpecEncoder-KB).

A normalised spectrum of S points is cut into N overlapping patches of P points
(``skysift.spectra.patches``); each patch is linearly embedded to D dimensions,
a learnable positional embedding is added, and L pre-norm Transformer blocks with
h heads encode the sequence. During pre-training a fraction of the patches (25 %)
is replaced by a learned mask token and a linear head reconstructs the masked
patches; the loss is the MSE over the masked patches only. For embedding, the
unmasked sequence is encoded and pooled over the patch tokens.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from skysift.config import ConfigError, require
from skysift.spectra.grid import parse_grid_id
from skysift.spectra.patches import n_patches, patchify_torch

# D, L, h of each named size. "paper": Tang et al. 2025; "tiny": tests and CI.
PROFILES: dict[str, dict[str, int]] = {
    "paper": {"embed_dim": 768, "depth": 6, "n_heads": 6},
    "tiny": {"embed_dim": 64, "depth": 2, "n_heads": 2},
}


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of the spectrum encoder; the profile fills D, L, h left unset."""

    profile: Literal["paper", "tiny"] = "paper"
    """Named size: 'paper' (D=768, L=6, h=6, Tang et al. 2025) or 'tiny' (D=64, L=2, h=2, tests/CI)."""
    n_points: int = 3688
    """Points per input spectrum S (Tang et al. 2025: 3688 on 3850-9000 A)."""
    grid_id: str = "lin:3850:9000:3688"
    """Wavelength grid the model is trained on; tables on another grid are refused."""
    patch_size: int = 15
    """Points per patch P (Tang et al. 2025: 15)."""
    overlap: int = 10
    """Points shared by neighbouring patches O (Tang et al. 2025: 10, i.e. stride 5)."""
    embed_dim: int | None = None
    """Token dimension D (Tang et al. 2025: 768); None = from the profile."""
    depth: int | None = None
    """Number of Transformer blocks L (Tang et al. 2025: 6); None = from the profile."""
    n_heads: int | None = None
    """Attention heads h (Tang et al. 2025: 6); None = from the profile."""
    mlp_ratio: float = 4.0
    """Feed-forward width / D (not stated in the paper; 4 is the usual Transformer choice)."""
    dropout: float = 0.1
    """Dropout in attention and feed-forward layers (not stated in the paper; conf default)."""
    mask_ratio: float = 0.25
    """Fraction of patches masked per spectrum in pre-training (Tang et al. 2025: 25 %)."""
    pos_init: Literal["sincos", "normal"] = "sincos"
    """Start of the learnable positional embedding: 1-D sine-cosine (as in MAE; neighbouring patches start
    with similar codes, so attention to the overlapping neighbours is learned in hundreds rather than many
    thousands of steps) or truncated normal with std 0.02 (ViT/BERT). Learned either way."""

    def __post_init__(self):
        require(self.profile in PROFILES, f"model.profile must be one of {sorted(PROFILES)}, got {self.profile!r}")
        for key, value in PROFILES[self.profile].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        require(self.patch_size >= 1, f"model.patch_size must be >= 1, got {self.patch_size}")
        require(
            0 <= self.overlap < self.patch_size,
            f"model.overlap must be in [0, patch_size={self.patch_size}), got {self.overlap}",
        )
        require(
            self.n_points >= self.patch_size,
            f"model.n_points ({self.n_points}) must be >= model.patch_size ({self.patch_size})",
        )
        require(self.embed_dim >= 1 and self.depth >= 1 and self.n_heads >= 1, "model D, L, h must be >= 1")
        require(
            self.embed_dim % self.n_heads == 0,
            f"model.embed_dim ({self.embed_dim}) must be divisible by model.n_heads ({self.n_heads})",
        )
        require(0.0 <= self.dropout < 1.0, f"model.dropout must be in [0, 1), got {self.dropout}")
        require(0.0 < self.mask_ratio < 1.0, f"model.mask_ratio must be in (0, 1), got {self.mask_ratio}")
        require(self.pos_init in ("sincos", "normal"),
                f"model.pos_init must be 'sincos' or 'normal', got {self.pos_init!r}")
        require(self.mlp_ratio > 0, f"model.mlp_ratio must be > 0, got {self.mlp_ratio}")
        try:
            grid_points = parse_grid_id(self.grid_id).n_points
        except ValueError as exc:
            raise ConfigError(f"model.grid_id: {exc}") from None
        require(grid_points == self.n_points,
                f"model.grid_id {self.grid_id!r} has {grid_points} points but model.n_points is {self.n_points}")

    @property
    def n_patches(self) -> int:
        """N = floor((S - P) / (P - O)) + 1."""
        return n_patches(self.n_points, self.patch_size, self.overlap)

    @property
    def n_masked(self) -> int:
        """Patches masked per spectrum: round(mask_ratio * N), at least 1."""
        return max(1, int(round(self.mask_ratio * self.n_patches)))

    @property
    def ff_dim(self) -> int:
        """Feed-forward hidden width."""
        return int(round(self.mlp_ratio * self.embed_dim))

    def to_dict(self) -> dict:
        """Plain dict (JSON-safe) that ``EncoderConfig(**d)`` rebuilds."""
        return dataclasses.asdict(self)


def random_mask(batch: int, cfg: EncoderConfig, generator: torch.Generator | None = None,
                device: str | torch.device = "cpu") -> torch.Tensor:
    """Boolean (batch, N) mask with exactly ``cfg.n_masked`` True patches per row, chosen uniformly."""
    scores = torch.rand(batch, cfg.n_patches, generator=generator)
    idx = scores.argsort(dim=1)[:, : cfg.n_masked]
    mask = torch.zeros(batch, cfg.n_patches, dtype=torch.bool)
    mask.scatter_(1, idx, True)
    return mask.to(device)


def sincos_positions(n_positions: int, dim: int) -> torch.Tensor:
    """(n_positions, dim) 1-D sine-cosine codes: dim/2 frequencies 1/10000^(2i/dim), sines then cosines."""
    half = dim // 2
    freq = 1.0 / 10000.0 ** (torch.arange(half, dtype=torch.float64) / max(half, 1))
    angle = torch.arange(n_positions, dtype=torch.float64)[:, None] * freq[None, :]
    codes = torch.zeros(n_positions, dim, dtype=torch.float64)
    codes[:, :half] = torch.sin(angle)
    codes[:, half : 2 * half] = torch.cos(angle)
    return codes.float()


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the points of masked patches only; (B, N, P) x2 and (B, N) bool."""
    per_patch = (pred - target).pow(2).mean(dim=-1)
    weight = mask.to(per_patch.dtype)
    return (per_patch * weight).sum() / weight.sum().clamp_min(1.0)


class SpectrumEncoder(nn.Module):
    """Patch embedding + positional embedding + pre-norm Transformer + reconstruction head."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.patch_embed = nn.Linear(cfg.patch_size, d)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.n_patches, d))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        layer = nn.TransformerEncoderLayer(
            d_model=d,
            nhead=cfg.n_heads,
            dim_feedforward=cfg.ff_dim,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers=cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.patch_size)
        if cfg.pos_init == "sincos":
            with torch.no_grad():
                self.pos_embed.copy_(sincos_positions(cfg.n_patches, d).unsqueeze(0))
        else:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def patches(self, flux: torch.Tensor) -> torch.Tensor:
        """(B, S) flux -> (B, N, P) patches (the reconstruction targets)."""
        if flux.shape[-1] != self.cfg.n_points:
            raise ValueError(
                f"spectrum has {flux.shape[-1]} points; this encoder expects {self.cfg.n_points} "
                f"(grid {self.cfg.grid_id})"
            )
        return patchify_torch(flux, self.cfg.patch_size, self.cfg.overlap)

    def encode(self, flux: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S) flux [+ (B, N) bool mask] -> (B, N, D) normalised tokens."""
        tokens = self.patch_embed(self.patches(flux))
        if mask is not None:
            tokens = torch.where(mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        tokens = tokens + self.pos_embed
        return self.norm(self.blocks(tokens))

    def forward(self, flux: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstructed patches (B, N, P) from the masked spectrum."""
        return self.head(self.encode(flux, mask))

    def loss(self, flux: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked-patch MSE of one batch."""
        return masked_mse(self(flux, mask), self.patches(flux), mask)

    def embed(self, flux: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
        """(B, S) -> (B, D) embedding of the unmasked spectrum, pooled over patch tokens."""
        tokens = self.encode(flux)
        if pooling == "mean":
            return tokens.mean(dim=1)
        if pooling == "max":
            return tokens.amax(dim=1)
        raise ValueError(f"pooling must be 'mean' or 'max', got {pooling!r}")


class EmbeddingModel(nn.Module):
    """flux (B, S) -> embedding (B, D): the form logged to MLflow for pyfunc users."""

    def __init__(self, encoder: SpectrumEncoder, pooling: str = "mean"):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling

    def forward(self, flux: torch.Tensor) -> torch.Tensor:
        return self.encoder.embed(flux, self.pooling)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""GalaxIDNet's image encoder (Friberg): a small ViT that outputs one 2048-d vector per 16 x 16 patch.

The ``paper`` profile is the structure that reproduces the paper's printed parameter count
(../shared/papers/004-friberg-galaxidnet.md, section 2): 224 x 224 x 3 input; 16 x 16 patches that keep
the three channels (768 values); a linear patch encoder to 1024; a FIXED 1-D sine-cosine position table
(196 x 1024, a buffer, never trained); 3 residual blocks of

    z = x + Attn(LN(x));  z = LN(z);  z = z + MLP(z)          (the author's block, note section 1)

where Attn has 4 heads, each with its own ``Linear(256, 256)`` query / key / value projections of its
256-wide slice of the token, and no output projection; the MLP is 1024 -> 2048 -> 1024; a final linear
layer gives 2048 values per patch. Trainable: 17,859,584; with the fixed table: 18,060,288 (the paper's
"trainable" figure, which counts the table; ``parameter_counts``).

Choices the paper and the note leave open (skysift): the MLP activation (GELU), the order of the 768
values inside a patch (row, column, channel) and the initialisation (torch's nn.Linear default, the same
for the per-head projections). The attention is batched over heads and images (the author's code returns
the last image's attention for every image of a batch, note section 7; tests compare ours with a per-head
loop). ``tiny`` is a small profile (64 x 64 input) for tests, CI and the demo.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from skysift.config import require
from skysift.images.central_source import INPUT_MASKS

PROFILES: dict[str, dict[str, int]] = {
    # Friberg section 3.3 + the derivation of the parameter count (note section 2)
    "paper": {"image_size_px": 224, "patch_size_px": 16, "hidden_dim": 1024, "depth": 3, "n_heads": 4,
              "mlp_dim": 2048, "out_dim": 2048},
    # tests, CI and the demo: 64 patches of 8 x 8 x 3
    "tiny": {"image_size_px": 64, "patch_size_px": 8, "hidden_dim": 64, "depth": 2, "n_heads": 4,
             "mlp_dim": 128, "out_dim": 128},
}
PAPER_TRAINABLE = 17_859_584
"""Trainable parameters of the paper profile (derived, note section 2)."""
PAPER_TOTAL = 18_060_288
"""Trainable + the fixed 196 x 1024 position table: the paper's printed count (Friberg section 3.3)."""


@dataclass(frozen=True)
class ImageVitConfig:
    """Shape of the image encoder; the profile fills the fields left unset (None)."""

    profile: Literal["paper", "tiny"] = "paper"
    """'paper' (224 px, 16 px patches, 1024 hidden, 3 blocks, 4 heads, MLP 2048, 2048 out: Friberg) or 'tiny'."""
    image_size_px: int | None = None
    """Input side in pixels (paper: 224, note section 2; Galaxy10's 256 px are resized to it)."""
    patch_size_px: int | None = None
    """Patch side (Friberg: 16)."""
    n_channels: int = 3
    """Input channels kept inside each patch (Friberg: 3, 'channels inside patches')."""
    hidden_dim: int | None = None
    """Token width after the linear patch encoder (Friberg: 1024)."""
    depth: int | None = None
    """Residual attention blocks (Friberg: 3)."""
    n_heads: int | None = None
    """Attention heads per block (Friberg: 4); each projects its own hidden_dim / n_heads slice."""
    mlp_dim: int | None = None
    """MLP width (not stated in the paper; 2048 reproduces its parameter count, note section 2)."""
    out_dim: int | None = None
    """Output values per patch (Friberg: 2048)."""
    activation: Literal["gelu", "relu"] = "gelu"
    """MLP activation (not stated in the paper: skysift choice)."""
    position_table: Literal["1d", "2d"] = "1d"
    """Fixed sine-cosine position codes: '1d' over the row-major patch index (the author's code, note section
    7) or '2d' (skysift: half the dims code the patch row, half its column). Fixed either way, so the
    parameter count is the same."""
    input_mask: Literal["none", "central_source"] = "none"
    """What the network is shown of an image: 'none' (the whole image, Friberg) or 'central_source' (pixels
    outside the central source's footprint set to sky before the stretch: skysift's version of the
    "object-recognition crop" Friberg section 5 proposes, images.central_source). Part of the model's input,
    so embed-images and search-images apply the same mask as training did. Changes no parameter."""

    def __post_init__(self):
        require(self.profile in PROFILES, f"model.profile must be one of {sorted(PROFILES)}, got {self.profile!r}")
        for key, value in PROFILES[self.profile].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        for key in ("image_size_px", "patch_size_px", "n_channels", "hidden_dim", "depth", "n_heads", "mlp_dim",
                    "out_dim"):
            require(getattr(self, key) >= 1, f"model.{key} must be >= 1, got {getattr(self, key)}")
        require(self.image_size_px % self.patch_size_px == 0,
                f"model.patch_size_px ({self.patch_size_px}) must divide model.image_size_px ({self.image_size_px})")
        require(self.hidden_dim % self.n_heads == 0,
                f"model.hidden_dim ({self.hidden_dim}) must be divisible by model.n_heads ({self.n_heads})")
        require(self.activation in ("gelu", "relu"), f"model.activation must be gelu or relu, got {self.activation!r}")
        require(self.input_mask in INPUT_MASKS, f"model.input_mask must be one of {INPUT_MASKS}, got {self.input_mask!r}")
        require(self.position_table in ("1d", "2d"), f"model.position_table must be 1d or 2d, got {self.position_table!r}")
        require(self.position_table == "1d" or self.hidden_dim % 4 == 0,
                f"model.position_table=2d needs hidden_dim divisible by 4, got {self.hidden_dim}")

    @property
    def n_patches(self) -> int:
        """Patches per image: (image_size_px / patch_size_px)^2 (paper: 196)."""
        return (self.image_size_px // self.patch_size_px) ** 2

    @property
    def patch_values(self) -> int:
        """Values per patch: patch_size_px^2 * n_channels (paper: 768)."""
        return self.patch_size_px ** 2 * self.n_channels

    def to_dict(self) -> dict:
        """Plain dict (JSON-safe) that ``ImageVitConfig(**d)`` rebuilds."""
        return dataclasses.asdict(self)


def sincos_table(n_positions: int, dim: int) -> torch.Tensor:
    """(n_positions, dim) fixed 1-D codes: cos on even dims, sin on odd dims, frequency 1 / 10000^(2i / dim)
    for the pair i = dim // 2 (the author's table, note section 7)."""
    pair = torch.arange(dim, dtype=torch.float64) // 2
    freq = 1.0 / 10000.0 ** (2.0 * pair / dim)
    angle = torch.arange(n_positions, dtype=torch.float64)[:, None] * freq[None, :]
    even = (torch.arange(dim) % 2 == 0)[None, :]
    return torch.where(even, torch.cos(angle), torch.sin(angle)).float()


def sincos_table_2d(grid: int, dim: int) -> torch.Tensor:
    """(grid * grid, dim) fixed 2-D codes of a row-major patch grid: the first dim / 2 values are
    ``sincos_table`` of the patch row, the last dim / 2 of its column (skysift)."""
    half = sincos_table(grid, dim // 2)
    rows = half[:, None, :].expand(grid, grid, dim // 2)
    cols = half[None, :, :].expand(grid, grid, dim // 2)
    return torch.cat([rows, cols], dim=-1).reshape(grid * grid, dim)


def position_table(cfg: "ImageVitConfig") -> torch.Tensor:
    """The encoder's fixed position table, (n_patches, hidden_dim)."""
    if cfg.position_table == "2d":
        return sincos_table_2d(cfg.image_size_px // cfg.patch_size_px, cfg.hidden_dim)
    return sincos_table(cfg.n_patches, cfg.hidden_dim)


def patchify(images: torch.Tensor, patch_size_px: int) -> torch.Tensor:
    """(B, C, S, S) -> (B, N, p * p * C): patches in row-major order, values ordered (row, column, channel)."""
    b, c, h, w = images.shape
    p = patch_size_px
    if h % p or w % p:
        raise ValueError(f"image of {h} x {w} px is not a whole number of {p} px patches")
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


class SliceAttention(nn.Module):
    """Multi-head self-attention where head h projects only its slice x[..., h*d:(h+1)*d] with its own
    d x d query / key / value maps (d = dim / n_heads) and the heads' outputs are concatenated, with no
    output projection (the structure of note section 2). Batched over images and heads."""

    def __init__(self, dim: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = dim // n_heads
        d = self.head_dim
        # [q, k, v] x heads x (out, in), as 3 * n_heads separate nn.Linear(d, d) would hold them
        self.qkv_weight = nn.Parameter(torch.empty(3, n_heads, d, d))
        self.qkv_bias = nn.Parameter(torch.empty(3, n_heads, d))
        bound = 1.0 / math.sqrt(d)  # nn.Linear's default init range for both weight and bias
        nn.init.uniform_(self.qkv_weight, -bound, bound)
        nn.init.uniform_(self.qkv_bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, dim) -> (B, N, dim)."""
        b, n, dim = x.shape
        xh = x.reshape(b, n, self.n_heads, self.head_dim)
        # (3, B, heads, N, d): one einsum for the 3 * heads projections
        qkv = torch.einsum("bnhi,shoi->sbhno", xh, self.qkv_weight) + self.qkv_bias[:, None, :, None, :]
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # softmax(q k^T / sqrt(d)) v per head
        return out.transpose(1, 2).reshape(b, n, dim)


class GalaxyBlock(nn.Module):
    """z = x + Attn(LN(x)); z = LN(z); z = z + MLP(z) (the author's block, note section 1)."""

    def __init__(self, cfg: ImageVitConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden_dim)
        self.attn = SliceAttention(cfg.hidden_dim, cfg.n_heads)
        self.norm2 = nn.LayerNorm(cfg.hidden_dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden_dim, cfg.mlp_dim),
                                 nn.GELU() if cfg.activation == "gelu" else nn.ReLU(),
                                 nn.Linear(cfg.mlp_dim, cfg.hidden_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N, D)."""
        z = self.norm2(x + self.attn(self.norm1(x)))
        return z + self.mlp(z)


class GalaxyVit(nn.Module):
    """The encoder: images in [0, 1], (B, C, S, S) -> patch features (B, N, out_dim)."""

    def __init__(self, cfg: ImageVitConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Linear(cfg.patch_values, cfg.hidden_dim)
        self.register_buffer("pos_table", position_table(cfg))
        self.blocks = nn.ModuleList(GalaxyBlock(cfg) for _ in range(cfg.depth))
        self.head = nn.Linear(cfg.hidden_dim, cfg.out_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, N, out_dim) patch features."""
        c, s = self.cfg.n_channels, self.cfg.image_size_px
        if images.dim() != 4 or tuple(images.shape[1:]) != (c, s, s):
            raise ValueError(f"expected images of shape (B, {c}, {s}, {s}), got {tuple(images.shape)}")
        x = self.patch_embed(patchify(images, self.cfg.patch_size_px)) + self.pos_table
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(patch features (B, N, out_dim), pooled vector (B, out_dim)): the mean over patches, L2-normalised."""
        feats = self(images)
        return feats, pooled_vector(feats)


def pooled_vector(features: torch.Tensor) -> torch.Tensor:
    """(B, N, F) -> (B, F): the mean over patches, L2-normalised (faiss candidate vectors; skysift)."""
    return F.normalize(features.float().mean(dim=1), dim=-1)


def parameter_counts(model: GalaxyVit) -> dict[str, int]:
    """{'trainable', 'fixed' (the position table), 'total'}: the paper's printed figure is 'total'."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    fixed = frozen + model.pos_table.numel()
    return {"trainable": int(trainable), "fixed": int(fixed), "total": int(trainable + fixed)}


class PooledImageModel(nn.Module):
    """images -> pooled, L2-normalised vector: the form logged to MLflow (its signature and serving)."""

    def __init__(self, encoder: GalaxyVit):
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, out_dim)."""
        return pooled_vector(self.encoder(images))


@torch.no_grad()
def embed_images(model: GalaxyVit, images, batch_size: int = 32, device: str = "cpu",
                 precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    """(patch features (n, P, F) float32, pooled vectors (n, F) float32) on the CPU of (n, C, S, S) images
    in [0, 1] (numpy or torch), ``batch_size`` per forward pass on ``device`` at ``precision``."""
    import numpy as np

    from skysift.models.precision import forward_autocast

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)) if not torch.is_tensor(images) else images
    feats, vecs = [], []
    with forward_autocast(device, precision):
        for start in range(0, len(x), batch_size):
            f = model(x[start:start + batch_size].to(device)).float()
            feats.append(f.cpu())
            vecs.append(pooled_vector(f).cpu())
    if not feats:
        cfg = model.cfg
        return torch.zeros(0, cfg.n_patches, cfg.out_dim), torch.zeros(0, cfg.out_dim)
    return torch.cat(feats), torch.cat(vecs)

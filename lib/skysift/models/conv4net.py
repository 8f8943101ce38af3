"""Conv4Net: the star / galaxy / QSO classifier of Zhao et al. 2025 (YL8C4Net), with a bias-free CBAM.

The paper states "four convolutional layers, four pooling layers, and three fully connected layers,
with a CBAM module introduced after the second convolutional layer", ReLU after each convolution and
1,635,749 parameters; its layer table (Table 3) is missing from the text we have. This is the
reconstruction in ../shared/papers/003-zhao2025-yl8c4net.md (reconstructed; it reproduces the stated
count exactly, and only a CBAM without any bias and without batch norm does):

    3 x 48 x 48 -> [conv 3x3 pad 1 -> ReLU -> max-pool 2x2] x 4 with 32, 64, 128, 256 channels
    (48 -> 24 -> 12 -> 6 -> 3), CBAM on the 64 channels of the second block,
    then 2304 -> 512 -> 128 -> 3 (ReLU between the fully connected layers).

CBAM (Woo et al. 2018): channel attention sigmoid(MLP(avgpool x) + MLP(maxpool x)) with the MLP
64 -> 64 / r -> 64 (r = 8, ReLU inside, shared by both pools), then spatial attention
sigmoid(conv7x7([mean_c x, max_c x])); each gate multiplies the features.
Where CBAM sits relative to the second block's ReLU and pool is not stated (the count cannot tell):
skysift choice conv2 -> ReLU -> CBAM -> pool, configurable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from skysift.config import require

__all__ = ["Conv4NetConfig", "ChannelAttention", "SpatialAttention", "CBAM", "Conv4Net", "count_parameters", "PAPER_PARAMETERS"]

PAPER_PARAMETERS = 1_635_749
"""Parameter count stated by Zhao et al. 2025 for Conv4Net."""


@dataclass(frozen=True)
class Conv4NetConfig:
    """Shape of Conv4Net; the defaults are the reconstruction that gives the paper's 1,635,749 parameters."""

    in_channels: int = 3
    """Input channels (not stated: 3, the g r i / RGB crops the detection pipeline implies)."""
    image_px: int = 48
    """Input side (Zhao et al. 2025: crops resized to 48 x 48); must be divisible by 16."""
    channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    """Output channels of the four conv blocks (reconstructed from the stated count)."""
    hidden: tuple[int, int] = (512, 128)
    """Widths of the first two fully connected layers (reconstructed from the stated count)."""
    n_classes: int = 3
    """Classes: galaxy, star, qso (Zhao et al. 2025)."""
    cbam_reduction: int = 8
    """Channel-attention reduction r (reconstructed: r = 8 gives the stated count, r = 16 does not)."""
    cbam_kernel_px: int = 7
    """Spatial-attention kernel side (CBAM's 7 x 7; the count pins 2 * 49 weights)."""
    cbam_position: Literal["after_relu", "before_relu"] = "after_relu"
    """CBAM after conv2's ReLU (before its pool) or between conv2 and its ReLU; not stated: skysift choice."""
    dropout: float = 0.0
    """Dropout before each hidden fully connected layer (no parameters, so the count cannot reveal it; not stated: skysift choice 0)."""

    def __post_init__(self):
        require(self.in_channels >= 1, f"conv4net.in_channels must be >= 1, got {self.in_channels}")
        require(self.image_px >= 16 and self.image_px % 16 == 0, f"conv4net.image_px must be a multiple of 16, got {self.image_px}")
        require(len(self.channels) == 4 and all(c >= 1 for c in self.channels), f"conv4net.channels needs 4 positive values, got {self.channels}")
        require(len(self.hidden) == 2 and all(h >= 1 for h in self.hidden), f"conv4net.hidden needs 2 positive values, got {self.hidden}")
        require(self.n_classes >= 2, f"conv4net.n_classes must be >= 2, got {self.n_classes}")
        require(self.cbam_reduction >= 1 and self.channels[1] % self.cbam_reduction == 0,
                f"conv4net.cbam_reduction must divide channels[1]={self.channels[1]}, got {self.cbam_reduction}")
        require(self.cbam_kernel_px % 2 == 1, f"conv4net.cbam_kernel_px must be odd, got {self.cbam_kernel_px}")
        require(self.cbam_position in ("after_relu", "before_relu"), f"conv4net.cbam_position must be after_relu or before_relu, got {self.cbam_position!r}")
        require(0.0 <= self.dropout < 1.0, f"conv4net.dropout must be in [0, 1), got {self.dropout}")


class ChannelAttention(nn.Module):
    """CBAM channel gate: x * sigmoid(MLP(avg) + MLP(max)), the MLP as bias-free 1x1 convolutions."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, bias=False),
        )

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The (N, C, 1, 1) attention weights."""
        avg = self.mlp(torch.mean(x, dim=(2, 3), keepdim=True))
        mx = self.mlp(torch.amax(x, dim=(2, 3), keepdim=True))
        return torch.sigmoid(avg + mx)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SpatialAttention(nn.Module):
    """CBAM spatial gate: x * sigmoid(conv([mean over channels, max over channels])), bias-free."""

    def __init__(self, kernel_px: int):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_px, padding=kernel_px // 2, bias=False)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The (N, 1, H, W) attention weights."""
        pooled = torch.cat([torch.mean(x, dim=1, keepdim=True), torch.amax(x, dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class CBAM(nn.Module):
    """Channel then spatial attention (Woo et al. 2018), without biases or batch norm (Zhao et al. 2025's count)."""

    def __init__(self, channels: int, reduction: int = 8, kernel_px: int = 7):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_px)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


class Conv4Net(nn.Module):
    """Four conv blocks with CBAM after the second, three fully connected layers; returns class logits."""

    def __init__(self, config: Conv4NetConfig | None = None):
        super().__init__()
        self.config = cfg = config or Conv4NetConfig()
        c1, c2, c3, c4 = cfg.channels
        self.conv1 = nn.Conv2d(cfg.in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.cbam = CBAM(c2, cfg.cbam_reduction, cfg.cbam_kernel_px)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.conv4 = nn.Conv2d(c3, c4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        side = cfg.image_px // 16
        h1, h2 = cfg.hidden
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(c4 * side * side, h1),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(h1, h2),
            nn.ReLU(inplace=True),
            nn.Linear(h2, cfg.n_classes),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, channels[3], H / 16, W / 16)."""
        relu = torch.relu
        x = self.pool(relu(self.conv1(x)))
        x = self.conv2(x)
        x = relu(self.cbam(x)) if self.config.cbam_position == "before_relu" else self.cbam(relu(x))
        x = self.pool(x)
        x = self.pool(relu(self.conv3(x)))
        return self.pool(relu(self.conv4(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, image_px, image_px) float -> (N, n_classes) logits."""
        return self.head(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""The SFR networks of Rustamov 2025 (torch): early fusion (EarlyFusionNet), intermediate fusion (FusionNet),
the image CNN (per-band and combined), the spectrum MLP, and one training loop with early stopping.

Late fusion is no network: it averages the image and spectrum models' predictions (``late_fusion``).
Every width the thesis does not state comes from ``SfrModelsConfig`` (labelled there).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from skysift.models.layout import channels_last
from skysift.models.sfr_config import SfrModelsConfig


def _mlp(n_in: int, widths: tuple[int, ...], dropouts: tuple[float, ...]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for w, p in zip(widths, dropouts):
        layers += [nn.Linear(n_in, w), nn.ReLU(), nn.Dropout(p)]
        n_in = w
    return nn.Sequential(*layers), n_in


class EarlyFusionNet(nn.Module):
    """PCA image features ++ PCA spectral features -> FC 128 -> FC 64 (ReLU, dropout 0.3 / 0.2) -> log SFR (§9.4.1)."""

    def __init__(self, n_image: int, n_spectrum: int, hidden: tuple[int, ...] = (128, 64), dropout: tuple[float, ...] = (0.3, 0.2)):
        super().__init__()
        self.body, n = _mlp(n_image + n_spectrum, hidden, dropout)
        self.head = nn.Linear(n, 1)

    def forward(self, image_pca: torch.Tensor, spectrum_pca: torch.Tensor) -> torch.Tensor:
        """(B,) standardised log SFR."""
        return self.head(self.body(torch.cat([image_pca, spectrum_pca], dim=1))).squeeze(1)


class ImageBranch(nn.Module):
    """Conv 3x3 + ReLU + max-pool 2x2 per channel width, global average pool, dropout -> a feature vector.

    ``per_band``: every band has its own filters (grouped convolutions, thesis "individual channel
    processing"); else the bands are mixed from the first layer ("combined-band").
    """

    def __init__(self, n_bands: int, channels: tuple[int, ...], dropout: float, per_band: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = n_bands
        for c in channels:
            c_out = c * n_bands if per_band else c
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, groups=n_bands if per_band else 1), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.n_out = c_in

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, n_out) features of (B, bands, S, S) images."""
        return self.features(images)


class SpectrumBranch(nn.Module):
    """Two fully connected layers with ReLU and dropout (§9.4.2: the spectral branch)."""

    def __init__(self, n_in: int, hidden: tuple[int, int], dropout: float):
        super().__init__()
        self.body, self.n_out = _mlp(n_in, tuple(hidden), (dropout, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_out) features."""
        return self.body(x)


class SingleModalityNet(nn.Module):
    """One branch + a linear head: the image-only CNN or the spectrum-only network.

    ``n_side``: width of a vector of the same modality concatenated to the branch's features before the head
    (the image's aperture photometry, ``SfrFeatures.image_photometry_features``); 0 = none. ``head_hidden``:
    FC widths (ReLU, dropout ``head_dropout``) before the output layer; () = linear.
    """

    def __init__(self, branch: nn.Module, n_side: int = 0, head_hidden: tuple[int, ...] = (), head_dropout: float = 0.0):
        super().__init__()
        self.branch = branch
        body, n = _mlp(branch.n_out + n_side, tuple(head_hidden), tuple(head_dropout for _ in head_hidden))
        self.head = nn.Sequential(*body, nn.Linear(n, 1))

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) standardised log SFR."""
        h = self.branch(x)
        if side is not None:
            h = torch.cat([h, side], dim=1)
        return self.head(h).squeeze(1)


class FusionNet(nn.Module):
    """Intermediate fusion (§9.4.2): CNN features (++ the image's photometry) ++ spectral-branch features -> FC
    fusion layers with dropout -> log SFR."""

    def __init__(self, image: ImageBranch, spectrum: SpectrumBranch, hidden: tuple[int, ...], dropout: float,
                 n_photometry: int = 0):
        super().__init__()
        self.image, self.spectrum = image, spectrum
        self.fusion, n = _mlp(image.n_out + n_photometry + spectrum.n_out, hidden, tuple(dropout for _ in hidden))
        self.head = nn.Linear(n, 1)

    def forward(self, images: torch.Tensor, photometry: torch.Tensor, spectra: torch.Tensor) -> torch.Tensor:
        """(B,) standardised log SFR."""
        h = torch.cat([self.image(images), photometry, self.spectrum(spectra)], dim=1)
        return self.head(self.fusion(h)).squeeze(1)


def build_network(name: str, cfg: SfrModelsConfig, n_bands: int, n_image_pca: int, n_spectrum: int, n_spectrum_pca: int,
                  n_photometry: int = 0) -> nn.Module:
    """The network ``name`` (early_fusion, intermediate_fusion, image_cnn_combined, image_cnn_per_band, spectrum_mlp).

    ``n_spectrum``: width of the spectral-branch input (PCA or flux, cfg.spectrum_branch_input);
    ``n_spectrum_pca``: width of the PCA spectral features (early fusion); ``n_photometry``: width of the
    image's photometry vector (appended to the image PCA of early fusion and to the CNN features).
    """
    if name == "early_fusion":
        return EarlyFusionNet(n_image_pca + n_photometry, n_spectrum_pca, cfg.early_hidden, cfg.early_dropout)
    if name == "intermediate_fusion":
        return FusionNet(ImageBranch(n_bands, cfg.cnn_channels, cfg.cnn_dropout, per_band=False),
                         SpectrumBranch(n_spectrum, cfg.spectrum_hidden, cfg.spectrum_dropout),
                         cfg.fusion_hidden, cfg.fusion_dropout, n_photometry)
    if name in ("image_cnn_combined", "image_cnn_per_band"):
        return SingleModalityNet(ImageBranch(n_bands, cfg.cnn_channels, cfg.cnn_dropout, per_band=name.endswith("per_band")),
                                 n_photometry, cfg.image_head_hidden, cfg.cnn_dropout)
    if name == "spectrum_mlp":
        return SingleModalityNet(SpectrumBranch(n_spectrum, cfg.spectrum_hidden, cfg.spectrum_dropout))
    raise ValueError(f"no network named {name!r}")


@dataclass
class TrainResult:
    """A trained network (best validation weights) and its history."""

    model: nn.Module
    """The network with the weights of the lowest validation loss."""
    best_epoch: int
    """Epoch (0-based) of the lowest validation loss."""
    best_val_loss: float
    """That loss (MSE of the standardised label)."""
    train_loss: list[float] = field(default_factory=list)
    """Mean training loss per epoch."""
    val_loss: list[float] = field(default_factory=list)
    """Validation loss per epoch."""
    seconds: float = 0.0
    """Wall time of the training."""


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _batches(n: int, batch_size: int, gen: torch.Generator | None):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


@torch.no_grad()
def predict(model: nn.Module, inputs: tuple[np.ndarray, ...], batch_size: int = 512, device: str | torch.device = "cpu") -> np.ndarray:
    """(N,) standardised predictions of ``model`` on numpy ``inputs`` (eval mode)."""
    device = torch.device(device)
    model.eval().to(device)
    n = len(inputs[0])
    out = []
    for i in range(0, n, batch_size):
        out.append(model(*(channels_last(torch.as_tensor(x[i : i + batch_size], device=device)) for x in inputs)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_network(model: nn.Module, train_inputs: tuple[np.ndarray, ...], y_train: np.ndarray,
                  val_inputs: tuple[np.ndarray, ...], y_val: np.ndarray, cfg: SfrModelsConfig, seed: int) -> TrainResult:
    """Adam on the MSE of the standardised label; early stopping on the validation loss (cfg.patience), best weights kept."""
    import time

    t0 = time.perf_counter()
    torch.manual_seed(int(seed))
    gen = torch.Generator().manual_seed(int(seed))
    device = resolve_device(cfg.device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    xs = [torch.as_tensor(x, device=device) for x in train_inputs]
    y = torch.as_tensor(np.asarray(y_train, np.float32), device=device)
    yv = np.asarray(y_val, np.float32)
    best, best_epoch, best_state, since = np.inf, -1, None, 0
    result = TrainResult(model=model, best_epoch=-1, best_val_loss=np.inf)
    for epoch in range(cfg.max_epochs):
        model.train()
        losses = []
        for idx in _batches(len(y), cfg.batch_size, gen):
            idx = idx.to(device)
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(*(x[idx] for x in xs)), y[idx])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()) * len(idx))
        val = float(np.mean((predict(model, val_inputs, device=device) - yv) ** 2))
        result.train_loss.append(float(np.sum(losses) / len(y)))
        result.val_loss.append(val)
        if val < best:
            best, best_epoch, since = val, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since += 1
            if since >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.best_epoch, result.best_val_loss = best_epoch, float(best)
    result.seconds = time.perf_counter() - t0
    return result


def late_fusion(image_pred: np.ndarray, spectrum_pred: np.ndarray, weights: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """Weighted mean of the image and spectrum models' predictions (§9.4.3: 'averaged'; weights normalised)."""
    w_img, w_spec = (float(w) / float(sum(weights)) for w in weights)
    return w_img * np.asarray(image_pred, np.float64) + w_spec * np.asarray(spectrum_pred, np.float64)

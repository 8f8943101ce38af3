"""Classification crops for Conv4Net (Zhao et al. 2025 §2.2): labelled sources cut with their magnitude box, 48 x 48.

Steps, each a function:

* ``select_labelled``: SpecPhoto-like rows with a known class, zWarning = 0 and r <= 22.2 (stated);
* ``balance_by_class``: the same number per class, drawn at random (the paper draws ~35k per class);
* ``cut_crops``: the magnitude box (labels.box_side_px, square, centred on the source) resampled bilinearly
  to 48 x 48 (stated; Gribbon & Bailey 2004); pixels past the image edge take the nearest edge pixel;
* ``augment``: a horizontal flip with p = 0.5, a vertical flip with p = 0.5, a rotation by U(0, 180) degrees
  (stated: "random horizontal or vertical flip with 50 % probability", "random rotation 0-180");
* ``minmax`` then ``zscore``: the statistics are not stated. skysift choice: min-max per image over ALL bands
  jointly (a per-band min-max would erase the colours that alone tell a QSO from a star), then a per-band
  z-score with the training split's mean and sd (``zscore_stats``), stored with the model;
* ``split_indices``: 8:1:1, stratified by class (stratification not stated: skysift choice).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from skysift.config import require
from skysift.detection.labels import MagnitudeBoxConfig, box_side_px, label_magnitude

__all__ = ["CLASSES", "CropConfig", "class_index", "select_labelled", "balance_by_class", "crop_sides_px", "cut_crops",
           "augment", "minmax", "zscore_stats", "zscore", "split_indices"]

CLASSES = ("GALAXY", "STAR", "QSO")
"""SpecPhoto classes in Conv4Net's output order (index 0, 1, 2)."""


@dataclass(frozen=True)
class CropConfig:
    """Which sources become crops and how they are cut."""

    crop_px: int = 48
    """Side of the resized crop (Zhao et al. 2025: 48 x 48)."""
    r_limit_mag: float = 22.2
    """Sources fainter than this are left out (Zhao et al. 2025: the r limit)."""
    boxes: MagnitudeBoxConfig = field(default_factory=MagnitudeBoxConfig)
    """The magnitude -> box-side table the crops are cut with (the detector's labels)."""
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Train / validation / test shares (Zhao et al. 2025: 8:1:1)."""
    flip_p: float = 0.5
    """Probability of each of the horizontal and the vertical flip (Zhao et al. 2025: 50 %)."""
    rotation_max_deg: float = 180.0
    """Rotations are drawn from U(0, rotation_max_deg) (Zhao et al. 2025: 0-180 degrees)."""

    def __post_init__(self):
        require(self.crop_px >= 4, f"crops.crop_px must be >= 4, got {self.crop_px}")
        require(len(self.split) == 3 and all(s >= 0 for s in self.split) and abs(sum(self.split) - 1.0) < 1e-9,
                f"crops.split needs 3 shares >= 0 summing to 1, got {self.split}")
        require(0.0 <= self.flip_p <= 1.0, f"crops.flip_p must be in [0, 1], got {self.flip_p}")
        require(0.0 <= self.rotation_max_deg <= 360.0, f"crops.rotation_max_deg must be in [0, 360], got {self.rotation_max_deg}")


def class_index(classes: Any) -> np.ndarray:
    """SpecPhoto class strings -> 0 (GALAXY), 1 (STAR), 2 (QSO); -1 for anything else (case-insensitive)."""
    lookup = {c: i for i, c in enumerate(CLASSES)}
    return np.array([lookup.get(str(c).strip().upper(), -1) for c in classes], dtype=np.int64)


def select_labelled(table: Mapping[str, Any], cfg: CropConfig | None = None) -> np.ndarray:
    """Row indices with a known class, zWarning == 0 and a label magnitude <= r_limit_mag."""
    cfg = cfg or CropConfig()
    for name in ("class", "zWarning"):
        if name not in table:
            raise KeyError(f"crops: the labelled table has no column {name!r} (needs class, zWarning, ra, dec, type, psfMag_r, petroMag_r)")
    mag = label_magnitude(table)
    ok = (class_index(table["class"]) >= 0) & (np.asarray(table["zWarning"]) == 0) & np.isfinite(mag) & (mag <= cfg.r_limit_mag)
    return np.flatnonzero(ok)


def balance_by_class(labels: np.ndarray, rng: np.random.Generator, per_class: int | None = None) -> np.ndarray:
    """Indices into ``labels`` with ``per_class`` rows of each class present (default: the rarest class's count), sorted."""
    labels = np.asarray(labels)
    present = np.unique(labels)
    n = min(int((labels == c).sum()) for c in present) if per_class is None else per_class
    picks = []
    for c in present:
        idx = np.flatnonzero(labels == c)
        require(len(idx) >= n, f"crops: class {CLASSES[c] if 0 <= c < len(CLASSES) else c} has {len(idx)} rows, fewer than per_class={n}")
        picks.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)


def crop_sides_px(table: Mapping[str, Any], cfg: CropConfig | None = None) -> np.ndarray:
    """The magnitude box side of each row (labels.box_side_px with the petroRad fix for galaxies)."""
    cfg = cfg or CropConfig()
    petro = np.asarray(table["petroRad_r"], dtype=float) if "petroRad_r" in table else None
    return box_side_px(label_magnitude(table), petro, np.asarray(table["type"]) != 6, cfg.boxes)


def cut_crops(stack: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, side_px: np.ndarray, crop_px: int = 48) -> np.ndarray:
    """(n, bands, crop_px, crop_px) float32: the square of side ``side_px`` centred on each (x, y), bilinear.

    Output pixel j samples the source at x - side / 2 + (j + 0.5) * side / crop_px (pixel centres at integers, so the
    box's left edge is x - side / 2: the half-pixel convention of torch's ``interpolate(..., align_corners=False)``),
    clamped to the image.
    """
    stack = np.asarray(stack, dtype=np.float32)
    nb, ny, nx = stack.shape
    n = len(x_px)
    out = np.empty((n, nb, crop_px, crop_px), dtype=np.float32)
    t = (np.arange(crop_px) + 0.5) / crop_px
    for k in range(n):
        s = float(side_px[k])
        xs = np.clip(x_px[k] - s / 2 + t * s, 0, nx - 1)
        ys = np.clip(y_px[k] - s / 2 + t * s, 0, ny - 1)
        x0 = np.minimum(np.floor(xs).astype(np.int64), nx - 2) if nx > 1 else np.zeros(crop_px, dtype=np.int64)
        y0 = np.minimum(np.floor(ys).astype(np.int64), ny - 2) if ny > 1 else np.zeros(crop_px, dtype=np.int64)
        fx, fy = (xs - x0)[None, :], (ys - y0)[:, None]
        x1, y1 = np.minimum(x0 + 1, nx - 1), np.minimum(y0 + 1, ny - 1)
        a = stack[:, y0[:, None], x0[None, :]]
        b = stack[:, y0[:, None], x1[None, :]]
        c = stack[:, y1[:, None], x0[None, :]]
        d = stack[:, y1[:, None], x1[None, :]]
        out[k] = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
    return out


def augment(crop: np.ndarray, rng: np.random.Generator, cfg: CropConfig | None = None) -> np.ndarray:
    """One training view of a (bands, H, W) crop: flips with p = flip_p each, then a bilinear rotation by U(0, max) degrees."""
    from scipy.ndimage import rotate

    cfg = cfg or CropConfig()
    out = crop
    if rng.random() < cfg.flip_p:
        out = out[:, :, ::-1]
    if rng.random() < cfg.flip_p:
        out = out[:, ::-1, :]
    angle = rng.uniform(0.0, cfg.rotation_max_deg)
    # 'nearest' edge mode: a constant fill would add a square border that tells the network the angle
    return rotate(np.ascontiguousarray(out), angle, axes=(2, 1), reshape=False, order=1, mode="nearest").astype(np.float32)


def minmax(crops: np.ndarray) -> np.ndarray:
    """Each image scaled to [0, 1] by its own min and max over all bands together (a flat image becomes 0)."""
    crops = np.nan_to_num(np.asarray(crops, dtype=np.float32))
    axes = tuple(range(1, crops.ndim))
    lo = crops.min(axis=axes, keepdims=True)
    span = crops.max(axis=axes, keepdims=True) - lo
    return np.where(span > 0, (crops - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)


def zscore_stats(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band (mean, sd) of the min-max scaled training crops (n, bands, H, W); sd floored at 1e-6."""
    mean = train.mean(axis=(0, 2, 3), dtype=np.float64)
    sd = train.std(axis=(0, 2, 3), dtype=np.float64)
    return mean.astype(np.float32), np.maximum(sd, 1e-6).astype(np.float32)


def zscore(crops: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """(crops - mean) / sd per band."""
    return ((crops - mean[None, :, None, None]) / sd[None, :, None, None]).astype(np.float32)


def split_indices(labels: np.ndarray, rng: np.random.Generator, shares: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """{'train', 'val', 'test'}: sorted indices, each class cut by ``shares`` (validation and test rounded, train the rest)."""
    out = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val, n_test = int(round(shares[1] * len(idx))), int(round(shares[2] * len(idx)))
        out["val"].append(idx[:n_val])
        out["test"].append(idx[n_val : n_val + n_test])
        out["train"].append(idx[n_val + n_test :])
    return {k: np.sort(np.concatenate(v)) if v else np.zeros(0, dtype=np.int64) for k, v in out.items()}

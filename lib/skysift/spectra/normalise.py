"""Flux normalisation kernels on a batch of resampled spectra (rows x grid points).

Each kernel returns the per-row divisor ``norm_factor`` (flux is divided by it,
ivar multiplied by its square) and the name of the method actually used, so a
row that needed a fallback says so in the ``norm_method`` column.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

NormMethod = Literal["median_rest_5300_5850", "lu2022", "l2", "none"]

FALLBACK_MEDIAN = "fallback_median_observed"


def median_rest_window(
    flux: np.ndarray,
    ivar: np.ndarray,
    wave_angstrom: np.ndarray,
    z: np.ndarray,
    rest_lo_angstrom: float = 5300.0,
    rest_hi_angstrom: float = 5850.0,
    min_pixels: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Median flux over rest-frame [lo, hi] A (Tang et al. 2025: 5300-5850 A), pixels with ivar > 0 only.

    Rows whose window falls off the grid, has fewer than ``min_pixels`` good pixels,
    has an unknown z, or gives a median <= 0 fall back to the median over all good
    pixels (method ``fallback_median_observed``). Returns (norm_factor, method per row);
    norm_factor is NaN where even the fallback is not positive.
    """
    z = np.asarray(z, dtype=np.float64)
    z_known = np.isfinite(z)
    one_plus_z = np.where(z_known, 1.0 + z, 1.0)
    lo = rest_lo_angstrom * one_plus_z
    hi = rest_hi_angstrom * one_plus_z
    in_window = (wave_angstrom[None, :] >= lo[:, None]) & (wave_angstrom[None, :] <= hi[:, None]) & (ivar > 0)
    n_window = in_window.sum(axis=1)
    window_median = masked_median(flux, in_window)
    use_window = z_known & (n_window >= min_pixels) & (window_median > 0)
    fallback = masked_median(flux, ivar > 0)
    factor = np.where(use_window, window_median, np.where(fallback > 0, fallback, np.nan))
    method = np.where(use_window, "median_rest_5300_5850", FALLBACK_MEDIAN).astype(object)
    return factor, method


def lu2022(flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lu et al. 2022, as printed: f_i / sum_j f_j^2 over the grid (NaN factor when the sum is 0)."""
    total = np.einsum("ij,ij->i", flux.astype(np.float64), flux.astype(np.float64))
    factor = np.where(total > 0, total, np.nan)
    return factor, np.full(flux.shape[0], "lu2022", dtype=object)


def unit_l2(flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide by the Euclidean norm so that sum_i f_i^2 = 1."""
    norm = np.sqrt(np.einsum("ij,ij->i", flux.astype(np.float64), flux.astype(np.float64)))
    factor = np.where(norm > 0, norm, np.nan)
    return factor, np.full(flux.shape[0], "l2", dtype=object)


def normalise(
    flux: np.ndarray,
    ivar: np.ndarray,
    wave_angstrom: np.ndarray,
    z: np.ndarray,
    method: NormMethod,
    rest_window_angstrom: tuple[float, float] = (5300.0, 5850.0),
    min_pixels: int = 20,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``method``; returns (flux / f, ivar * f^2, f, method names). Rows with NaN f are left unscaled."""
    if method == "median_rest_5300_5850":
        factor, names = median_rest_window(flux, ivar, wave_angstrom, z, *rest_window_angstrom, min_pixels)
    elif method == "lu2022":
        factor, names = lu2022(flux)
    elif method == "l2":
        factor, names = unit_l2(flux)
    elif method == "none":
        factor, names = np.ones(flux.shape[0]), np.full(flux.shape[0], "none", dtype=object)
    else:
        raise ValueError(f"unknown normalisation {method!r}")
    safe = np.where(np.isfinite(factor), factor, 1.0)
    out_flux = (flux / safe[:, None]).astype(np.float32)
    out_ivar = (ivar * (safe**2)[:, None]).astype(np.float32)
    return out_flux, out_ivar, factor, names


def masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise median of values where mask, NaN for rows with no selected value.

    One sort of the whole batch (unselected entries become NaN, which sorts last) and two gathers:
    numpy's nanmedian loops over rows in Python for 2-D input.
    """
    if values.shape[0] == 0:
        return np.zeros(0)
    ordered = np.sort(np.where(mask, values.astype(np.float64), np.nan), axis=1)
    count = mask.sum(axis=1)
    lo = np.clip((count - 1) // 2, 0, None)[:, None]
    hi = np.clip(count // 2, 0, values.shape[1] - 1)[:, None]
    median = 0.5 * (np.take_along_axis(ordered, lo, 1)[:, 0] + np.take_along_axis(ordered, hi, 1)[:, 0])
    return np.where(count > 0, median, np.nan)

"""Gaussian emission lines on a smooth continuum with white noise, where every truth is known (tests, benchmarks).

Lines are Gaussians of a common velocity width sampled at the pixel centres of a linear grid (what a linear
resampling onto the grid gives), centred at lambda_0 (1 + z); the noise is normal with the per-row sigma and
the ivar returned is its exact inverse variance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from skysift.spectra.line_list import rest_waves

C_KMS = 299792.458


@dataclass
class LineSpectra:
    """A batch of synthetic spectra and the truth they were made from."""

    wave_angstrom: np.ndarray
    """(n_pixels,) the grid."""
    flux: np.ndarray
    """(n, n_pixels) float32 flux with noise."""
    ivar: np.ndarray
    """(n, n_pixels) float32 exact inverse variance of the noise."""
    continuum: np.ndarray
    """(n, n_pixels) float64 noiseless continuum."""
    z: np.ndarray
    """(n,) redshift."""
    names: tuple[str, ...]
    """Line names (``line_list``), columns of ``line_flux``."""
    line_flux: np.ndarray
    """(n, n_lines) true line fluxes (flux units * Angstrom); 0 = line absent."""
    sigma_kms: np.ndarray
    """(n,) true velocity width."""
    noise_sigma: np.ndarray
    """(n,) per-pixel noise sigma."""

    def centres(self) -> np.ndarray:
        """(n, n_lines) observed line centres, Angstrom."""
        return (1.0 + self.z)[:, None] * rest_waves(self.names)[None, :]


def paper_grid(step_angstrom: float = 2.0) -> np.ndarray:
    """Lu et al. 2022 grid: 3900 <= lambda < 8900 A at ``step_angstrom`` (2 A: 2500 points)."""
    return np.arange(3900.0, 8900.0, step_angstrom)


def make_line_spectra(
    n: int, names: Sequence[str], z: np.ndarray, line_flux: np.ndarray, sigma_kms: np.ndarray | float = 120.0,
    noise_sigma: np.ndarray | float = 1.0, wave_angstrom: np.ndarray | None = None, continuum_level: float = 10.0,
    seed: int = 0,
) -> LineSpectra:
    """``n`` spectra with the lines ``names`` of fluxes ``line_flux`` (n, n_lines) at redshifts ``z`` (n,).

    The continuum is a gentle slope plus a 4000 A-break-like step and a broad dip, so a continuum estimate
    has something to follow.
    """
    rng = np.random.default_rng(seed)
    wave = paper_grid() if wave_angstrom is None else np.asarray(wave_angstrom, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64).reshape(n)
    line_flux = np.asarray(line_flux, dtype=np.float64).reshape(n, len(names))
    sigma_kms = np.broadcast_to(np.asarray(sigma_kms, dtype=np.float64), (n,)).copy()
    noise = np.broadcast_to(np.asarray(noise_sigma, dtype=np.float64), (n,)).copy()
    rest = wave[None, :] / (1.0 + z[:, None])
    continuum = continuum_level * (1.0 + 0.00005 * (wave[None, :] - 6000.0)) * (
        1.0 + 0.15 / (1.0 + np.exp(-(rest - 4000.0) / 30.0))) * (1.0 - 0.05 * np.exp(-0.5 * ((wave - 7600.0) / 60.0) ** 2))
    flux = continuum.copy()
    centres = (1.0 + z)[:, None] * rest_waves(names)[None, :]
    for k in range(len(names)):
        sig = centres[:, k] * sigma_kms / C_KMS
        flux += line_flux[:, k, None] / (sig[:, None] * np.sqrt(2.0 * np.pi)) * np.exp(
            -0.5 * ((wave[None, :] - centres[:, k, None]) / sig[:, None]) ** 2)
    flux += rng.normal(size=flux.shape) * noise[:, None]
    ivar = np.broadcast_to((1.0 / noise**2)[:, None], flux.shape).astype(np.float32)
    return LineSpectra(wave, flux.astype(np.float32), ivar.copy(), continuum, z, tuple(names), line_flux, sigma_kms, noise)

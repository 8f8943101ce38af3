"""SDSS ugriz: band constants, magnitudes <-> nanomaggies, approximate filter curves, synthetic photometry.

Flux unit is the SDSS nanomaggy: 1 nMgy = 3.631e-6 Jy, an AB magnitude of 22.5.
Catalog magnitudes are SDSS asinh magnitudes ("luptitudes", Lupton, Gunn & Szalay
1999) with the SDSS softening parameters b; they equal AB magnitudes to < 0.01 mag
above ~10 sigma. Truth magnitudes are plain AB.

The filter curves are approximations (no response file may be downloaded): a flat
top of the published effective wavelength and width with steep (order-8
Butterworth) edges. They are only used for colours of the synthetic SEDs, where
an error of a few percent in width moves colours by a few hundredths of a mag.
"""
from __future__ import annotations

import numpy as np

BANDS = ("u", "g", "r", "i", "z")
BAND_INDEX = {b: i for i, b in enumerate(BANDS)}

WAVE_EFF_ANGSTROM = np.array([3540.0, 4770.0, 6231.0, 7625.0, 9134.0])
"""Filter centres u g r i z (Rustamov 2025 §7.2: 354, 477, 623, 762, 913 nm; the SDSS values)."""
WIDTH_ANGSTROM = np.array([570.0, 1370.0, 1370.0, 1530.0, 950.0])
"""Approximate FWHM of the SDSS system responses (after Fukugita et al. 1996, table 2)."""
ASINH_SOFTENING = np.array([1.4e-10, 0.9e-10, 1.2e-10, 1.8e-10, 7.4e-10])
"""SDSS asinh-magnitude softening b per band (Lupton et al. 1999; SDSS DR7 photometry docs)."""
C_ANGSTROM_S = 2.99792458e18
"""Speed of light in Angstrom per second."""
NANOMAGGY_JY = 3.631e-6
"""1 nanomaggy in Jansky (AB zero point 3631 Jy at magnitude 22.5)."""


def mag_to_nmgy(mag: np.ndarray) -> np.ndarray:
    """AB magnitude -> flux in nanomaggies."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - 22.5))


def nmgy_to_mag(flux_nmgy: np.ndarray) -> np.ndarray:
    """Flux in nanomaggies -> AB magnitude (NaN for flux <= 0)."""
    f = np.asarray(flux_nmgy, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, 22.5 - 2.5 * np.log10(np.where(f > 0, f, 1.0)), np.nan)


def asinh_mag(flux_nmgy: np.ndarray, band_index: np.ndarray | int) -> np.ndarray:
    """SDSS asinh magnitude of a flux (nanomaggies) in band(s) ``band_index``; defined for any sign of flux."""
    b = ASINH_SOFTENING[np.asarray(band_index)]
    x = np.asarray(flux_nmgy, dtype=np.float64) * 1e-9  # f / f0 with f0 = 3631 Jy
    return -2.5 / np.log(10.0) * (np.arcsinh(x / (2.0 * b)) + np.log(b))


def asinh_mag_err(flux_nmgy: np.ndarray, flux_err_nmgy: np.ndarray, band_index: np.ndarray | int) -> np.ndarray:
    """Error of the asinh magnitude for a flux error (both nanomaggies)."""
    b = ASINH_SOFTENING[np.asarray(band_index)]
    x = np.asarray(flux_nmgy, dtype=np.float64) * 1e-9
    dx = np.asarray(flux_err_nmgy, dtype=np.float64) * 1e-9
    return 2.5 / np.log(10.0) * dx / (2.0 * b) / np.sqrt(1.0 + (x / (2.0 * b)) ** 2)


def response(wave_angstrom: np.ndarray) -> np.ndarray:
    """(5, n_wave) approximate photon response of u g r i z on ``wave_angstrom``."""
    lam = np.asarray(wave_angstrom, dtype=np.float64)[None, :]
    half = 0.5 * WIDTH_ANGSTROM[:, None]
    return 1.0 / (1.0 + ((lam - WAVE_EFF_ANGSTROM[:, None]) / half) ** 8)


PHOT_WAVE_ANGSTROM = np.arange(2800.0, 11000.0, 20.0)
"""Observed-frame grid of the synthetic photometry (covers u to z with their edges)."""
_R = response(PHOT_WAVE_ANGSTROM)
# Photon-counting AB photometry: f_nu,eff = int f_nu R dlam/lam / int R dlam/lam, with f_nu = f_lam lam^2 / c.
_W = _R / PHOT_WAVE_ANGSTROM[None, :]
_W = _W / _W.sum(axis=1, keepdims=True)
_R.setflags(write=False)
_W.setflags(write=False)


def synthetic_mags(f_lambda_cgs: np.ndarray) -> np.ndarray:
    """AB magnitudes u g r i z, (n, 5), of f_lambda rows (erg/s/cm2/A) on PHOT_WAVE_ANGSTROM.

    A row scaled by a factor a changes every magnitude by -2.5 log10(a): callers scale
    an SED of arbitrary units onto its target r magnitude with that.
    """
    f_nu = np.asarray(f_lambda_cgs, dtype=np.float64) * PHOT_WAVE_ANGSTROM[None, :] ** 2 / C_ANGSTROM_S
    eff = f_nu @ _W.T
    with np.errstate(divide="ignore"):
        return -2.5 * np.log10(np.maximum(eff, 1e-300)) - 48.6


def f_lambda_cgs(mag_ab: np.ndarray, wave_angstrom: np.ndarray | float) -> np.ndarray:
    """f_lambda (erg/s/cm2/A) of a flat-f_nu source of AB magnitude ``mag_ab`` at ``wave_angstrom``."""
    f_nu = 3631e-23 * 10.0 ** (-0.4 * np.asarray(mag_ab, dtype=np.float64))
    return f_nu * C_ANGSTROM_S / np.asarray(wave_angstrom, dtype=np.float64) ** 2

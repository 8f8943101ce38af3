"""Point-spread functions: Moffat or Gaussian kernels on a stamp's oversampled grid, their transfer functions.

A kernel is sampled at sub-pixel centres (``os`` odd, so that one sample sits on the
centre), rolled so that its centre is at index 0 (circular FFT convolution leaves
the convolved image where it was), and normalised to unit sum on the grid.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from skysift.synth.imaging.config import PSFConfig

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def moffat_alpha(fwhm: float, beta: float) -> float:
    """Moffat core width alpha for a FWHM: FWHM = 2 alpha sqrt(2^(1/beta) - 1)."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def profile(r: np.ndarray, fwhm: float, psf: PSFConfig) -> np.ndarray:
    """Unit-integral circular PSF surface density at radius r (same length unit as fwhm)."""
    r = np.asarray(r, dtype=np.float64)
    if psf.profile == "gaussian":
        s = fwhm / FWHM_PER_SIGMA
        return np.exp(-0.5 * (r / s) ** 2) / (2.0 * np.pi * s**2)
    a = moffat_alpha(fwhm, psf.moffat_beta)
    return (psf.moffat_beta - 1.0) / (np.pi * a**2) * (1.0 + (r / a) ** 2) ** (-psf.moffat_beta)


def radius_below(level: float, fwhm: float, psf: PSFConfig) -> float:
    """Radius beyond which the unit-integral PSF falls below ``level`` (per unit area)."""
    peak = profile(np.array([0.0]), fwhm, psf)[0]
    if level >= peak:
        return 0.0
    if psf.profile == "gaussian":
        s = fwhm / FWHM_PER_SIGMA
        return float(s * np.sqrt(2.0 * np.log(peak / level)))
    a = moffat_alpha(fwhm, psf.moffat_beta)
    return float(a * np.sqrt((peak / level) ** (1.0 / psf.moffat_beta) - 1.0))


def grid_offsets(size_px: int, os: int) -> np.ndarray:
    """Sub-pixel centre offsets (native pixels) along one axis of a stamp, relative to its centre pixel's centre."""
    if os % 2 != 1:
        raise ValueError(f"oversampling must be odd (a sample on the centre), got {os}")
    k = np.arange(size_px * os)
    return (k - centre_index(size_px, os)) / os


def centre_index(size_px: int, os: int) -> int:
    """Index on the oversampled axis of the sample at the centre of native pixel size_px // 2."""
    return (size_px // 2) * os + os // 2


@lru_cache(maxsize=256)
def _kernel(size_px: int, os: int, fwhm_key: int, profile_name: str, beta: float) -> np.ndarray:
    fwhm_px = fwhm_key / 1e6
    psf = PSFConfig(profile=profile_name, moffat_beta=beta, fwhm_min_arcsec=0.3, fwhm_max_arcsec=5.0)
    t = grid_offsets(size_px, os)
    # Wrap offsets so the grid is periodic around the centre: index kc -> 0.
    n = size_px * os
    kc = centre_index(size_px, os)
    t = np.roll(t, -kc)
    t = np.where(t >= n / (2 * os), t - n / os, t)
    r = np.hypot(t[:, None], t[None, :])
    k = profile(r, fwhm_px, psf)
    k /= k.sum()
    k.setflags(write=False)
    return k


def kernel(size_px: int, os: int, fwhm_px: float, psf: PSFConfig) -> np.ndarray:
    """(size*os, size*os) PSF kernel, centre at index (0, 0), unit sum. Cached per (size, os, FWHM, profile)."""
    return _kernel(int(size_px), int(os), int(round(fwhm_px * 1e6)), psf.profile, float(psf.moffat_beta))


@lru_cache(maxsize=256)
def _otf(size_px: int, os: int, fwhm_key: int, profile_name: str, beta: float) -> np.ndarray:
    k = _kernel(size_px, os, fwhm_key, profile_name, beta)
    out = np.fft.rfft2(k.astype(np.float32)).astype(np.complex64)
    out.setflags(write=False)
    return out


def otf(size_px: int, os: int, fwhm_px: float, psf: PSFConfig) -> np.ndarray:
    """rfft2 of ``kernel`` (complex64), cached."""
    return _otf(int(size_px), int(os), int(round(fwhm_px * 1e6)), psf.profile, float(psf.moffat_beta))


def pixel_psf(fwhm_px: float, psf: PSFConfig, size_px: int = 65, os: int = 9) -> np.ndarray:
    """The PSF integrated over native pixels (centred on a pixel centre), unit sum on the stamp."""
    t = grid_offsets(size_px, os)
    r = np.hypot(t[:, None], t[None, :])
    p = profile(r, fwhm_px, psf).reshape(size_px, os, size_px, os).sum(axis=(1, 3))
    return p / p.sum()


@lru_cache(maxsize=8)
def _neff_table(profile_name: str, beta: float) -> tuple[np.ndarray, np.ndarray]:
    psf = PSFConfig(profile=profile_name, moffat_beta=beta, fwhm_min_arcsec=0.3, fwhm_max_arcsec=5.0)
    grid = np.arange(1.5, 12.0001, 0.1)
    neff = np.empty_like(grid)
    for i, f in enumerate(grid):
        p = pixel_psf(f, psf, size_px=int(2 * np.ceil(5 * f) + 1), os=3)
        neff[i] = 1.0 / np.sum(p**2)
    return grid, neff


def neff_px(fwhm_px: float, psf: PSFConfig) -> float:
    """Noise-equivalent area 1 / sum(p^2) of the pixel-integrated PSF (pixels): PSF-fit flux error = sigma_pix sqrt(neff).

    Interpolated in a table over FWHM 1.5-12 px (0.1 px steps, 3x oversampled, out to 5 FWHM: 0.6 %
    below a 9x oversampled sum out to 15 FWHM, i.e. 0.003 mag in a depth), computed once per profile
    (~0.2 s); outside the table computed directly.
    """
    grid, neff = _neff_table(psf.profile, float(psf.moffat_beta))
    if not grid[0] <= fwhm_px <= grid[-1]:
        p = pixel_psf(fwhm_px, psf, size_px=int(2 * np.ceil(6 * fwhm_px) + 1), os=5)
        return float(1.0 / np.sum(p**2))
    return float(np.interp(fwhm_px, grid, neff))

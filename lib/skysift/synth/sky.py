"""Night-sky emission on the observed grid: where the noise is worse and what the `sky` column holds.

The brightest optical night-sky lines, given in AIR as they are usually quoted
(Osterbrock et al. 1996, PASP 108, 277): [O I] 5577.34, Na D 5889.95/5895.92,
[O I] 6300.30/6363.78, plus a few strong OH Meinel lines red-ward of 7000 A.
SDSS/LAMOST grids are in vacuum, so the lines are converted with the Ciddor
1996 / Morton 2000 refractive index before they are placed.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# (air wavelength A, peak variance boost relative to the sky continuum)
SKY_LINES_AIR = (
    (5577.34, 60.0),
    (5889.95, 15.0),
    (5895.92, 12.0),
    (6300.30, 25.0),
    (6363.78, 10.0),
    (7316.28, 6.0),
    (7340.89, 6.0),
    (7750.64, 6.0),
    (7794.11, 6.0),
    (7913.71, 8.0),
    (7993.33, 8.0),
    (8344.60, 10.0),
    (8399.17, 10.0),
    (8430.17, 10.0),
    (8827.10, 12.0),
    (8885.85, 12.0),
    (8919.63, 8.0),
    (8958.08, 10.0),
)
SKY_LINE_SIGMA_PIX = 1.2
"""Sky lines are unresolved: instrumental sigma ~ 1 pixel (SDSS wdisp ~ 1)."""


def air_to_vacuum(wave_air_angstrom: np.ndarray | float) -> np.ndarray:
    """Vacuum wavelength for an air wavelength (Morton 2000 eq. 8 with the Ciddor 1996 index)."""
    air = np.asarray(wave_air_angstrom, dtype=np.float64)
    s2 = (1e4 / air) ** 2
    n = 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)
    return air * n


def sky_line_waves_vacuum() -> np.ndarray:
    """Vacuum wavelengths of SKY_LINES_AIR."""
    return air_to_vacuum(np.array([w for w, _ in SKY_LINES_AIR]))


@lru_cache(maxsize=8)
def sky_variance_boost(loglam0: float, dloglam: float, n_pix: int) -> np.ndarray:
    """Per-pixel variance factor >= 1 (1 = sky continuum only) on the grid loglam0 + dloglam*k.

    Cached and read-only: every row on this grid shares it.
    """
    k = np.arange(n_pix, dtype=np.float64)
    boost = np.ones(n_pix)
    for wave, amp in zip(sky_line_waves_vacuum(), (a for _, a in SKY_LINES_AIR)):
        kc = (np.log10(wave) - loglam0) / dloglam
        boost += amp * np.exp(-0.5 * ((k - kc) / SKY_LINE_SIGMA_PIX) ** 2)
    boost.setflags(write=False)
    return boost


@lru_cache(maxsize=8)
def sky_spectrum_shape(loglam0: float, dloglam: float, n_pix: int) -> np.ndarray:
    """Sky surface brightness shape (continuum rising to the red, plus the lines), ~1 at 5500 A."""
    lam = 10 ** (loglam0 + dloglam * np.arange(n_pix))
    shape = (lam / 5500.0) ** 1.5 * sky_variance_boost(loglam0, dloglam, n_pix)
    shape.setflags(write=False)
    return shape


def edge_noise_factor(wave_obs_angstrom: np.ndarray) -> np.ndarray:
    """Noise rise at the blue and red ends of the spectrographs (falling throughput), 1 mid-band."""
    lam = np.asarray(wave_obs_angstrom, dtype=np.float64)
    return 1.0 + 1.5 * np.exp(-(lam - 3700.0) / 180.0) + 0.8 * np.exp((lam - 9500.0) / 500.0)

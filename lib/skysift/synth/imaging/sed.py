"""Colours: the stellar locus, QSO colours from their spectra, galaxy colours from old + young light.

* Stars sit on an empirical SDSS stellar locus, one node per spectral type of the
  spectral model (``model.STAR_TYPES``, A0 ... M5), with a small scatter. The node
  colours are approximate medians after Covey et al. 2007 (AJ 134, 2398, table 3).
* QSO colours come from synthetic photometry of the spectral model's own QSO
  continuum: a power law f_nu ~ nu^alpha_nu, the broad lines of
  ``lines.QSO_BROAD_LINES`` and the mean Lyman-alpha forest of ``continuum``. So
  QSOs at z < 2.2 have the UV excess (u - g < 0.6) that separates them from the
  locus, and the forest drives z > 2.6 QSOs across it, as in SDSS (Richards et al. 2002).
* Galaxy colours come from synthetic photometry of the spectral model's continuum
  family: an old black body with a 4000 A break plus a young (15,000 K) one, mixed by
  the young fraction w at 5500 A, attenuated by 0.44 A_V (Calzetti 2000, as in model.py),
  redshifted. Absorption and emission lines are left out (a few hundredths of a mag).
"""
from __future__ import annotations

import numpy as np

from skysift.synth import continuum as cont
from skysift.synth import lines as L
from skysift.synth.model import STAR_TYPES
from skysift.synth.imaging.bands import PHOT_WAVE_ANGSTROM, synthetic_mags

STAR_LOCUS = np.array(
    [
        # u-g,  g-r,  r-i,  i-z   (approximate SDSS medians after Covey et al. 2007)
        (1.10, -0.22, -0.12, -0.07),  # A0
        (1.12, -0.08, -0.06, -0.04),  # A5
        (0.98, 0.12, 0.02, -0.01),  # F0
        (0.90, 0.28, 0.08, 0.01),  # F5
        (1.00, 0.40, 0.13, 0.03),  # G0
        (1.18, 0.48, 0.16, 0.05),  # G5
        (1.50, 0.62, 0.22, 0.10),  # K0
        (2.20, 1.05, 0.40, 0.22),  # K5
        (2.45, 1.32, 0.70, 0.37),  # M0
        (2.55, 1.45, 1.00, 0.53),  # M2
        (2.65, 1.55, 1.85, 0.95),  # M5
    ]
)
"""Locus colours per spectral type, in the order of model.STAR_TYPES."""
assert len(STAR_LOCUS) == len(STAR_TYPES)
LOCUS_SCATTER_MAG = np.array([0.08, 0.04, 0.04, 0.04])
"""Intrinsic scatter about the locus (metallicity, binaries); u - g is the widest (Covey et al. 2007 fig. 6)."""


def draw_star_types(u: np.ndarray) -> np.ndarray:
    """Spectral-type index into model.STAR_TYPES for uniforms ``u``, with the spectral model's frequencies."""
    freq = np.array([s[4] for s in STAR_TYPES])
    return np.minimum(np.searchsorted(np.cumsum(freq) / freq.sum(), u, side="right"), len(STAR_TYPES) - 1)


def star_mags(r_mag: np.ndarray, star_type: np.ndarray, normals: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """(n, 5) AB magnitudes of stars of r magnitude ``r_mag`` and type index; ``normals`` (n, 4) standard normals.

    ``offset`` in [-0.5, 0.5) moves a star along the locus towards the neighbouring type (linear
    interpolation between nodes), so the locus is continuous while the nearest node stays its type.
    """
    pos = np.asarray(star_type, dtype=np.float64)
    if offset is not None:
        pos = np.clip(pos + np.asarray(offset), 0.0, len(STAR_LOCUS) - 1.0)
    lo = np.minimum(np.floor(pos).astype(np.int64), len(STAR_LOCUS) - 2)
    t = (pos - lo)[:, None]
    col = (1 - t) * STAR_LOCUS[lo] + t * STAR_LOCUS[lo + 1] + LOCUS_SCATTER_MAG[None, :] * normals
    return colours_to_mags(r_mag, col)


def colours_to_mags(r_mag: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(n, 5) magnitudes from r and the colours (u-g, g-r, r-i, i-z)."""
    r = np.asarray(r_mag, dtype=np.float64)
    g = r + colours[:, 1]
    u = g + colours[:, 0]
    i = r - colours[:, 2]
    z = i - colours[:, 3]
    return np.stack([u, g, r, i, z], axis=1)


def qso_f_lambda(z: np.ndarray, alpha_nu: np.ndarray, ew_scale: np.ndarray) -> np.ndarray:
    """QSO f_lambda (arbitrary units) on PHOT_WAVE_ANGSTROM: power law + broad lines + mean Lya forest."""
    z = np.asarray(z, dtype=np.float64)
    lam = PHOT_WAVE_ANGSTROM[None, :]
    rest = lam / (1.0 + z)[:, None]
    alpha_lam = -(2.0 + np.asarray(alpha_nu, dtype=np.float64))
    pl = cont.power_law(rest, alpha_lam)
    lines = np.zeros_like(pl)
    sigma_kms = 4000.0 / 2.3548  # a typical broad-line FWHM; only the line flux matters for broad bands
    for wave, ew in L.QSO_BROAD_LINES:
        obs = wave * (1.0 + z)[:, None]
        sig = obs * sigma_kms / 299792.458
        cont_at = (wave / 5500.0) ** alpha_lam[:, None]
        flux = ew * np.asarray(ew_scale)[:, None] * (1.0 + z)[:, None] * cont_at
        lines += flux * np.exp(-0.5 * ((lam - obs) / sig) ** 2) / (sig * np.sqrt(2 * np.pi))
    return (pl + lines) * cont.lyman_alpha_forest(PHOT_WAVE_ANGSTROM, z)


def galaxy_f_lambda(z: np.ndarray, young_fraction: np.ndarray, t_old_k: np.ndarray, d4000: np.ndarray, a_v: np.ndarray) -> np.ndarray:
    """Galaxy f_lambda (arbitrary units, 1 at 5500 A rest before dust) on PHOT_WAVE_ANGSTROM (observed)."""
    z = np.asarray(z, dtype=np.float64)
    n = len(z)
    rest = PHOT_WAVE_ANGSTROM[None, :] / (1.0 + z)[:, None]
    old = cont.planck_lambda(rest, t_old_k) * cont.balmer_4000_break(rest, d4000)
    young = cont.planck_lambda(rest, np.full(n, 15000.0)) * cont.balmer_4000_break(rest, np.full(n, 1.05))
    w = np.asarray(young_fraction, dtype=np.float64)[:, None]
    return ((1.0 - w) * old + w * young) * cont.dust_attenuation(rest, 0.44 * np.asarray(a_v))


def scale_to_r(f_lambda: np.ndarray, r_mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale SED rows so that their synthetic r equals ``r_mag``: (mags (n, 5), f_lambda in erg/s/cm2/A)."""
    m = synthetic_mags(f_lambda)
    factor = 10.0 ** (-0.4 * (np.asarray(r_mag, dtype=np.float64) - m[:, 2]))
    return m + (np.asarray(r_mag) - m[:, 2])[:, None], f_lambda * factor[:, None]


def f_lambda_at(f_lambda: np.ndarray, wave_angstrom: float) -> np.ndarray:
    """Each row's f_lambda interpolated at one observed wavelength."""
    j = np.searchsorted(PHOT_WAVE_ANGSTROM, wave_angstrom)
    t = (wave_angstrom - PHOT_WAVE_ANGSTROM[j - 1]) / (PHOT_WAVE_ANGSTROM[j] - PHOT_WAVE_ANGSTROM[j - 1])
    return (1 - t) * f_lambda[:, j - 1] + t * f_lambda[:, j]

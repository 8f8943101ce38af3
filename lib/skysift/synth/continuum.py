"""Continuum shapes, vectorised over rows: (n_rows, n_pix) arrays of relative f_lambda.

All functions take rest-frame wavelengths in Angstrom, shaped (n_rows, n_pix) or
broadcastable, and per-row parameters shaped (n_rows,). They return shapes only;
model.py scales them to the requested flux at 5500 A observed.
"""
from __future__ import annotations

import numpy as np

HC_OVER_K_ANGSTROM_K = 1.438777e8  # h c / k_B in Angstrom * Kelvin


def planck_lambda(wave_rest_angstrom: np.ndarray, temperature_k: np.ndarray) -> np.ndarray:
    """Black-body B_lambda(T) up to a constant, normalised to 1 at 5500 A."""
    t = np.asarray(temperature_k, dtype=np.float64)[:, None]
    lam = np.asarray(wave_rest_angstrom, dtype=np.float64)
    x = HC_OVER_K_ANGSTROM_K / (lam * t)
    x0 = HC_OVER_K_ANGSTROM_K / (5500.0 * t)
    with np.errstate(over="ignore"):
        return (5500.0 / lam) ** 5 * np.expm1(x0) / np.expm1(x)


def balmer_4000_break(wave_rest_angstrom: np.ndarray, d4000: np.ndarray, width_angstrom: float = 40.0) -> np.ndarray:
    """Multiplicative step that makes the flux blue-ward of 4000 A lower by ``d4000`` (Bruzual 1983 D4000)."""
    d = np.asarray(d4000, dtype=np.float64)[:, None]
    step = 0.5 * (1.0 + np.tanh((np.asarray(wave_rest_angstrom) - 4000.0) / width_angstrom))
    return 1.0 / d + (1.0 - 1.0 / d) * step


def power_law(wave_rest_angstrom: np.ndarray, alpha_lambda: np.ndarray) -> np.ndarray:
    """f_lambda proportional to (lambda / 5500 A)^alpha_lambda (QSO continuum)."""
    return (np.asarray(wave_rest_angstrom) / 5500.0) ** np.asarray(alpha_lambda, dtype=np.float64)[:, None]


def lyman_alpha_forest(wave_obs_angstrom: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Mean IGM transmission blue-ward of Lyman alpha for a source at ``z``.

    tau_eff(z_abs) = 0.0018 (1 + z_abs)^3.92 (Faucher-Giguere et al. 2008, ApJ 681, 831) with
    z_abs = lambda_obs / 1215.67 - 1; below the Lyman limit (912 A rest) the transmission is 5 %.
    Individual forest lines are not modelled: this is the mean flux decrement.
    """
    lam = np.asarray(wave_obs_angstrom, dtype=np.float64)
    zz = np.asarray(z, dtype=np.float64)[:, None]
    z_abs = lam / 1215.67 - 1.0
    blue = lam < 1215.67 * (1.0 + zz)
    tau = np.where(blue, 0.0018 * np.clip(1.0 + z_abs, 1.0, None) ** 3.92, 0.0)
    trans = np.exp(-tau)
    return np.where(lam < 911.75 * (1.0 + zz), 0.05, trans)


def dust_attenuation(wave_rest_angstrom: np.ndarray, a_v: np.ndarray) -> np.ndarray:
    """10^(-0.4 A_lambda) for the Charlot & Fall 2000 law A_lambda = A_V (lambda/5500)^-0.7."""
    a = np.asarray(a_v, dtype=np.float64)[:, None]
    return 10.0 ** (-0.4 * a * (np.asarray(wave_rest_angstrom) / 5500.0) ** -0.7)


def tio_strength(temperature_k: np.ndarray) -> np.ndarray:
    """Relative TiO band depth: zero above 4000 K, growing to 1 at 3000 K (M dwarfs)."""
    return np.clip((4000.0 - np.asarray(temperature_k, dtype=np.float64)) / 1000.0, 0.0, 1.0)

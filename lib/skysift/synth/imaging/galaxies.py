"""Galaxy physics and morphology: redshift, sSFR, SFR, stellar mass, size, spectral class, Galaxy10 shapes.

The chain ties the SFR truth to what an image shows:

1. a Galaxy10 class, and from it the chance of being quenched (smooth galaxies mostly red, disks mostly blue);
2. log sSFR on the star-forming main sequence or the quenched cloud, evolving as (1 + z)^2.5;
3. the young-light fraction w(sSFR) sets the colours (``sed.galaxy_f_lambda``) -> colour tracks SFR;
4. the observed r and z give the rest-frame luminosity, Bell et al. 2003 M/L(g - r) the stellar mass;
5. SFR = sSFR x M*; the size R_e follows M* (Shen et al. 2003) -> size tracks SFR too;
6. the spectrum's Halpha follows SFR through Kennicutt 1998 (``spectra_link``).

Distances use flat LCDM with H0 = 70, Omega_M = 0.3 (the MPA-JHU catalogue's cosmology).
All draws come from the caller's generator in a fixed order, so a cell's galaxies
depend only on its seed.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from skysift.synth.imaging.config import GALAXY10_CLASSES
from skysift.synth.imaging import sed

(DISTURBED, MERGING, ROUND, IN_BETWEEN, CIGAR, BARRED, TIGHT, LOOSE, EDGE_NO_BULGE, EDGE_BULGE) = range(10)
SMOOTH_CLASSES = (ROUND, IN_BETWEEN, CIGAR)
P_QUENCHED = np.array([0.15, 0.3, 0.85, 0.75, 0.6, 0.25, 0.2, 0.05, 0.05, 0.2])
"""Chance of being quenched per Galaxy10 class (smooth: mostly red; disks: mostly blue; skysift choice)."""
M_R_SUN_AB = 4.65
"""Absolute AB magnitude of the Sun in SDSS r (Willmer 2018)."""
KENNICUTT_SFR_PER_ERG_S = 7.9e-42
"""SFR (Msun/yr) = 7.9e-42 L(Halpha) (erg/s) (Kennicutt 1998; Rustamov 2025 §7.3.2)."""
MPC_CM = 3.0856775814913673e24
FIBER_RADIUS_ARCSEC = 1.5
"""SDSS fibres are 3 arcsec across."""


@lru_cache(maxsize=1)
def _cosmology():
    from astropy.cosmology import FlatLambdaCDM

    return FlatLambdaCDM(H0=70.0, Om0=0.3)


def luminosity_distance_cm(z: np.ndarray) -> np.ndarray:
    """Luminosity distance (cm), flat LCDM H0 = 70, Omega_M = 0.3."""
    return _cosmology().luminosity_distance(np.asarray(z, dtype=np.float64)).value * MPC_CM


def kpc_per_arcsec(z: np.ndarray) -> np.ndarray:
    """Proper kpc per arcsec at redshift z."""
    return _cosmology().kpc_proper_per_arcmin(np.asarray(z, dtype=np.float64)).value / 60.0


def sersic_b(n: np.ndarray) -> np.ndarray:
    """b_n of the Sersic profile, so that R_e encloses half the light (Ciotti & Bertin 1999 expansion)."""
    n = np.asarray(n, dtype=np.float64)
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2) + 131.0 / (1148175.0 * n**3)


def truncation_re(n: np.ndarray) -> np.ndarray:
    """Outer truncation radius in units of R_e: 4 for n <= 1 up to 8 for n >= 4 (as SDSS truncates exp / deV models)."""
    return np.clip(4.0 + (np.asarray(n, dtype=np.float64) - 1.0) * 4.0 / 3.0, 4.0, 8.0)


def sersic_enclosed(n: np.ndarray, radius_over_re: np.ndarray) -> np.ndarray:
    """Fraction of a (untruncated) Sersic profile's light inside radius / R_e."""
    from scipy.special import gammainc

    n = np.asarray(n, dtype=np.float64)
    return gammainc(2.0 * n, sersic_b(n) * np.asarray(radius_over_re, dtype=np.float64) ** (1.0 / n))


def young_fraction(log_ssfr: np.ndarray) -> np.ndarray:
    """Young-light fraction at 5500 A from log sSFR: 0.85 sigmoid(1.69 (log sSFR + 9.79)).

    Calibrated so that main-sequence galaxies (log sSFR = -10) get w = 0.35 (g - r ~ 0.5 at z = 0.1)
    and quenched ones (-12) w = 0.02 (g - r ~ 1.0), with the ``sed`` continuum.
    """
    return 0.85 / (1.0 + np.exp(-1.69 * (np.asarray(log_ssfr, dtype=np.float64) + 9.79)))


def halpha_flux_cgs(sfr_msun_yr: np.ndarray, z: np.ndarray, a_v_mag: np.ndarray) -> np.ndarray:
    """Observed (dust-attenuated) total Halpha flux (erg/s/cm2) of a galaxy with this SFR, z and gas A_V.

    L(Halpha) = SFR / 7.9e-42 (Kennicutt 1998); attenuation A_Halpha = A_V (6564.61 / 5500)^-0.7
    (Charlot & Fall 2000, the law of the spectral model's narrow lines).
    """
    from skysift.synth import lines as L

    lum = np.asarray(sfr_msun_yr, dtype=np.float64) / KENNICUTT_SFR_PER_ERG_S
    d = luminosity_distance_cm(z)
    return lum / (4.0 * np.pi * d**2) * 10.0 ** (-0.4 * np.asarray(a_v_mag) * L.charlot_fall_k(L.HALPHA))


def sfr_from_halpha(flux_halpha_cgs: np.ndarray, z: np.ndarray, a_v_mag: np.ndarray) -> np.ndarray:
    """Kennicutt SFR (Msun/yr) from an observed total Halpha flux, corrected for A_V: the inverse of halpha_flux_cgs."""
    from skysift.synth import lines as L

    d = luminosity_distance_cm(z)
    lum = np.asarray(flux_halpha_cgs, dtype=np.float64) * 4.0 * np.pi * d**2 * 10.0 ** (0.4 * np.asarray(a_v_mag) * L.charlot_fall_k(L.HALPHA))
    return KENNICUTT_SFR_PER_ERG_S * lum


def draw_classes(gen: np.random.Generator, n: int, mix: tuple[float, ...]) -> np.ndarray:
    """Galaxy10 class index per galaxy from the mix."""
    p = np.asarray(mix, dtype=np.float64)
    return np.minimum(np.searchsorted(np.cumsum(p) / p.sum(), gen.random(n), side="right"), 9)


def draw_redshift(gen: np.random.Generator, r_mag: np.ndarray) -> np.ndarray:
    """z given r: log z ~ N(log 0.1 + 0.16 (r - 17.7), 0.15 dex), clipped to [0.005, 1.2] (skysift choice).

    Medians 0.10 at r = 17.7, 0.23 at r = 20, 0.6 at r = 22.5, close to SDSS and deep photo-z surveys.
    """
    log_z = np.log10(0.1) + 0.16 * (np.asarray(r_mag) - 17.7) + 0.15 * gen.standard_normal(len(r_mag))
    return np.clip(10.0**log_z, 0.005, 1.2)


def physical(gen: np.random.Generator, morph: np.ndarray, r_mag: np.ndarray, z: np.ndarray, pop) -> dict[str, np.ndarray]:
    """Star formation, dust, stellar population, magnitudes, mass, SFR, size and spectral class of galaxies.

    ``pop`` is a PopulationConfig (spectral-class fractions). Returns arrays of length n.
    """
    n = len(morph)
    u = gen.random((n, 10))
    g = gen.standard_normal((n, 3))
    quenched = u[:, 0] < P_QUENCHED[morph]
    evol = 2.5 * np.log10(1.0 + z)
    boost = np.where(np.isin(morph, (MERGING, DISTURBED)), 0.3, 0.0)
    log_ssfr = np.where(quenched, -12.0 + evol + 0.4 * g[:, 0], -10.1 + evol + boost + 0.3 * g[:, 0])
    w = young_fraction(log_ssfr)
    t_old = 4300.0 + 900.0 * u[:, 1]
    d4000 = 1.7 + 0.4 * u[:, 2]
    edge_on = np.isin(morph, (EDGE_NO_BULGE, EDGE_BULGE))
    a_v = np.where(quenched, 0.3 * u[:, 3], 0.1 + 1.1 * u[:, 3] + np.where(edge_on, 0.6, 0.0))
    f_obs = sed.galaxy_f_lambda(z, w, t_old, d4000, a_v)
    mags, f_cgs = sed.scale_to_r(f_obs, r_mag)
    # Rest-frame absolute magnitudes: the same SED at z = 0, at 10 pc (f10 = A S (1+z) (d_L / 10 pc)^2).
    zero = np.zeros(n)
    rest = sed.galaxy_f_lambda(zero, w, t_old, d4000, a_v)
    d_l = luminosity_distance_cm(z)
    scale = f_cgs[:, 100] / f_obs[:, 100]  # A: any wavelength gives the same factor
    abs_mag = sed.synthetic_mags(rest * (scale * (1.0 + z) * (d_l / (10.0 * 3.0856775814913673e18)) ** 2)[:, None])
    gr_rest = abs_mag[:, 1] - abs_mag[:, 2]
    log_lr = -0.4 * (abs_mag[:, 2] - M_R_SUN_AB)
    log_mstar = log_lr - 0.306 + 1.097 * gr_rest  # Bell et al. 2003 table 7, r band from g - r
    log_sfr = log_mstar + log_ssfr
    # Sizes (Shen et al. 2003 eqs. 17-18): early types R = 2.88e-6 M^0.56 kpc; late types
    # R = 0.1 M^0.14 (1 + M / 3.98e10)^0.25 kpc; 0.15 dex scatter; (1 + z)^-0.7 evolution (van der Wel et al. 2014).
    m = 10.0**log_mstar
    smooth = np.isin(morph, SMOOTH_CLASSES)
    r_early = 2.88e-6 * m**0.56
    r_late = 0.1 * m**0.14 * (1.0 + m / 3.98e10) ** 0.25
    re_kpc = np.where(smooth, r_early, r_late) * 10.0 ** (0.15 * g[:, 1]) * (1.0 + z) ** -0.7
    re_arcsec = np.clip(re_kpc / kpc_per_arcsec(z), 0.15, 15.0)
    # Spectral class for the spectral model (model.CLASSES names).
    us = u[:, 4]
    spec_class = np.where(
        quenched,
        np.where(us < pop.liner_fraction, "liner", "passive"),
        np.where(us < pop.seyfert_fraction, "seyfert", np.where(us < pop.seyfert_fraction + pop.composite_fraction, "composite", "star_forming")),
    ).astype(object)
    return {
        "quenched": quenched,
        "log_ssfr": log_ssfr,
        "log_sfr": log_sfr,
        "log_mstar": log_mstar,
        "young_fraction": w,
        "t_old_k": t_old,
        "d4000": d4000,
        "a_v_mag": a_v,
        "mags": mags,
        "f_lambda_5500": sed.f_lambda_at(f_cgs, 5500.0),
        "abs_mag_r": abs_mag[:, 2],
        "gr_rest": gr_rest,
        "re_arcsec": re_arcsec,
        "spec_class": spec_class,
    }


def morphology(gen: np.random.Generator, morph: np.ndarray, re_arcsec: np.ndarray) -> dict[str, np.ndarray]:
    """Shape parameters of each galaxy's components for its Galaxy10 class.

    ``re_arcsec`` is the galaxy's half-light radius (the disk's for disk classes, the whole
    galaxy's for smooth ones). Fractions are of the r-band light; angles in degrees.
    """
    n = len(morph)
    u = gen.random((n, 24))

    def span(col, lo, hi):
        return lo + (hi - lo) * u[:, col]

    smooth = np.isin(morph, SMOOTH_CLASSES)
    edge = np.isin(morph, (EDGE_NO_BULGE, EDGE_BULGE))
    spiral = np.isin(morph, (BARRED, TIGHT, LOOSE))
    out = {k: np.zeros(n) for k in (
        "bt", "re_bulge_arcsec", "q_bulge", "n_bulge", "re_disk_arcsec", "q_disk", "f_arms", "n_arms", "pitch_deg",
        "arm_phase_deg", "f_bar", "bar_len_arcsec", "bar_q", "bar_angle_deg", "f_clumps", "lopsided", "lopsided_phase_deg",
        "f_tidal", "tidal_len_arcsec", "tidal_angle_deg", "tidal_curvature", "f_comp", "comp_sep_arcsec",
        "comp_angle_deg", "comp_re_arcsec", "comp_n", "comp_q", "comp_pa_deg")}
    out["pa_deg"] = 180.0 * u[:, 0]
    # Inclined thin disks: q = sqrt(cos^2 i (1 - q0^2) + q0^2), q0 = 0.12, cos i uniform in [0.3, 1].
    cos_i = span(1, 0.3, 1.0)
    q_incl = np.sqrt(cos_i**2 * (1 - 0.12**2) + 0.12**2)
    out["q_disk"] = np.where(edge, span(1, 0.06, 0.15), q_incl)
    out["re_disk_arcsec"] = np.where(smooth, 0.0, re_arcsec)
    # Bulges: smooth classes are bulge only (bt = 1) with their class's Sersic index and axis ratio.
    n_smooth = np.select([morph == ROUND, morph == IN_BETWEEN], [span(2, 3.5, 5.0), span(2, 2.5, 4.0)], span(2, 1.5, 3.0))
    q_smooth = np.select([morph == ROUND, morph == IN_BETWEEN], [span(3, 0.8, 1.0), span(3, 0.5, 0.8)], span(3, 0.2, 0.45))
    bt_disk = np.select(
        [morph == EDGE_NO_BULGE, morph == EDGE_BULGE, morph == BARRED, morph == TIGHT, morph == LOOSE],
        [span(4, 0.0, 0.04), span(4, 0.2, 0.5), span(4, 0.1, 0.35), span(4, 0.15, 0.4), span(4, 0.0, 0.15)],
        span(4, 0.1, 0.4),
    )
    out["bt"] = np.where(smooth, 1.0, bt_disk)
    out["n_bulge"] = np.where(smooth, n_smooth, span(5, 2.0, 4.0))
    out["q_bulge"] = np.where(smooth, q_smooth, span(6, 0.6, 0.95))
    out["re_bulge_arcsec"] = np.where(smooth, re_arcsec, np.maximum(re_arcsec * span(7, 0.15, 0.35), 0.1))
    # Spiral arms (logarithmic, in the disk plane); tight spirals small pitch, loose ones large.
    out["n_arms"] = np.where(spiral, np.where(morph == LOOSE, np.floor(span(8, 2, 4.99)), 2.0), 0.0)
    out["pitch_deg"] = np.select([morph == TIGHT, morph == LOOSE], [span(9, 8.0, 14.0), span(9, 24.0, 38.0)], span(9, 15.0, 24.0))
    out["f_arms"] = np.where(spiral, span(10, 0.2, 0.4), 0.0)
    out["arm_phase_deg"] = 360.0 * u[:, 11]
    barred = morph == BARRED
    out["f_bar"] = np.where(barred, span(12, 0.08, 0.2), 0.0)
    out["bar_len_arcsec"] = np.where(barred, re_arcsec * span(13, 0.6, 1.1), 0.0)
    out["bar_q"] = span(14, 0.2, 0.35)
    out["bar_angle_deg"] = 180.0 * u[:, 15]
    # Star-forming clumps: loose spirals and disturbed galaxies.
    out["f_clumps"] = np.select([morph == LOOSE, morph == DISTURBED], [span(16, 0.03, 0.08), span(16, 0.08, 0.2)], 0.0)
    out["lopsided"] = np.where(morph == DISTURBED, span(17, 0.3, 0.7), 0.0)
    out["lopsided_phase_deg"] = 360.0 * u[:, 18]
    # Tidal tails: mergers and disturbed galaxies.
    tidal = np.isin(morph, (MERGING, DISTURBED))
    out["f_tidal"] = np.where(tidal, span(19, 0.05, 0.15), 0.0)
    out["tidal_len_arcsec"] = np.where(tidal, re_arcsec * span(20, 2.0, 4.0), 0.0)
    out["tidal_angle_deg"] = 360.0 * u[:, 21]
    out["tidal_curvature"] = np.where(u[:, 22] < 0.5, -1.0, 1.0)
    # Merging: a companion of 0.3-1 times the light, 1-2.5 R_e away, in the same stamp.
    merging = morph == MERGING
    out["f_comp"] = np.where(merging, span(23, 0.25, 0.5), 0.0)
    v = gen.random((n, 5))
    out["comp_sep_arcsec"] = np.where(merging, re_arcsec * (1.0 + 1.5 * v[:, 0]), 0.0)
    out["comp_angle_deg"] = 360.0 * v[:, 1]
    out["comp_re_arcsec"] = np.where(merging, re_arcsec * (0.5 + 0.5 * v[:, 2]), 0.0)
    out["comp_n"] = 1.0 + 3.0 * v[:, 3]
    out["comp_q"] = 0.4 + 0.6 * v[:, 4]
    out["comp_pa_deg"] = 180.0 * gen.random(n)
    out["clump_seed"] = gen.integers(0, 2**62, n)
    return out


def extent_arcsec(shape: dict[str, np.ndarray]) -> np.ndarray:
    """Radius (arcsec) containing every component of each galaxy (before PSF)."""
    bulge = shape["re_bulge_arcsec"] * truncation_re(shape["n_bulge"])
    disk = shape["re_disk_arcsec"] * truncation_re(np.ones_like(shape["re_disk_arcsec"]))
    comp = np.where(shape["f_comp"] > 0, shape["comp_sep_arcsec"] + shape["comp_re_arcsec"] * truncation_re(shape["comp_n"]), 0.0)
    tidal = np.where(shape["f_tidal"] > 0, shape["re_disk_arcsec"] + shape["re_bulge_arcsec"] + shape["tidal_len_arcsec"], 0.0)
    return np.maximum.reduce([bulge, disk, comp, tidal, shape["bar_len_arcsec"]])


def fiber_fraction(shape: dict[str, np.ndarray]) -> np.ndarray:
    """Fraction of a galaxy's r light inside a 3-arcsec SDSS fibre (bulge + disk, circularised, seeing ignored)."""
    rb = np.maximum(shape["re_bulge_arcsec"] * np.sqrt(shape["q_bulge"]), 1e-3)
    rd = np.maximum(shape["re_disk_arcsec"] * np.sqrt(shape["q_disk"]), 1e-3)
    fb = sersic_enclosed(shape["n_bulge"], FIBER_RADIUS_ARCSEC / rb)
    fd = sersic_enclosed(np.ones_like(rd), FIBER_RADIUS_ARCSEC / rd)
    bt = shape["bt"]
    return np.clip(bt * fb + (1.0 - bt) * fd, 0.01, 1.0)


def class_names(morph: np.ndarray) -> np.ndarray:
    """Galaxy10 class names of class indices."""
    return np.array(GALAXY10_CLASSES, dtype=object)[np.asarray(morph)]

"""The one object list of a survey: stars, QSOs, galaxies and spectroscopic targets, drawn per sky cell.

Cell k of a camcol (``geometry``) holds four independent populations, each from its
own generator ``default_rng([seed, OBJECT_STREAM, camcol, k + 1, population])``:

0. stars: power-law counts in r, colours on the stellar locus (``sed.STAR_LOCUS``);
1. photometric QSOs: broken power-law counts, colours from their spectra (``sed.qso_f_lambda``);
2. galaxies: broken power-law counts normalised to the SDSS main-sample density, the
   ten Galaxy10 classes, physics and shapes from ``galaxies``, plus blend neighbours;
3. spectroscopic targets: stars, galaxies (r <= 17.77) and QSOs at the configured
   density, one QSO in eleven among galaxies + QSOs (Rustamov 2025), with zWarning.

``object_id`` = ((run * 10 + camcol) * 100000 + k + 1) * 1000000 + j is unique in the
survey and is what links an object to its spectrum (``spectra_link``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging import geometry as geo
from skysift.synth.imaging import sed
from skysift.synth.imaging.bands import BANDS, WAVE_EFF_ANGSTROM, f_lambda_cgs
from skysift.synth.imaging.config import ImagingSurveyConfig

QSO_COUNT_BREAK_MAG = 19.3
QSO_COUNT_SLOPES = (0.85, 0.3)
"""d log10 N / d r of QSO counts bright / faint of the break (after Richards et al. 2006; skysift choice)."""
SPEC_COUNT_SLOPES = {"GALAXY": 0.6, "QSO": 0.6, "STAR": 0.3}
"""d log10 N / d r of spectroscopic targets inside their magnitude ranges (Euclidean 0.6 for galaxies and QSOs)."""
ZWARNING_SMALL_DELTA_CHI2 = 4
"""SDSS zWarning bit 2 (SMALL_DELTA_CHI2), the commonest warning: the value of flagged synthetic spectra."""
SHAPE_COLUMNS = (
    "pa_deg", "bt", "re_bulge_arcsec", "q_bulge", "n_bulge", "re_disk_arcsec", "q_disk", "f_arms", "n_arms", "pitch_deg",
    "arm_phase_deg", "f_bar", "bar_len_arcsec", "bar_q", "bar_angle_deg", "f_clumps", "lopsided", "lopsided_phase_deg",
    "f_tidal", "tidal_len_arcsec", "tidal_angle_deg", "tidal_curvature", "f_comp", "comp_sep_arcsec", "comp_angle_deg",
    "comp_re_arcsec", "comp_n", "comp_q", "comp_pa_deg", "clump_seed",
)
PHYSICS_COLUMNS = ("log_ssfr", "log_sfr", "log_mstar", "young_fraction", "t_old_k", "d4000", "a_v_mag", "re_arcsec")


def power_law_mags(gen: np.random.Generator, n: int, lo: float, hi: float, breaks: tuple[float, ...], slopes: tuple[float, ...]) -> np.ndarray:
    """n magnitudes in [lo, hi) with dN/dm proportional to 10^(slope m), slopes changing at ``breaks`` (continuous)."""
    edges = np.array([lo, *[b for b in breaks if lo < b < hi], hi])
    seg_slopes = [slopes[int(np.searchsorted(breaks, 0.5 * (a + b)))] for a, b in zip(edges[:-1], edges[1:])]
    # Segment weights of a continuous density: w_s = c_s (10^(a_s hi) - 10^(a_s lo)) / a_s.
    weights, level = [], 1.0
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        k = seg_slopes[s]
        weights.append(level * (10 ** (k * (b - a)) - 1.0) / (k * np.log(10)))
        level *= 10 ** (k * (b - a))
    weights = np.array(weights) / np.sum(weights)
    seg = np.minimum(np.searchsorted(np.cumsum(weights), gen.random(n), side="right"), len(weights) - 1)
    uu = gen.random(n)
    a, b = edges[seg], edges[seg + 1]
    k = np.array(seg_slopes)[seg]
    return a + np.log10(1.0 + uu * (10 ** (k * (b - a)) - 1.0)) / k


def galaxy_density_per_deg2(cfg: ImagingSurveyConfig) -> float:
    """Galaxies per deg2 over [galaxy_mag_min, galaxy_mag_max], from the r < 17.77 density and the count slopes."""
    p = cfg.population
    a1, a2 = p.galaxy_count_slope_bright, p.galaxy_count_slope_faint
    ln10 = np.log(10)

    def cum(m):  # cumulative counts up to m, in units where the density at m_min is 1
        m = min(m, p.galaxy_mag_max)
        c = (10 ** (a1 * (min(m, 20.0) - p.galaxy_mag_min)) - 1) / (a1 * ln10)
        if m > 20.0:
            c += 10 ** (a1 * (20.0 - p.galaxy_mag_min)) * (10 ** (a2 * (m - 20.0)) - 1) / (a2 * ln10)
        return c

    return p.galaxy_density_bright_per_deg2 * cum(p.galaxy_mag_max) / cum(17.77)


def _positions(gen: np.random.Generator, n: int, bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    ra_lo, ra_hi, dec_lo, dec_hi = bounds
    ra = np.mod(ra_lo + (ra_hi - ra_lo) * gen.random(n), 360.0)
    s_lo, s_hi = np.sin(np.radians(dec_lo)), np.sin(np.radians(dec_hi))
    dec = np.degrees(np.arcsin(s_lo + (s_hi - s_lo) * gen.random(n)))
    return ra, dec


def _empty_frame(n: int) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {c: np.zeros(n) for c in SHAPE_COLUMNS}
    cols["clump_seed"] = np.zeros(n, dtype=np.int64)
    for c in PHYSICS_COLUMNS:
        cols[c] = np.full(n, np.nan)
    cols.update(
        morphology=np.full(n, -1, dtype=np.int8),
        star_type=np.full(n, -1, dtype=np.int16),
        qso_alpha_nu=np.full(n, np.nan),
        qso_ew_scale=np.full(n, np.nan),
        z=np.zeros(n),
        fiber_fraction=np.ones(n),
        flux_halpha_total_cgs=np.full(n, np.nan),
        f_lambda_5500_cgs=np.zeros(n),
        blend_of=np.full(n, -1, dtype=np.int64),
    )
    return cols


def _stars(gen: np.random.Generator, r: np.ndarray) -> dict[str, np.ndarray]:
    n = len(r)
    cols = _empty_frame(n)
    itype = sed.draw_star_types(gen.random(n))
    mags = sed.star_mags(r, itype, gen.standard_normal((n, 4)), gen.uniform(-0.5, 0.5, n))
    cols.update(star_type=itype.astype(np.int16), z=gen.uniform(-300.0, 300.0, n) / 299792.458, mags=mags)
    # f_lambda at 5500 A from the g and r AB magnitudes interpolated in wavelength.
    t = (5500.0 - WAVE_EFF_ANGSTROM[1]) / (WAVE_EFF_ANGSTROM[2] - WAVE_EFF_ANGSTROM[1])
    cols["f_lambda_5500_cgs"] = f_lambda_cgs((1 - t) * mags[:, 1] + t * mags[:, 2], 5500.0)
    cols["class"] = np.full(n, "STAR", dtype=object)
    cols["spec_class"] = np.full(n, "star", dtype=object)
    return cols


def _qsos(gen: np.random.Generator, r: np.ndarray) -> dict[str, np.ndarray]:
    n = len(r)
    cols = _empty_frame(n)
    uz = gen.random(n)
    z = 0.1 + 3.4 * uz**1.5  # the spectral model's QSO redshift law
    alpha = gen.uniform(-0.8, -0.2, n)
    ew_scale = 10 ** gen.uniform(-0.2, 0.2, n)
    mags, f_cgs = sed.scale_to_r(sed.qso_f_lambda(z, alpha, ew_scale), r)
    cols.update(z=z, qso_alpha_nu=alpha, qso_ew_scale=ew_scale, mags=mags, f_lambda_5500_cgs=sed.f_lambda_at(f_cgs, 5500.0))
    # Host-galaxy SFR of QSOs (Rustamov 2025 keep ~1,000 QSOs with MPA-JHU SFRs): not tied to the
    # image or spectrum, which the QSO light dominates; log SFR ~ N(0.8 + log10(1 + z), 0.5) (skysift choice).
    cols["log_sfr"] = 0.8 + np.log10(1.0 + z) + 0.5 * gen.standard_normal(n)
    cols["class"] = np.full(n, "QSO", dtype=object)
    cols["spec_class"] = np.full(n, "qso", dtype=object)
    return cols


def _galaxies(gen: np.random.Generator, r: np.ndarray, cfg: ImagingSurveyConfig, z_range: tuple[float, float] | None = None) -> dict[str, np.ndarray]:
    n = len(r)
    cols = _empty_frame(n)
    morph = G.draw_classes(gen, n, cfg.population.morphology_mix)
    z = G.draw_redshift(gen, r)
    if z_range is not None:
        z = np.clip(z, *z_range)
    phys = G.physical(gen, morph, r, z, cfg.population)
    shape = G.morphology(gen, morph, phys["re_arcsec"])
    for c in SHAPE_COLUMNS:
        cols[c] = shape[c]
    for c in PHYSICS_COLUMNS:
        cols[c] = phys[c]
    ff = G.fiber_fraction(shape)
    cols.update(
        morphology=morph.astype(np.int8),
        z=z,
        mags=phys["mags"],
        f_lambda_5500_cgs=phys["f_lambda_5500"],
        fiber_fraction=ff,
        flux_halpha_total_cgs=G.halpha_flux_cgs(10.0 ** phys["log_sfr"], z, phys["a_v_mag"]),
    )
    cols["class"] = np.full(n, "GALAXY", dtype=object)
    cols["spec_class"] = phys["spec_class"]
    return cols


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if len(p["class"])]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def cell_objects(seed: int, cfg: ImagingSurveyConfig, camcol: int, k: int) -> pd.DataFrame:
    """All objects of sky cell k of ``camcol`` (any integer k), one row each, ordered by object_id.

    Cached per process (the last few cells): consecutive fields share two of their three cells.
    """
    return _cell_objects_cached(int(seed), cfg, int(camcol), int(k)).copy()


@lru_cache(maxsize=6)
def _cell_objects_cached(seed: int, cfg: ImagingSurveyConfig, camcol: int, k: int) -> pd.DataFrame:
    pop = cfg.population
    bounds = geo.cell_bounds_deg(cfg, camcol, k)
    area = geo.cell_area_deg2(cfg, camcol, k)
    base = [int(seed), geo.OBJECT_STREAM, int(camcol), int(k) + 1]
    parts = []

    gen = np.random.default_rng(base + [0])
    n = gen.poisson(pop.star_density_per_deg2 * area)
    r = power_law_mags(gen, n, pop.star_mag_min, pop.star_mag_max, (), (pop.star_count_slope,))
    part = _stars(gen, r)
    part["ra"], part["dec"] = _positions(gen, n, bounds)
    part["is_spec"] = np.zeros(n, bool)
    parts.append(part)

    gen = np.random.default_rng(base + [1])
    n = gen.poisson(pop.qso_density_per_deg2 * area)
    r = power_law_mags(gen, n, pop.qso_mag_min, pop.qso_mag_max, (QSO_COUNT_BREAK_MAG,), QSO_COUNT_SLOPES)
    part = _qsos(gen, r)
    part["ra"], part["dec"] = _positions(gen, n, bounds)
    part["is_spec"] = np.zeros(n, bool)
    parts.append(part)

    gen = np.random.default_rng(base + [2])
    n = gen.poisson(galaxy_density_per_deg2(cfg) * area)
    r = power_law_mags(gen, n, pop.galaxy_mag_min, pop.galaxy_mag_max, (20.0,), (pop.galaxy_count_slope_bright, pop.galaxy_count_slope_faint))
    ra, dec = _positions(gen, n, bounds)
    # Blends: a fraction of galaxies get a separate, fainter neighbour galaxy 1-3 arcsec away.
    host = np.flatnonzero(gen.random(n) < pop.blend_fraction)
    sep = gen.uniform(1.0, 3.0, len(host)) / 3600.0
    ang = gen.uniform(0, 2 * np.pi, len(host))
    r_nb = np.minimum(r[host] + gen.uniform(0.0, 2.0, len(host)), pop.galaxy_mag_max)
    ra_nb = np.mod(ra[host] + sep * np.sin(ang) / np.cos(np.radians(dec[host])), 360.0)
    dec_nb = dec[host] + sep * np.cos(ang)
    part = _galaxies(gen, np.concatenate([r, r_nb]), cfg)
    part["ra"], part["dec"] = np.concatenate([ra, ra_nb]), np.concatenate([dec, dec_nb])
    part["is_spec"] = np.zeros(len(part["ra"]), bool)
    offset = sum(len(p["ra"]) for p in parts)  # blend_of: row of the host in the cell's table
    part["blend_of"] = np.concatenate([np.full(n, -1), offset + host]).astype(np.int64)
    parts.append(part)

    gen = np.random.default_rng(base + [3])
    n = gen.poisson(pop.spec_density_per_deg2 * area)
    uc = gen.random(n)
    is_star = uc < pop.spec_star_fraction
    is_qso = ~is_star & (gen.random(n) < pop.spec_qso_fraction)
    is_gal = ~is_star & ~is_qso
    for mask, kind, rng_mag, fn in (
        (is_gal, "GALAXY", pop.spec_galaxy_mag_range, lambda g, rr: _galaxies(g, rr, cfg, z_range=(0.01, 0.33))),
        (is_qso, "QSO", pop.spec_qso_mag_range, _qsos),
        (is_star, "STAR", pop.spec_star_mag_range, _stars),
    ):
        m = int(mask.sum())
        rr = power_law_mags(gen, m, rng_mag[0], rng_mag[1], (), (SPEC_COUNT_SLOPES[kind],))
        part = fn(gen, rr)
        part["ra"], part["dec"] = _positions(gen, m, bounds)
        part["is_spec"] = np.ones(m, bool)
        parts.append(part)

    cols = _concat(parts)
    if not cols:
        return _to_frame({**_empty_frame(0), "mags": np.zeros((0, 5)), "class": np.zeros(0, object), "spec_class": np.zeros(0, object),
                          "ra": np.zeros(0), "dec": np.zeros(0), "is_spec": np.zeros(0, bool)}, cfg, camcol, k, seed)
    return _to_frame(cols, cfg, camcol, k, seed)


def _to_frame(cols: dict[str, np.ndarray], cfg: ImagingSurveyConfig, camcol: int, k: int, seed: int) -> pd.DataFrame:
    n = len(cols["ra"])
    j = np.arange(n, dtype=np.int64)
    first = ((cfg.run * 10 + camcol) * 100000 + (k + 1)) * 1000000
    mags = cols.pop("mags")
    blend_of = cols.pop("blend_of")
    df = pd.DataFrame(cols)
    df.insert(0, "object_id", first + j)
    df.insert(1, "camcol", np.full(n, camcol, dtype=np.int16))
    df.insert(2, "cell", np.full(n, k, dtype=np.int32))
    for b, band in enumerate(BANDS):
        df[f"mag_{band}"] = mags[:, b]
    df["blend_host_id"] = np.where(blend_of >= 0, first + blend_of, -1).astype(np.int64)
    spec = df["is_spec"].to_numpy()
    gen = np.random.default_rng([int(seed), geo.OBJECT_STREAM, int(camcol), int(k) + 1, 4])
    df["zwarning"] = np.where(spec & (gen.random(n) < cfg.population.zwarning_fraction), ZWARNING_SMALL_DELTA_CHI2, 0).astype(np.int32)
    return df


def survey_objects(seed: int, cfg: ImagingSurveyConfig) -> pd.DataFrame:
    """The survey's object list: the objects of every cell whose centre lies on an r frame.

    ``primary_field_index`` is the field whose unique area holds the object (cells -1 and
    n_fields: the first / last field). Objects that no r frame sees (the cells' cross-scan
    margins, the outer halves of cells -1 and n_fields) are left out: they only lend light.
    """
    out = []
    for ci, camcol in enumerate(cfg.camcols):
        for k in range(-1, cfg.n_fields + 1):
            df = cell_objects(seed, cfg, camcol, k)
            kk = min(max(k, 0), cfg.n_fields - 1)
            fid = geo.field_id(cfg, ci * cfg.n_fields + kk)
            w = geo.band_wcs(cfg, fid, 2, geo.field_conditions(seed, cfg, fid))
            x, y = w.wcs_world2pix(df["ra"].to_numpy(), df["dec"].to_numpy(), 0)
            df = df[geo.inside_frame(cfg, x, y)]
            out.append(df.assign(primary_field_index=np.int32(ci * cfg.n_fields + kk)))
    return pd.concat(out, ignore_index=True)

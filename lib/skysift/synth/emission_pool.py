"""The Lu et al. 2022 stand-in: a LAMOST-like "Unknown" pool, its templates, H II regions and reference catalogs.

``synth-survey --set model.population=lu2022_pool`` (conf/synth_survey_lu2022.yaml) writes, besides the pool
spectra and their truth:

* ``templates/``: a spectra table of template galaxies whose ``z`` is a published redshift (the LAMOST DR6
  GALAXY set of the paper), including H II-like spectra at z ~ 0 (the paper's low-velocity z_rt);
* ``hii_regions/``: a synthetic H II region catalog (WISE HIICat V2 stand-in: name, type K / G / C / Q,
  Galactic and equatorial position, radius) in the Galactic anti-centre;
* ``catalogs/{cds,sdss,ned}/``: three reference catalogs (stand-ins for CDS/SIMBAD, SDSS, NED, each with
  its own column names) holding a known share of the galaxies and stars (``pool.coverage``), at a small
  astrometric offset, plus unrelated neighbours 6-30 arcsec away; a galaxy in none of them is ``new_truth``.

Pool classes (``pool_config.POOL_CLASSES``, fractions ``pool.mix``): emission-line galaxies at z 0.0017-0.35
with a BPT mix (star-forming, composite, Seyfert, LINER; the default model's line ratios, with margins from
the demarcation lines), passive galaxies, stars, Galactic H II spectra (|v| < 150 km/s) inside regions or in
the field (the field ones pass the [S II]/[N II] diagnostic by a margin, "galactic emitters" fail it), and
junk: sky-subtraction residuals, cosmic-ray spikes, dead fibres (ivar = 0 everywhere: rejected at ingest).
The continuum S/N at 5500 A is log-uniform in 2-20, so ~70 % of the pool has S/N < 10 (paper Fig. 4).

Randomness: row r draws from ``default_rng([seed, stream, r])`` (whether it re-observes an earlier source,
then its noise); the source's parameters from ``default_rng([seed, stream, source, 1])``, so a repeat shows
the same object (position, z, lines) with new noise, and rows do not depend on their batch. Only
non-repeat rows write reference-catalog entries, and a repeat's source is never itself a repeat.

Truth (``schema.POOL_TRUTH``): every parameter, the expected optimal S/N of the six CL lines (``line_snr_*``;
the noise of the native pixels, lines outside 3900-8900 A count 0) and their count above 5, the true BPT
class and ratios, the H II region a spectrum lies in (by separation, whatever its class), whether it is an
H II spectrum (in a region, or its noiseless ratios pass the diagnostic) and whether it is a new galaxy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from skysift.sky.galactic import galactic_to_icrs, icrs_to_galactic
from skysift.sky.healpix import healpix29
from skysift.sky.separation import angular_separation_arcsec
from skysift.synth import continuum as cont
from skysift.synth import lines as L
from skysift.synth import model as M
from skysift.synth import plates, sky
from skysift.synth.pool_config import (
    ELG_CLASSES,
    LOW_VELOCITY_CLASSES,
    POOL_CLASSES,
    REFERENCE_CATALOGS,
    TEMPLATE_CLASSES,
    EmissionPoolConfig,
)
from skysift.synth.profiles import C_KMS, render_gaussians

POOL_STREAM = 13
"""Second entropy word of pool rows (the default model uses [seed, row]: another length, another stream)."""
TEMPLATE_STREAM = 14
"""Second entropy word of template rows."""
REGION_STREAM = 15
"""Second entropy word of the H II region catalog."""
PAPER_GRID_ANGSTROM = (3900.0, 8900.0)
"""Lu et al. 2022: 3900 <= lambda < 8900 A; a line outside has no S/N on the search grid."""
CL_LINES = (("ha", (L.HALPHA,)), ("hb", (L.HBETA,)), ("oiii_5007", (L.OIII_5007,)),
            ("oii_3727", (L.OII_3727, L.OII_3730)), ("nii_6584", (L.NII_6584,)), ("sii_6717", (L.SII_6717,)))
"""The six CL-redshift lines (Lu et al. 2022 section 2.2.5) with the truth keys of their fluxes."""
JUNK_SKY_LINES = sky.sky_line_waves_vacuum()
HII_DIAGNOSTIC = (0.63, -0.55)
"""log([S II]/Ha) >= 0.63 log([N II]/Ha) - 0.55 (Lu et al. 2022 section 4.2.2)."""

_U = ("cls", "z", "amp", "snr", "a_v", "ew_ha", "bpt_x", "bpt_y", "sii", "oi", "oii", "sii_ratio", "sigma_gas",
      "hii_x", "hii_s", "hii_y", "hii_v", "hii_region", "hii_r", "hii_theta", "hii_fail", "l0", "b0", "l1", "b1",
      "l2", "b2", "l3", "b3", "cov0", "cov1", "cov2", "decoy", "decoy_cat", "decoy_sep", "decoy_pa", "junk_a",
      "junk_n", "star_v", "hii_oi", "hii_oii")
U = {name: i for i, name in enumerate(_U)}
N_POOL_UNIFORMS = 48
assert len(_U) <= N_POOL_UNIFORMS
MAX_COSMIC_HITS = 10


@dataclass
class PoolBatch(M.SynthBatch):
    """A batch of pool (or template) spectra: the SynthBatch fields plus the reference-catalog rows."""

    catalogs: dict = field(default_factory=dict)
    """Reference catalog name -> DataFrame of the entries this batch's sources own."""


# ----------------------------------------------------------------------------------------------- regions


def region_name(glon_deg: float, glat_deg: float) -> str:
    """WISE HIICat style name Glll.lll+bb.bbb."""
    return f"G{glon_deg:07.3f}{glat_deg:+07.3f}"


def region_catalog(seed: int, pool: EmissionPoolConfig) -> pd.DataFrame:
    """The synthetic H II region catalog: one region per cell of a grid over the anti-centre box, jittered
    inside its cell (so regions never overlap), radius log-uniform, type K with ``region_known_fraction``."""
    rng = np.random.default_rng([int(seed), REGION_STREAM])
    n = pool.n_regions
    (l0, l1), (b0, b1) = pool.glon_deg, pool.glat_deg
    nx = int(np.ceil(np.sqrt(n * (l1 - l0) / (b1 - b0))))
    ny = int(np.ceil(n / nx))
    u = rng.random((n, 4))
    cell = np.arange(n)
    lo_r, hi_r = pool.region_radius_arcsec
    radius = 10 ** (np.log10(lo_r) + (np.log10(hi_r) - np.log10(lo_r)) * u[:, 2])
    margin = radius / 3600.0 * 1.6
    w, h = (l1 - l0) / nx, (b1 - b0) / ny
    glon = l0 + (cell % nx) * w + np.minimum(margin, w / 2) + u[:, 0] * np.maximum(w - 2 * margin, 0)
    glat = b0 + (cell // nx) * h + np.minimum(margin, h / 2) + u[:, 1] * np.maximum(h - 2 * margin, 0)
    known = pool.region_known_fraction
    third = np.clip(((u[:, 3] - known) / max(1e-12, 1.0 - known) * 3).astype(int), 0, 2)
    kind = np.where(u[:, 3] < known, "K", np.array(["G", "C", "Q"])[third])
    ra, dec = galactic_to_icrs(glon, glat)
    return pd.DataFrame({
        "name": [region_name(a, b) for a, b in zip(glon, glat)],
        "type": kind.astype(object),
        "glon_deg": glon, "glat_deg": glat, "ra_deg": ra, "dec_deg": dec,
        "radius_arcsec": radius,
    })


def region_membership(glon: np.ndarray, glat: np.ndarray, regions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(index of the region containing each point or -1, separation margin in arcsec to the nearest edge)."""
    if len(glon) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    sep = angular_separation_arcsec(np.asarray(glon)[:, None], np.asarray(glat)[:, None],
                                    regions["glon_deg"].to_numpy()[None, :], regions["glat_deg"].to_numpy()[None, :])
    margin = sep - regions["radius_arcsec"].to_numpy()[None, :]
    inside = margin <= 0
    idx = np.where(inside.any(axis=1), np.argmin(np.where(inside, sep, np.inf), axis=1), -1)
    return idx, margin.min(axis=1)


# ----------------------------------------------------------------------------------------------- draws


def _span(u, lo, hi):
    return np.asarray(lo) + (np.asarray(hi) - np.asarray(lo)) * u


def _log_span(u, lo, hi):
    return 10 ** _span(u, np.log10(lo), np.log10(hi))


def _draws(rows: np.ndarray, seed: int, stream: int, repeat_fraction: float, with_noise: bool):
    """(source row, is repeat, model uniforms, pool uniforms, noise, repeat jitter normals) per row."""
    n = len(rows)
    src = rows.copy()
    rep = np.zeros(n, bool)
    u_model = np.empty((n, M.N_UNIFORMS))
    u_pool = np.empty((n, N_POOL_UNIFORMS))
    noise = np.empty((n, M.N_MODEL), np.float32) if with_noise else None
    jitter = np.zeros((n, 2))
    for i, r in enumerate(rows.tolist()):
        g = np.random.default_rng([int(seed), stream, r])
        u_rep = g.random(2)
        if repeat_fraction > 0 and r > 0 and u_rep[0] < repeat_fraction:
            s = r - 1 - int(u_rep[1] * min(r, 64))
            if np.random.default_rng([int(seed), stream, s]).random(2)[0] >= repeat_fraction or s == 0:
                src[i], rep[i] = s, True
        if with_noise:
            noise[i] = g.standard_normal(M.N_MODEL, dtype=np.float32)
        jitter[i] = g.standard_normal(2)
        gs = np.random.default_rng([int(seed), stream, int(src[i]), 1])
        u_model[i] = gs.random(M.N_UNIFORMS)
        u_pool[i] = gs.random(N_POOL_UNIFORMS)
    return src, rep, u_model, u_pool, noise, jitter


def _galactic_line_fluxes(ha, a_v, x, s, y, u_ratio, u_oi, u_oii):
    """Line fluxes (keys of ``lines.NARROW_LINE_WAVES``) of a Galactic H II-like spectrum from its log ratios
    x = [N II]/Ha, s = ([S II]6718+6733)/Ha, y = [O III]5008/Hb (Case B Balmer lines reddened by ``a_v``)."""
    dust = 10 ** (0.4 * a_v * (L.charlot_fall_k(L.HBETA) - L.charlot_fall_k(L.HALPHA)))
    hb = ha / (L.CASE_B_HA_HB * dust)
    nii, sii, oiii = ha * 10 ** x, ha * 10 ** s, hb * 10 ** y
    ratio = 0.9 + 0.5 * u_ratio
    oi = ha * 10 ** _span(u_oi, -2.0, -1.5)
    oii = hb * 10 ** _span(u_oii, 0.0, 0.4)
    hg = hb * L.CASE_B_HG_HB * 10 ** (-0.4 * a_v * (L.charlot_fall_k(L.HGAMMA) - L.charlot_fall_k(L.HBETA)))
    hd = hb * L.CASE_B_HD_HB * 10 ** (-0.4 * a_v * (L.charlot_fall_k(L.HDELTA) - L.charlot_fall_k(L.HBETA)))
    return {"ha": ha, "hb": hb, "hg": hg, "hd": hd, "oiii_5007": oiii, "oiii_4959": oiii / L.OIII_5007_TO_4959,
            "nii_6584": nii, "nii_6548": nii / L.NII_6584_TO_6548, "sii_6717": sii * ratio / (1 + ratio),
            "sii_6731": sii / (1 + ratio), "oi_6300": oi, "oi_6364": oi / L.OI_6300_TO_6364,
            "oii_3727": oii * 0.43, "oii_3730": oii * 0.57, "neiii_3869": oii * 0.05, "hei_5876": hb * 0.1}


# ----------------------------------------------------------------------------------------------- generator


def generate_pool(rows: np.ndarray, seed: int, cfg: M.SynthModelConfig, templates: bool = False) -> PoolBatch:
    """Pool rows (or, ``templates=True``, template rows) ``rows`` for ``seed`` (see the module docstring)."""
    pool: EmissionPoolConfig = cfg.pool
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    stream = TEMPLATE_STREAM if templates else POOL_STREAM
    src, rep, um, u, noise, jitter = _draws(rows, seed, stream, 0.0 if templates else pool.repeat_fraction,
                                            with_noise=not cfg.noiseless)
    names = TEMPLATE_CLASSES if templates else POOL_CLASSES
    fractions = np.asarray(pool.templates_mix.fractions() if templates else pool.mix.fractions(), dtype=np.float64)
    pick = np.minimum(np.searchsorted(np.cumsum(fractions) / fractions.sum(), u[:, U["cls"]], side="right"),
                      len(names) - 1)
    cls = np.array([POOL_CLASSES.index(names[k]) for k in pick], dtype=np.int64)
    cname = np.array(POOL_CLASSES, dtype=object)[cls]
    is_elg = np.isin(cname, ELG_CLASSES)
    is_pas = cname == "passive"
    is_star = cname == "star"
    is_gal = np.isin(cname, LOW_VELOCITY_CLASSES)
    is_junk = np.isin(cname, ("junk_sky", "junk_cosmic"))
    is_dead = cname == "dead_fibre"

    # --- plates, layouts, pixel ranges (of the row: where it was observed)
    plate_idx = rows // cfg.fibers_per_plate
    uniq, inv = np.unique(plate_idx, return_inverse=True)
    pt = plates.plate_table(uniq + (10_000_000 if templates else 0), seed, cfg.layouts.fractions())
    layout, plate, mjd = pt["layout"][inv], pt["plate"][inv], pt["mjd"][inv]
    fiber = rows % cfg.fibers_per_plate + 1
    is_boss = layout == plates.LAYOUTS.index("boss")
    is_lamost = layout >= plates.LAYOUTS.index("lamost_image")
    uk, un = um[:, M.P["k0"]], um[:, M.P["npix"]]
    k0 = np.select([is_boss, is_lamost], [510 + np.floor(51 * uk), np.full(n, 682.0)], 780 + np.floor(51 * uk)).astype(np.int64)
    npix = np.select([is_boss, is_lamost], [4580 + np.floor(71 * un), 3900 + np.floor(10 * un)], 3800 + np.floor(51 * un)).astype(np.int64)

    # --- positions (of the source): its own plate's field, or the Galactic anti-centre
    s_plate = src // cfg.fibers_per_plate
    s_uniq, s_inv = np.unique(s_plate, return_inverse=True)
    spt = plates.plate_table(s_uniq + (10_000_000 if templates else 0), seed, cfg.layouts.fractions())
    ra, dec = plates.offset_positions(spt["ra0_deg"][s_inv], spt["dec0_deg"][s_inv], cfg.plate_radius_deg,
                                      um[:, M.P["fib_r"]], um[:, M.P["fib_theta"]])
    regions = region_catalog(seed, pool)
    glon = np.full(n, np.nan)
    glat = np.full(n, np.nan)
    gal_rows = np.flatnonzero(is_gal & ~np.bool_(templates))
    if len(gal_rows):
        gu = u[gal_rows]
        in_reg = cname[gal_rows] == "hii_region"
        k = np.minimum((gu[:, U["hii_region"]] * len(regions)).astype(np.int64), len(regions) - 1)
        rad = regions["radius_arcsec"].to_numpy()[k] / 3600.0 * 0.7 * np.sqrt(gu[:, U["hii_r"]])
        th = 2 * np.pi * gu[:, U["hii_theta"]]
        rl = regions["glat_deg"].to_numpy()[k] + rad * np.sin(th)
        rg = regions["glon_deg"].to_numpy()[k] + rad * np.cos(th) / np.cos(np.radians(rl))
        (lo_l, hi_l), (lo_b, hi_b) = pool.glon_deg, pool.glat_deg
        cand_l = np.stack([_span(gu[:, U[f"l{j}"]], lo_l, hi_l) for j in range(4)], axis=1)
        cand_b = np.stack([_span(gu[:, U[f"b{j}"]], lo_b, hi_b) for j in range(4)], axis=1)
        ok = np.stack([region_membership(cand_l[:, j], cand_b[:, j], regions)[1] for j in range(4)], axis=1)
        rr = regions["radius_arcsec"].to_numpy().max()
        first = np.argmax(ok > 0.5 * rr + 10.0, axis=1)  # the first candidate well outside every region
        fl = cand_l[np.arange(len(gal_rows)), first]
        fb = cand_b[np.arange(len(gal_rows)), first]
        glon[gal_rows] = np.where(in_reg, rg, fl)
        glat[gal_rows] = np.where(in_reg, rl, fb)
        ra[gal_rows], dec[gal_rows] = galactic_to_icrs(glon[gal_rows], glat[gal_rows])
    src_ra, src_dec = ra.copy(), dec.copy()
    # a repeat observation sits within a fraction of an arcsec of its source
    jit = np.where(rep[:, None], jitter * pool.repeat_offset_arcsec / 3600.0, 0.0)
    dec = np.clip(dec + jit[:, 1], -90.0, 90.0)
    ra = np.mod(ra + jit[:, 0] / np.maximum(np.cos(np.radians(dec)), 1e-6), 360.0)
    other = np.isnan(glon)
    if other.any():
        glon[other], glat[other] = icrs_to_galactic(ra[other], dec[other])

    # --- redshifts, amplitudes, S/N
    uz = u[:, U["z"]]
    v_kms = np.where(is_gal, _span(u[:, U["hii_v"]], -pool.hii_velocity_kms, pool.hii_velocity_kms),
                     np.where(is_star, _span(u[:, U["star_v"]], -300.0, 300.0), np.nan))
    z = np.select([is_elg, is_pas, is_gal | is_star], [_span(uz, pool.z_min, pool.z_max), _span(uz, 0.02, 0.4),
                                                       v_kms / C_KMS], np.nan)
    amp = np.select([is_gal, is_star], [_log_span(u[:, U["amp"]], 1.0, 5.0), _log_span(u[:, U["amp"]], 3.0, 50.0)],
                    _log_span(u[:, U["amp"]], 3.0, 30.0))
    snr_lo, snr_hi = pool.template_snr if templates else (pool.snr_min, pool.snr_max)
    snr = _log_span(u[:, U["snr"]], snr_lo, snr_hi)
    sigma0 = amp / snr
    kind = np.full(n, -1, np.int64)
    for name in ELG_CLASSES + ("passive",):
        kind[cname == name] = M.CLASSES.index(name)
    av_lo = np.select([kind == M.COMP, kind == M.PAS, is_gal], [0.3, 0.0, 0.5], 0.0)
    av_hi = np.select([kind == M.SF, kind == M.COMP, kind == M.PAS, is_gal], [1.5, 1.5, 0.3, 2.5], 1.2)
    a_v = np.where((kind >= 0) | is_gal, _span(u[:, U["a_v"]], av_lo, av_hi), 0.0)

    model = np.zeros((n, M.N_MODEL))
    emission = np.zeros((n, M.N_MODEL))
    truth_lines = {c: np.zeros(n) for c in M.LINE_FLUX_COLUMNS}
    fl_all = {k: np.zeros(n) for k in L.NARROW_LINE_WAVES}
    sigma_gas = np.full(n, np.nan)
    subclass = np.full(n, "", dtype=object)

    gal = np.flatnonzero(kind >= 0)
    if len(gal):
        shape, _ = M._galaxy_continuum(um[gal], z[gal], kind[gal], a_v[gal])
        model[gal] = M._normalise(shape, amp[gal])
    stellar = np.flatnonzero(is_star | is_junk)
    if len(stellar):
        shape, itype = M._star_continuum(um[stellar], np.where(is_star[stellar], z[stellar], 0.0))
        model[stellar] = M._normalise(shape, amp[stellar])
        subclass[stellar[is_star[stellar]]] = [M.STAR_TYPES[i][0] for i in itype[is_star[stellar]]]
    g = np.flatnonzero(is_gal)
    if len(g):
        rest = M._WAVE[None, :] / (1 + z[g])[:, None]
        shape = cont.planck_lambda(rest, np.full(len(g), 8000.0)) * cont.dust_attenuation(rest, a_v[g])
        model[g] = M._normalise(shape, amp[g])

    # --- emission lines
    def queue(idx, fl, zz, sig_kms):
        keys = list(L.NARROW_LINE_WAVES)
        waves_obs = np.array([L.NARROW_LINE_WAVES[k] for k in keys])[None, :] * (1 + zz)[:, None]
        sig_pix = np.sqrt(sig_kms**2 + M.SIGMA_INST_KMS**2) / M.KMS_PER_PIX
        fluxes = np.stack([fl[k] for k in keys], axis=1)
        render_gaussians(emission, np.repeat(idx, len(keys)), M.pix_of(waves_obs).ravel(),
                         np.repeat(sig_pix, len(keys)), fluxes.ravel(), half_width_pix=40)
        for k in keys:
            fl_all[k][idx] = fl[k]
        M._store_truth_lines(truth_lines, idx, fl)

    sig_all = _span(u[:, U["sigma_gas"]], 50.0, 150.0)
    for name in ELG_CLASSES:
        idx = np.flatnonzero(cname == name)
        if not len(idx):
            continue
        ew_lo, ew_hi = L.OTHER_RATIOS_DEX[name]["log_ew_ha"]
        boost = pool.log_ew_ha_boost_dex
        ew_ha = 10 ** _span(u[idx, U["ew_ha"]], ew_lo + boost, ew_hi + boost)
        cont_ha = M._window_mean(model[idx], M.pix_of(L.HALPHA * (1 + z[idx])), 30)
        ui = u[idx]
        fl = L.narrow_line_fluxes(name, ew_ha * (1 + z[idx]) * cont_ha, a_v[idx], ui[:, U["bpt_x"]],
                                  ui[:, U["bpt_y"]], ui[:, U["sii"]], ui[:, U["oi"]], ui[:, U["oii"]],
                                  ui[:, U["sii_ratio"]], pool.bpt_margin_dex)
        sigma_gas[idx] = sig_all[idx]
        queue(idx, fl, z[idx], sigma_gas[idx])
        subclass[idx] = {"star_forming": "STARFORMING", "composite": "COMPOSITE"}.get(name, "AGN")
    g = np.flatnonzero(is_gal)
    hii_pass = np.zeros(n, bool)
    if len(g):
        ug = u[g]
        x = _span(ug[:, U["hii_x"]], -0.75, -0.25)
        line = HII_DIAGNOSTIC[0] * x + HII_DIAGNOSTIC[1]
        offset = pool.hii_diagnostic_margin_dex + 0.35 * ug[:, U["hii_s"]]
        fail = (cname[g] == "galactic_emitter") | ((cname[g] == "hii_region")
                                                   & (ug[:, U["hii_fail"]] < pool.hii_region_fail_fraction))
        s = np.where(fail, line - offset, line + offset)
        y = _span(ug[:, U["hii_y"]], -0.8, 0.4)
        ew = _log_span(ug[:, U["ew_ha"]], 30.0, 500.0)
        cont_ha = M._window_mean(model[g], M.pix_of(L.HALPHA * (1 + z[g])), 30)
        fl = _galactic_line_fluxes(ew * cont_ha, a_v[g], x, s, y, ug[:, U["sii_ratio"]], ug[:, U["hii_oi"]],
                                   ug[:, U["hii_oii"]])
        sigma_gas[g] = _span(ug[:, U["sigma_gas"]], 10.0, 30.0)
        queue(g, fl, z[g], sigma_gas[g])
        hii_pass[g] = ~fail
        subclass[g] = "HII"
    model += emission / M._DLAM[None, :]

    # --- noise, junk, dead fibres
    boost = sky.sky_variance_boost(M.LOGLAM0 + M.K_LO * M.DLOGLAM, M.DLOGLAM, M.N_MODEL)
    sigma = sigma0[:, None] * (sky.edge_noise_factor(M._WAVE) * np.sqrt(boost))[None, :]
    jk = np.flatnonzero(cname == "junk_sky")
    if len(jk):  # residuals of +-(4-12) sigma at every night-sky line, mostly positive
        nl = len(JUNK_SKY_LINES)
        gen = [np.random.default_rng([int(seed), stream, int(s), 2]).random((2, nl)) for s in src[jk]]
        ua = np.stack([a[0] for a in gen])
        us = np.stack([a[1] for a in gen])
        kc = M.pix_of(JUNK_SKY_LINES)
        peak = _span(ua, 4.0, 12.0) * np.where(us < 0.75, 1.0, -1.0) * sigma[jk][:, np.clip(np.rint(kc).astype(int), 0, M.N_MODEL - 1)]
        area = peak * sky.SKY_LINE_SIGMA_PIX * np.sqrt(2 * np.pi)
        render_gaussians(model, np.repeat(jk, nl), np.tile(kc, len(jk)), np.full(len(jk) * nl, sky.SKY_LINE_SIGMA_PIX),
                         area.ravel(), half_width_pix=6)
    jc = np.flatnonzero(cname == "junk_cosmic")
    if len(jc):  # 3-10 spikes of 10-60 sigma, one or two native pixels each
        for i in jc.tolist():
            a = np.random.default_rng([int(seed), stream, int(src[i]), 2]).random((3, MAX_COSMIC_HITS))
            hits = 3 + int(u[i, U["junk_n"]] * (MAX_COSMIC_HITS - 2))
            pix = (k0[i] - M.K_LO + 5 + (a[0, :hits] * (npix[i] - 10))).astype(np.int64)
            model[i, pix] += _span(a[1, :hits], 10.0, 60.0) * sigma[i, pix]
            two = a[2, :hits] < 0.5
            model[i, pix[two] + 1] += 0.5 * _span(a[1, :hits][two], 10.0, 60.0) * sigma[i, pix[two] + 1]
    flux = model if noise is None else model + sigma * noise
    ivar = (1.0 / sigma**2).astype(np.float32)
    and_mask = np.zeros((n, M.N_MODEL), dtype=np.int32)
    and_mask[:, boost > M.BRIGHTSKY_VARIANCE_BOOST] |= M.BRIGHTSKY
    if is_dead.any():
        flux[is_dead] = 0.0
        ivar[is_dead] = 0.0
        and_mask[is_dead] |= M.FULLREJECT

    # --- truth: CL-line S/N, H II membership and diagnostic, reference catalogs
    line_snr = {}
    for key, waves in CL_LINES:
        flux_key = {"ha": "ha", "hb": "hb", "oiii_5007": "oiii_5007", "oii_3727": "oii_3727",
                    "nii_6584": "nii_6584", "sii_6717": "sii_6717"}[key]
        f = fl_all[flux_key] + (fl_all["oii_3730"] if key == "oii_3727" else 0.0)
        wave_obs = np.mean(waves) * (1 + np.nan_to_num(z))
        sig_pix = np.sqrt(np.nan_to_num(sigma_gas) ** 2 + M.SIGMA_INST_KMS**2) / M.KMS_PER_PIX
        width = sig_pix * (2.0 if len(waves) > 1 else 1.0)  # the [O II] doublet as one line twice as wide
        snr_l = M._line_snr(f[:, None], wave_obs[:, None], width, sigma0, k0, npix)[:, 0]
        on_grid = (wave_obs >= PAPER_GRID_ANGSTROM[0]) & (wave_obs < PAPER_GRID_ANGSTROM[1])
        line_snr[key] = np.where(on_grid & ~is_dead & (f > 0), snr_l, 0.0)
    n_lines = np.sum([line_snr[k] >= 5.0 for k, _ in CL_LINES], axis=0)
    member, _ = region_membership(glon, glat, regions)
    reg_name = np.where(member >= 0, regions["name"].to_numpy()[np.maximum(member, 0)], None)
    reg_type = np.where(member >= 0, regions["type"].to_numpy()[np.maximum(member, 0)], None)
    hii_truth = is_gal & ((member >= 0) | hii_pass)
    with np.errstate(divide="ignore", invalid="ignore"):
        def lr(a, b):
            return np.where((a > 0) & (b > 0), np.log10(a / np.where(b > 0, b, 1.0)), np.nan)
        log_nii = lr(truth_lines["flux_nii_6584"], truth_lines["flux_ha_6563"])
        log_sii = lr(truth_lines["flux_sii_6717"] + truth_lines["flux_sii_6731"], truth_lines["flux_ha_6563"])
        log_oiii = lr(truth_lines["flux_oiii_5007"], truth_lines["flux_hb_4861"])
    has_ref = (is_elg | is_pas | is_star) & ~np.bool_(templates)
    in_ref = {name: has_ref & (u[:, U[f"cov{k}"]] < pool.coverage[k]) for k, name in enumerate(REFERENCE_CATALOGS)}
    new_truth = is_elg & ~np.any([in_ref[c] for c in REFERENCE_CATALOGS], axis=0) & ~np.bool_(templates)
    catalogs = {} if templates else _reference_entries(seed, rows, src, rep, cname, src_ra, src_dec, z, u, in_ref, pool)

    published_z = z.copy()
    z_err = np.where(np.isfinite(z), 1.5e-5 * (1 + np.nan_to_num(z)), np.nan)
    if templates:
        published_z = z + pool.template_z_err * jitter[:, 0]
        z_err = np.full(n, pool.template_z_err)
    bpt = np.where(is_elg, L.bpt_classify(truth_lines["flux_nii_6584"], truth_lines["flux_ha_6563"],
                                          truth_lines["flux_oiii_5007"], truth_lines["flux_hb_4861"]), None)
    rel_path, file_spec_id = plates.file_names(layout, plate, mjd, fiber)
    prefix = "tpl" if templates else "synth"
    spec_id = np.array([f"{prefix}-{r:08d}" for r in rows], dtype=object)
    kk = np.arange(M.N_MODEL)[None, :]
    truth = pd.DataFrame({
        "spec_id": spec_id,
        "survey": np.array(plates.LAYOUTS, dtype=object)[layout],
        "ra_deg": ra, "dec_deg": dec, "healpix29": healpix29(ra, dec),
        "class": np.full(n, "GALAXY" if templates else "UNKNOWN", dtype=object),
        "subclass": subclass,
        "target_class": cname,
        "z": published_z,
        "z_source": np.full(n, np.nan),
        "snr": snr.astype(np.float32),
        "source_file": rel_path,
        **{c: truth_lines[c].astype(np.float32) for c in M.LINE_FLUX_COLUMNS},
        "bpt_class": bpt,
        "lens_grade": np.full(n, None, object),
        "outlier_subtype": np.full(n, None, object),
        "row_number": rows,
        "file_spec_id": file_spec_id,
        "plate": plate.astype(np.int32), "mjd": mjd.astype(np.int32), "fiber": fiber.astype(np.int32),
        "z_err": z_err,
        "flux_5500": amp.astype(np.float32),
        "a_v_mag": a_v.astype(np.float32),
        "sigma_gas_kms": sigma_gas.astype(np.float32),
        "fwhm_broad_kms": np.full(n, np.nan, np.float32),
        **{f"flux_src_{k}": np.zeros(n, np.float32) for k in L.LENS_SOURCE_LINES},
        "lens_line_snr": np.full(n, np.nan, np.float32),
        "outlier_wave_angstrom": np.full(n, np.nan, np.float32),
        "k0": k0.astype(np.int32), "n_pix": npix.astype(np.int32),
        # --- pool columns (schema.POOL_TRUTH)
        "source_id": np.array([f"{prefix}-src-{s:08d}" for s in src], dtype=object),
        "source_row": src,
        "repeat": rep,
        "z_true": z,
        "glon_deg": glon, "glat_deg": glat,
        "v_kms": v_kms.astype(np.float32),
        "hii_region_name": reg_name.astype(object),
        "hii_region_type": reg_type.astype(object),
        "hii_truth": hii_truth,
        "hii_passes_diagnostic": hii_pass,
        "log_nii_ha_true": log_nii.astype(np.float32),
        "log_sii_ha_true": log_sii.astype(np.float32),
        "log_oiii_hb_true": log_oiii.astype(np.float32),
        **{f"line_snr_{k}": line_snr[k].astype(np.float32) for k, _ in CL_LINES},
        "n_lines_snr5": n_lines.astype(np.int32),
        **{f"in_{c}": in_ref[c] for c in REFERENCE_CATALOGS},
        "new_truth": new_truth,
        "is_template": np.full(n, bool(templates)),
    })
    from skysift.schema import POOL_TRUTH

    truth = truth[POOL_TRUTH.names]
    meta = {"layout": layout, "plate": plate, "mjd": mjd, "fiber": fiber, "rel_path": rel_path,
            "file_spec_id": file_spec_id}
    meta.update(plates.lamost_ids(plate, fiber))
    sky_arr = _span(um[:, M.P["sky_level"]], 2.0, 5.0)[:, None] * sky.sky_spectrum_shape(
        M.LOGLAM0 + M.K_LO * M.DLOGLAM, M.DLOGLAM, M.N_MODEL)[None, :]
    wdisp = 0.9 + 0.3 * (kk + M.K_LO - k0[:, None]) / npix[:, None]
    return PoolBatch(rows=rows, flux=flux.astype(np.float32), ivar=ivar, and_mask=and_mask,
                     model=model.astype(np.float32), sky=sky_arr.astype(np.float32), wdisp=wdisp.astype(np.float32),
                     k0=k0, n_pix=npix, truth=truth, meta=meta, catalogs=catalogs)


# ----------------------------------------------------------------------------------------------- catalogs

REFERENCE_SCHEMAS = {
    "cds": {"id": "main_id", "ra": "ra", "dec": "dec", "type": "main_type", "z": "rvz_redshift"},
    "sdss": {"id": "objID", "ra": "ra", "dec": "dec", "type": "class", "petro_rad": "petroRad_r", "z": "z",
             "z_err": "zErr"},
    "ned": {"id": "prefname", "ra": "ra", "dec": "dec", "type": "pretype", "z": "z", "z_err": "z_unc"},
}
"""Column names of each synthetic reference catalog (Lu et al. 2022 Table 3 keeps id, type, z and z error
from CDS/SIMBAD, SDSS and NED); each catalog spells them its own way, as the real ones do."""


def _reference_entries(seed, rows, src, rep, cname, ra, dec, z, u, in_ref, pool) -> dict[str, pd.DataFrame]:
    """Catalog rows owned by the non-repeat rows of a batch: covered sources and decoy neighbours."""
    own = ~rep
    out = {}
    is_galaxy = np.isin(cname, ELG_CLASSES + ("passive",))
    gen = {int(s): np.random.default_rng([int(seed), POOL_STREAM, int(s), 3]).standard_normal(8) for s in src[own]}
    for k, name in enumerate(REFERENCE_CATALOGS):
        take = np.flatnonzero(own & in_ref[name])
        decoy = np.flatnonzero(own & (u[:, U["decoy"]] < pool.decoy_fraction)
                               & (np.minimum((u[:, U["decoy_cat"]] * 3).astype(int), 2) == k))
        nrm = np.array([gen[int(s)][2 * k:2 * k + 2] for s in src[take]]).reshape(-1, 2)
        d_dec = nrm[:, 1] * pool.astrometric_sigma_arcsec / 3600.0
        e_dec = np.clip(dec[take] + d_dec, -90, 90)
        e_ra = np.mod(ra[take] + nrm[:, 0] * pool.astrometric_sigma_arcsec / 3600.0
                      / np.maximum(np.cos(np.radians(e_dec)), 1e-6), 360.0)
        sep = _span(u[decoy, U["decoy_sep"]], 6.0, 30.0) / 3600.0
        pa_ = 2 * np.pi * u[decoy, U["decoy_pa"]]
        d_dec2 = np.clip(dec[decoy] + sep * np.cos(pa_), -90, 90)
        d_ra2 = np.mod(ra[decoy] + sep * np.sin(pa_) / np.maximum(np.cos(np.radians(d_dec2)), 1e-6), 360.0)
        zz = z[take] + np.array([gen[int(s)][6] for s in src[take]]) * 1e-4 if len(take) else np.zeros(0)
        gal = is_galaxy[take]
        ids = np.concatenate([src[take], src[decoy]])
        decoy_flag = np.concatenate([np.zeros(len(take), bool), np.ones(len(decoy), bool)])
        e_ra, e_dec = np.concatenate([e_ra, d_ra2]), np.concatenate([e_dec, d_dec2])
        z_all = np.concatenate([np.where(gal, zz, 0.0), np.zeros(len(decoy))])
        gal_all = np.concatenate([gal, np.zeros(len(decoy), bool)])
        cols = REFERENCE_SCHEMAS[name]
        if name == "cds":
            df = pd.DataFrame({
                cols["id"]: [f"SYN {'D' if d else 'J'}{s:09d}" for s, d in zip(ids, decoy_flag)],
                cols["ra"]: e_ra, cols["dec"]: e_dec,
                cols["type"]: np.where(gal_all, "EmG", "*").astype(object),
                cols["z"]: np.where(gal_all, z_all, np.nan)})
        elif name == "sdss":
            df = pd.DataFrame({
                cols["id"]: (1237600000000000000 + 2 * ids + decoy_flag).astype(np.int64),
                cols["ra"]: e_ra, cols["dec"]: e_dec,
                cols["type"]: np.where(gal_all, "GALAXY", "STAR").astype(object),
                cols["petro_rad"]: np.concatenate([np.where(gal, 2.0 + 3.0 * u[take, U["junk_a"]], 1.2),
                                                   np.full(len(decoy), 1.2)]).astype(np.float32),
                cols["z"]: np.where(gal_all, z_all, 0.0), cols["z_err"]: np.where(gal_all, 2e-5, 1e-5)})
        else:
            df = pd.DataFrame({
                cols["id"]: [f"SYNNED {'D' if d else 'J'}{s:09d}" for s, d in zip(ids, decoy_flag)],
                cols["ra"]: e_ra, cols["dec"]: e_dec,
                cols["type"]: np.where(gal_all, "G", "*").astype(object),
                cols["z"]: np.where(gal_all, z_all, np.nan), cols["z_err"]: np.where(gal_all, 1e-4, np.nan)})
        out[name] = df
    return out


def reference_schema(name: str):
    """The Arrow schema of reference catalog ``name`` (its own column names)."""
    import pyarrow as pa

    c = REFERENCE_SCHEMAS[name]
    fields = [pa.field(c["id"], pa.int64() if name == "sdss" else pa.string()), pa.field(c["ra"], pa.float64()),
              pa.field(c["dec"], pa.float64()), pa.field(c["type"], pa.string())]
    if name == "sdss":
        fields.append(pa.field(c["petro_rad"], pa.float32()))
    fields.append(pa.field(c["z"], pa.float64()))
    if "z_err" in c:
        fields.append(pa.field(c["z_err"], pa.float64()))
    return pa.schema(fields)


def reference_catalog_settings(pool_root: str) -> list[dict]:
    """The ``reference_catalogs`` of `skysift find-emission-lines` for a pool written under ``pool_root``: one
    dict per synthetic catalog (name, path, its own column names; ``--set reference_catalogs=<json>``)."""
    out = []
    for name in REFERENCE_CATALOGS:
        c = REFERENCE_SCHEMAS[name]
        entry = {"name": name, "path": f"{pool_root}/catalogs/{name}", "ra_column": c["ra"], "dec_column": c["dec"],
                 "id_column": c["id"], "type_column": c["type"], "z_column": c["z"]}
        if "z_err" in c:
            entry["z_err_column"] = c["z_err"]
        if "petro_rad" in c:
            entry["extra_columns"] = [c["petro_rad"]]
        out.append(entry)
    return out

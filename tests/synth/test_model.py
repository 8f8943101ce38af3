"""The synthetic spectrum model against independent references (no Spark).

BPT curves are re-typed here from the papers, line positions come from vacuum rest
wavelengths times (1 + z), noise is measured on the spectra, sky positions are
checked with healpy, and the grid against the SDSS formula and a real file.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from skysift.synth import lines
from skysift.synth.model import (
    K_LO,
    ClassMix,
    SynthModelConfig,
    generate,
    model_loglam,
)

ZERO_MIX = {c: 0.0 for c in ("star_forming", "composite", "seyfert", "liner", "passive", "qso", "star", "lens", "outlier")}


def only(**fractions) -> ClassMix:
    return ClassMix(**{**ZERO_MIX, **fractions})


def cfg_with(**kw) -> SynthModelConfig:
    return dataclasses.replace(SynthModelConfig(), **kw)


# --- independent references (Kauffmann 2003 eq. 1, Kewley 2001 eq. 5, Schawinski 2007)
def k03(x):
    return 0.61 / (x - 0.05) + 1.30


def ke01(x):
    return 0.61 / (x - 0.47) + 1.19


def s07(x):
    return 1.05 * x + 0.45


@pytest.fixture(scope="module")
def emission_batch():
    cfg = cfg_with(classes=only(star_forming=1, composite=1, seyfert=1, liner=1), noiseless=True)
    return generate(np.arange(400), 11, cfg)


def test_bpt_regions_with_margin(emission_batch):
    t = emission_batch.truth
    x = np.log10(t.flux_nii_6584.to_numpy(np.float64) / t.flux_ha_6563.to_numpy(np.float64))
    y = np.log10(t.flux_oiii_5007.to_numpy(np.float64) / t.flux_hb_4861.to_numpy(np.float64))
    m = 0.1 - 1e-4  # float32 storage of the fluxes
    counts = t.target_class.value_counts()
    assert all(counts[c] >= 60 for c in ("star_forming", "composite", "seyfert", "liner"))
    for cls in ("star_forming", "composite", "seyfert", "liner"):
        sel = (t.target_class == cls).to_numpy()
        xs, ys = x[sel], y[sel]
        above_k03 = (xs >= 0.05) | (ys > k03(np.minimum(xs, 0.049)) + m)
        below_k03 = (xs < 0.05) & (ys < k03(np.minimum(xs, 0.049)) - m)
        above_ke01 = (xs >= 0.47) | (ys > ke01(np.minimum(xs, 0.469)) + m)
        below_ke01 = (xs < 0.47) & (ys < ke01(np.minimum(xs, 0.469)) - m)
        if cls == "star_forming":
            assert below_k03.all()
        elif cls == "composite":
            assert (above_k03 & below_ke01).all()
        elif cls == "seyfert":
            assert (above_ke01 & (ys > s07(xs) + m)).all()
        else:
            assert (above_ke01 & (ys < s07(xs) - m)).all()
    assert (t.bpt_class == t.target_class).all()


def test_bpt_classify_matches_reference_curves():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.5, 0.8, 5000)
    y = rng.uniform(-1.5, 1.5, 5000)
    got = lines.bpt_classify(10**x, np.ones_like(x), 10**y, np.ones_like(y))
    with np.errstate(divide="ignore"):
        sf = (x < 0.05) & (y < k03(x))
        agn = (x >= 0.47) | (y > ke01(x))
    want = np.where(sf, "star_forming", np.where(agn, np.where(y > s07(x), "seyfert", "liner"), "composite"))
    assert (got == want).all()
    assert lines.bpt_classify([0.0], [1.0], [1.0], [1.0])[0] == "none"


def test_other_lines_and_balmer_decrement(emission_batch):
    t = emission_batch.truth
    dust = 10 ** (0.4 * t.a_v_mag.to_numpy(np.float64) * ((4862.68 / 5500) ** -0.7 - (6564.61 / 5500) ** -0.7))
    decrement = t.flux_ha_6563.to_numpy(np.float64) / t.flux_hb_4861.to_numpy(np.float64)
    np.testing.assert_allclose(decrement, 2.86 * dust, rtol=1e-5)
    assert (decrement >= 2.86 * (1 - 1e-5)).all()
    sii = np.log10((t.flux_sii_6717 + t.flux_sii_6731) / t.flux_ha_6563)
    oi = np.log10(t.flux_oi_6300 / t.flux_ha_6563)
    assert sii.between(-0.8, 0.2).all() and oi.between(-2.1, -0.4).all()
    ratio = t.flux_sii_6717 / t.flux_sii_6731
    assert ratio.between(0.89, 1.41).all()  # the [S II] density-sensitive doublet's physical range


def _pix(wave, z):
    return (np.log10(wave * (1 + z)) - 3.5) / 1e-4 - K_LO


def _peak_offset(row_flux, kc, half=6, sign=1, detrend=False):
    """Offset (pixels) of the extremum nearest kc from kc; detrend removes a straight line through the window's sides."""
    k = int(round(kc))
    win = row_flux[k - half : k + half + 1].astype(np.float64)
    if detrend:
        left = row_flux[k - half - 8 : k - half].mean()
        right = row_flux[k + half + 1 : k + half + 9].mean()
        win = win - np.linspace(left, right, len(win) + 16)[8:-8]
    return int(np.argmax(sign * win)) - half + k - kc


def test_lines_at_rest_times_one_plus_z(emission_batch):
    b, t = emission_batch, emission_batch.truth
    n_checked = 0
    for i in np.flatnonzero((t.target_class == "star_forming").to_numpy())[:40]:
        assert abs(_peak_offset(b.model[i], _pix(lines.HALPHA, t.z.iat[i]))) <= 0.6
        n_checked += 1
    for i in np.flatnonzero((t.target_class == "seyfert").to_numpy())[:40]:
        assert abs(_peak_offset(b.model[i], _pix(lines.OIII_5007, t.z.iat[i]))) <= 0.6
        n_checked += 1
    assert n_checked >= 60


def test_qso_broad_lines_and_passive_absorption():
    cfg = cfg_with(classes=only(qso=1, passive=1), noiseless=True)
    b = generate(np.arange(150), 5, cfg)
    t = b.truth
    lo, hi = 3850.0, 9000.0
    checked = 0
    for i in range(len(b)):
        z = t.z.iat[i]
        if t.target_class.iat[i] == "qso":
            assert 2000 <= t.fwhm_broad_kms.iat[i] <= 8000
            # Broad Halpha is left out: narrow [N II] 6584 sits on its wing and can out-peak it.
            for wave in (lines.LYA, lines.CIV, lines.CIII, lines.MGII, lines.HBETA):
                if lo < wave * (1 + z) < hi:
                    # the sloped power law drags a wide line's peak by up to ~0.15 sigma
                    sigma_pix = t.fwhm_broad_kms.iat[i] / 2.3548 / 69.03
                    assert abs(_peak_offset(b.model[i], _pix(wave, z), half=15)) <= max(3.0, 0.15 * sigma_pix)
                    checked += 1
        else:
            assert abs(_peak_offset(b.model[i], _pix(lines.CA_K, z), half=5, sign=-1)) <= 1.5
            red = b.model[i][int(_pix(4050, z)) : int(_pix(4250, z))].mean()
            blue = b.model[i][int(_pix(3750, z)) : int(_pix(3950, z))].mean()
            assert red / blue > 1.3  # 4000 A break of an old population
            checked += 1
    assert checked > 150


def test_lens_has_two_redshift_systems():
    cfg = cfg_with(classes=only(lens=1), noiseless=True)
    b = generate(np.arange(60), 9, cfg)
    t = b.truth
    assert (t.z_source > t.z + 0.15).all()
    assert set(t.lens_grade) <= {"likely", "probable", "possible"} and t.lens_grade.notna().all()
    assert (t.lens_line_snr[t.lens_grade == "likely"] >= 10).all()
    n_lines = n_found = 0
    for i in range(len(b)):
        z, zs = t.z.iat[i], t.z_source.iat[i]
        start, stop = t.k0.iat[i] - K_LO + 10, t.k0.iat[i] - K_LO + t.n_pix.iat[i] - 10
        found_src = in_coverage = 0
        # the [O II] 3727/3729 doublet (43:57) peaks up to ~2 pixels red-ward of its mean wavelength
        for wave, tol in ((lines.OIII_5007, 1.0), (lines.HBETA, 1.0), (lines.HALPHA, 1.0), (0.5 * (lines.OII_3727 + lines.OII_3730), 2.0)):
            kc = _pix(wave, zs)
            if start + 30 < kc < stop - 30:
                in_coverage += 1
                found_src += abs(_peak_offset(b.model[i], kc, half=4, detrend=True)) <= tol
        assert in_coverage >= 1 and found_src >= 1, i
        n_lines += in_coverage
        n_found += found_src
        if t.subclass.iat[i] == "":  # passive foreground: Ca K absorption at the lens redshift
            assert abs(_peak_offset(b.model[i], _pix(lines.CA_K, z), half=5, sign=-1)) <= 1.5
        else:  # star-forming foreground: Halpha emission at the lens redshift
            assert abs(_peak_offset(b.model[i], _pix(lines.HALPHA, z), half=5)) <= 1.0
    assert n_found >= 0.9 * n_lines


def test_noise_matches_requested_snr():
    cfg = cfg_with(snr_min=10.0, snr_max=10.0, classes=only(passive=1, star=1))
    b = generate(np.arange(80), 21, cfg)
    wave = 10 ** model_loglam().astype(np.float64)
    win = (wave > 5420) & (wave < 5560)
    resid = (b.flux - b.model)[:, win].astype(np.float64)
    good = b.ivar[:, win] > 0
    rel = resid / b.truth.flux_5500.to_numpy(np.float64)[:, None]
    measured_snr = 1.0 / rel[good].std()
    assert measured_snr == pytest.approx(10.0, rel=0.05)
    ok = b.ivar > 0
    chi2 = ((b.flux - b.model).astype(np.float64) ** 2 * b.ivar)[ok].mean()
    assert chi2 == pytest.approx(1.0, rel=0.03)
    # the 5577 A sky line (5578.9 A vacuum) is much noisier than the continuum next to it
    k_sky = int(np.argmin(np.abs(wave - 5578.9)))
    full = (b.flux - b.model).astype(np.float64)
    assert full[:, k_sky - 1 : k_sky + 2].std() > 4 * full[:, k_sky + 20 : k_sky + 60].std()
    masked = b.ivar == 0
    assert masked.any() and (b.and_mask[masked] & (1 << 18)).all()


def test_seeding_and_partitioning_invariance():
    cfg = SynthModelConfig()
    rows = np.arange(1000, 1060)
    whole = generate(rows, 77, cfg)
    parts = [generate(rows[[5, 3, 1]], 77, cfg), generate(rows[40:], 77, cfg)]
    for p in parts:
        for j, r in enumerate(p.rows):
            i = int(r - 1000)
            for name in ("flux", "ivar", "and_mask", "model", "sky", "wdisp"):
                assert getattr(p, name)[j].tobytes() == getattr(whole, name)[i].tobytes(), (name, r)
            a = p.truth.iloc[j].to_dict()
            bb = whole.truth.iloc[i].to_dict()
            norm = lambda d: {k: None if pd.isna(v) else v for k, v in d.items()}  # noqa: E731
            assert norm(a) == norm(bb)
    other = generate(rows[:5], 78, cfg)
    assert not np.array_equal(other.flux[0], whole.flux[0])


def test_grid_is_sdss_loglam_and_ranges():
    b = generate(np.arange(300), 1, SynthModelConfig())
    full = (3.5 + 1e-4 * np.arange(6000)).astype(np.float32)
    for i in range(0, 300, 7):
        s = b.pixel_slice(i)
        k0, n = b.k0[i], b.n_pix[i]
        assert model_loglam()[s].tobytes() == full[k0 : k0 + n].tobytes()
    sdss = (b.truth.survey == "sdss").to_numpy()
    assert sdss.any()
    assert b.k0[sdss].min() >= 780 and b.k0[sdss].max() <= 830
    assert b.n_pix[sdss].min() >= 3800 and b.n_pix[sdss].max() <= 3850


def test_grid_matches_real_sdss_file(shared_data):
    from astropy.io import fits

    with fits.open(shared_data / "sdss-spectra" / "spec-0280-51612-0117.fits") as h:
        loglam = np.asarray(h[1].data["loglam"], dtype=np.float32)
    k0 = int(round((float(loglam[0]) - 3.5) / 1e-4))
    ours = model_loglam()[k0 - K_LO : k0 - K_LO + len(loglam)]
    assert ours.tobytes() == loglam.astype(np.float32).tobytes()


def test_class_mix_and_plates():
    from cdshealpix.nested import healpix_to_lonlat

    cfg = SynthModelConfig()
    b = generate(np.arange(1500), 4, cfg)
    t = b.truth
    frac = t.target_class.value_counts(normalize=True)
    assert frac["star_forming"] == pytest.approx(0.24, abs=0.04)
    assert frac["star"] == pytest.approx(0.20, abs=0.04)
    assert 0 < frac.get("outlier", 0) < 0.05
    assert set(t.outlier_subtype.dropna()) <= {"extreme_reddening", "star_galaxy_blend", "unidentified_line", "broken_continuum"}
    # the centre of each order-29 pixel (~0.4 mas wide) is where the spectrum is
    lon, lat = healpix_to_lonlat(t.healpix29.to_numpy().astype(np.uint64), 29)
    dra = (lon.deg - t.ra_deg.to_numpy() + 180) % 360 - 180
    assert np.abs(dra * np.cos(np.radians(t.dec_deg.to_numpy()))).max() < 1e-6
    assert np.abs(lat.deg - t.dec_deg.to_numpy()).max() < 1e-6
    # fibres of a plate lie within the plate radius of each other's centre
    for plate, g in t.groupby("plate"):
        ra, dec = np.radians(g.ra_deg.to_numpy()), np.radians(g.dec_deg.to_numpy())
        v = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)
        sep = np.degrees(np.arccos(np.clip(v @ v.T, -1, 1)))
        assert sep.max() <= 2 * 1.49 + 1e-6
        assert g.survey.nunique() == 1
    assert t.spec_id.iat[0] == "synth-00000000" and t.file_spec_id.is_unique and t.source_file.is_unique
    # a 7 deg^2 plate falls in a handful of order-5 HEALPix pixels (3.4 deg^2 each)
    order5 = t.healpix29.to_numpy() >> (2 * (29 - 5))
    per_plate = [len(np.unique(order5[(t.plate == p).to_numpy()])) for p in t.plate.unique()]
    assert len(per_plate) == 3 and max(per_plate) <= 9

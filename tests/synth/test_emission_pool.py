"""The Lu et al. 2022 stand-in pool (synth.emission_pool) against its own truth, astropy and the paper's numbers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from skysift.synth.emission_pool import generate_pool, region_catalog
from skysift.synth.model import SynthModelConfig
from skysift.synth.pool_config import ELG_CLASSES, LOW_VELOCITY_CLASSES, EmissionPoolConfig

CFG = SynthModelConfig(population="lu2022_pool")


@pytest.fixture(scope="module")
def pool():
    return generate_pool(np.arange(1500), 21, CFG)


def test_pool_is_lamost_unknown_like(pool):
    """Mostly S/N < 10 (paper Fig. 4), about a quarter with >= 3 lines (123,693 / 492,938), BPT mix."""
    t = pool.truth
    assert 0.6 < (t["snr"] < 10).mean() < 0.8
    assert 0.2 < (t["n_lines_snr5"] >= 3).mean() < 0.33
    elg = t[t["target_class"].isin(ELG_CLASSES)]
    assert set(elg["bpt_class"]) == set(ELG_CLASSES) and (elg["bpt_class"] == elg["target_class"]).all()
    assert elg["z_true"].between(0.0017, 0.35).all()
    assert set(t["class"]) == {"UNKNOWN"}
    junk = t[t["target_class"].isin(["junk_sky", "junk_cosmic", "dead_fibre"])]
    assert len(junk) > 100 and (junk["n_lines_snr5"] == 0).all()
    dead = t["target_class"].to_numpy() == "dead_fibre"
    assert (pool.ivar[dead] == 0).all() and (pool.ivar[~dead] > 0).any(axis=1).all()


def test_galactic_spectra_in_the_anticentre_and_regions(pool):
    t = pool.truth
    gal = t[t["target_class"].isin(LOW_VELOCITY_CLASSES)]
    assert (gal["v_kms"].abs() < 150).all() and np.allclose(gal["z_true"], gal["v_kms"] / 299792.458)
    c = SkyCoord(gal["ra_deg"].to_numpy() * u.deg, gal["dec_deg"].to_numpy() * u.deg).galactic
    assert np.all((c.l.deg > 150) & (c.l.deg < 210) & (c.b.deg > -13) & (c.b.deg < 4))
    regions = region_catalog(21, CFG.pool)
    assert len(regions) == 60 and set(regions["type"]) == {"K", "G", "C", "Q"}
    assert regions["name"].str.fullmatch(r"G\d{3}\.\d{3}[+-]\d{2}\.\d{3}").all()
    # membership truth = astropy separation <= radius, for every spectrum
    reg = SkyCoord(regions["ra_deg"].to_numpy() * u.deg, regions["dec_deg"].to_numpy() * u.deg)
    pos = SkyCoord(t["ra_deg"].to_numpy() * u.deg, t["dec_deg"].to_numpy() * u.deg)
    idx, sep, _ = pos.match_to_catalog_sky(reg)
    inside = sep.arcsec <= regions["radius_arcsec"].to_numpy()[idx]
    assert np.array_equal(inside, t["hii_region_name"].notna().to_numpy())
    assert (t.loc[inside, "hii_region_name"].to_numpy() == regions["name"].to_numpy()[idx[inside]]).all()
    assert (t.loc[t["target_class"] == "hii_region", "hii_region_name"].notna()).all()
    assert t.loc[t["target_class"].isin(["hii_field", "galactic_emitter"]), "hii_region_name"].isna().all()
    # H II truth: in a region OR the noiseless ratios pass log(SII/Ha) >= 0.63 log(NII/Ha) - 0.55
    passes = gal["log_sii_ha_true"] >= 0.63 * gal["log_nii_ha_true"] - 0.55
    assert np.array_equal(passes.to_numpy(), gal["hii_passes_diagnostic"].to_numpy())
    assert np.array_equal(gal["hii_truth"].to_numpy(), (gal["hii_region_name"].notna() | passes).to_numpy())
    assert not gal.loc[gal["target_class"] == "galactic_emitter", "hii_truth"].any()


def test_reference_catalogs_cover_the_flagged_sources(pool):
    """Each catalog holds the sources its truth flag says, within 1.5 arcsec; 'new' = an ELG in none."""
    own = pool.truth[~pool.truth["repeat"]].set_index("source_row")
    for name, (ra, dec) in (("cds", ("ra", "dec")), ("sdss", ("ra", "dec")), ("ned", ("ra", "dec"))):
        cat = pool.catalogs[name]
        c = SkyCoord(cat[ra].to_numpy() * u.deg, cat[dec].to_numpy() * u.deg)
        s = SkyCoord(own["ra_deg"].to_numpy() * u.deg, own["dec_deg"].to_numpy() * u.deg)
        _, sep, _ = s.match_to_catalog_sky(c)
        flagged = own[f"in_{name}"].to_numpy()
        assert flagged.sum() > 300 and (sep.arcsec[flagged] < 1.5).all()
        assert (sep.arcsec[~flagged] > 3.0).all()  # decoys sit 6-30 arcsec away
    elg = pool.truth["target_class"].isin(ELG_CLASSES)
    none = ~pool.truth[["in_cds", "in_sdss", "in_ned"]].any(axis=1)
    assert np.array_equal(pool.truth["new_truth"].to_numpy(), (elg & none).to_numpy())


def test_repeats_show_the_same_source_with_new_noise(pool):
    t = pool.truth
    rep = t[t["repeat"]]
    assert 0.01 < len(rep) / len(t) < 0.06
    for _, r in rep.head(20).iterrows():
        src = t[t["row_number"] == r["source_row"]].iloc[0]
        assert not src["repeat"] and src["target_class"] == r["target_class"] and src["z_true"] == r["z_true"] or (
            np.isnan(src["z_true"]) and np.isnan(r["z_true"]))
        sep = SkyCoord(src["ra_deg"] * u.deg, src["dec_deg"] * u.deg).separation(
            SkyCoord(r["ra_deg"] * u.deg, r["dec_deg"] * u.deg)).arcsec
        assert sep < 2.0


def test_rows_do_not_depend_on_their_batch(pool):
    part = generate_pool(np.array([1499, 3, 700]), 21, CFG)
    for j, r in enumerate([1499, 3, 700]):
        assert part.flux[j].tobytes() == pool.flux[r].tobytes()
        assert part.truth.iloc[j].equals(pool.truth.iloc[r])


def test_templates_have_published_z_and_low_z_members():
    tb = generate_pool(np.arange(600), 21, CFG, templates=True)
    t = tb.truth
    assert t["spec_id"].str.startswith("tpl-").all() and t["is_template"].all() and not tb.catalogs
    assert np.abs(t["z"] - t["z_true"]).max() < 2e-4 and (t["z"] != t["z_true"]).all()
    low = t[t["target_class"] == "hii_field"]
    assert 0.1 < len(low) / len(t) < 0.3 and (low["z_true"].abs() < 150 / 299792.458).all()
    assert (t["snr"] >= 20).all()


def test_config_validation():
    with pytest.raises(Exception, match="coverage"):
        EmissionPoolConfig(coverage=(0.5, 0.5))
    with pytest.raises(Exception, match="population"):
        SynthModelConfig(population="lamost")
    assert dataclasses.replace(CFG.pool, n_regions=5).n_regions == 5

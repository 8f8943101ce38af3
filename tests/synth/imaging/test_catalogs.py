"""photoObj-like, SpecPhoto-like, truth and MPA-JHU-like tables against the truth and published values."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from skysift.synth.imaging import catalogs, objects
from skysift.synth.imaging.bands import asinh_mag
from skysift.synth.imaging.config import GALAXY10_CLASSES, PopulationConfig
from skysift.schema.imaging_survey import IMAGING_TRUTH, MPAJHU, PHOTOOBJ, SPECPHOTO, STAMP_TRUTH, STAMPS, undocumented

SEED = 7


def test_photoobj_misses_only_faint_sources(cfg, field, field_cats):
    truth = field_cats["truth"].to_pandas()
    on = truth[truth["in_frame"]]
    r = on["mag_r"].to_numpy()
    det = on["detected"].to_numpy()
    assert det[r < cfg.catalog.complete_mag_r].all()
    missed = r[~det]
    assert len(missed) > 20 and missed.min() >= cfg.catalog.complete_mag_r
    # The miss rate follows the configured logistic completeness within binomial errors.
    for lo, hi in ((21.5, 22.3), (22.3, 23.0), (23.0, 23.5)):
        sel = (r >= lo) & (r < hi)
        p = catalogs_module_probability(r[sel], cfg)
        assert abs(det[sel].mean() - p.mean()) < 4 * np.sqrt(p.mean() * (1 - p.mean()) / sel.sum()) + 0.02
    photo = field_cats["photoobj"].to_pandas()
    assert len(photo) == det.sum()
    assert set(photo["object_id"]) == set(on["object_id"][det])


def catalogs_module_probability(r, cfg):
    return 1.0 / (1.0 + np.exp((r - cfg.catalog.miss_half_mag_r) / cfg.catalog.miss_width_mag))


def test_types_magnitudes_and_modes(cfg, field, field_cats):
    photo = field_cats["photoobj"].to_pandas()
    truth = field.objects.set_index("object_id").loc[photo["object_id"]]
    assert set(photo["type"].unique()) <= {3, 6}
    point = (truth["morphology"] < 0).to_numpy()
    bright = truth["mag_r"].to_numpy() < 20
    assert (photo["type"].to_numpy()[point & bright] == 6).all()
    # Galaxies whose PSF flux is < 80 % of their flux (psf - model > 0.24 mag) at S/N > 20 are typed 3.
    big = (~point) & (truth["mag_r"].to_numpy() < 21.5) & (truth["psf_frac_r"].to_numpy() < 0.8)
    assert big.sum() >= 3 and (photo["type"].to_numpy()[big] == 3).all()
    assert np.all(truth["psf_frac_r"].to_numpy()[point] == 1.0) and np.all(truth["psf_frac_r"].to_numpy()[~point] < 1.0)
    # PSF magnitudes of bright point sources scatter about the truth by their errors.
    assert set(photo["mode"].unique()) <= {1, 2}
    np.testing.assert_array_equal(photo["mode"] == 1, truth["primary"].to_numpy())


def test_psf_flux_errors_are_honest(make_config, seed):
    """PSF fluxes of point sources scatter about the truth by their catalogued errors (pulls ~ N(0, 1))."""
    from skysift.synth.imaging.frames import render_field

    pop = dataclasses.replace(PopulationConfig(), star_density_per_deg2=20000.0, star_mag_min=15.0, star_mag_max=23.0)
    cfg = make_config(population=pop)
    fi = render_field(seed, cfg, 1)
    photo = catalogs.photoobj_table(seed, cfg, fi).to_pandas()
    truth = fi.objects.set_index("object_id").loc[photo["object_id"]]
    point = (truth["morphology"] < 0).to_numpy()
    for band in ("u", "g", "r", "i", "z"):
        pull = ((photo[f"psfFlux_{band}"] - truth[f"flux_{band}"].to_numpy()) * np.sqrt(photo[f"psfFluxIvar_{band}"])).to_numpy()[point]
        assert len(pull) >= 40
        assert abs(np.mean(pull)) < 4 / np.sqrt(len(pull)) and 0.7 < np.std(pull) < 1.3, band


def test_objid_packs_like_sdss(field_cats, cfg):
    photo = field_cats["photoobj"].to_pandas()
    oid = photo["objid"].to_numpy()
    assert ((oid >> 59) & 0xF == 2).all() and ((oid >> 48) & 0x7FF == 301).all()
    assert ((oid >> 32) & 0xFFFF == cfg.run).all() and ((oid >> 29) & 0x7 == 1).all()
    assert ((oid >> 16) & 0xFFF == photo["field"]).all() and ((oid & 0xFFFF) == photo["obj"]).all()
    assert str(oid[0]).startswith("1237")  # like every DR8+ objID


def test_specphoto_is_the_primary_spectroscopic_subset(make_config, seed):
    from skysift.synth.imaging.frames import render_field

    pop = dataclasses.replace(PopulationConfig(), spec_density_per_deg2=5000.0)
    cfg = make_config(population=pop)
    fi = render_field(seed, cfg, 1)
    cats = catalogs.field_catalogs(seed, cfg, fi)
    sp, photo = cats["specphoto"].to_pandas(), cats["photoobj"].to_pandas()
    truth = fi.objects.set_index("object_id")
    expected = truth[truth["is_spec"] & truth["in_frame"] & truth["primary"]].index
    assert set(sp["object_id"]) == set(expected)  # spectroscopic targets are bright: all detected
    assert set(sp["class"].unique()) <= {"GALAXY", "STAR", "QSO"} and len(sp["class"].unique()) >= 2
    assert set(sp["zWarning"].unique()) <= {0, 4}
    assert set(sp["objid"]) <= set(photo["objid"])
    assert (sp["spec_id"] == [f"synth-{o:08d}" for o in sp["object_id"]]).all()
    stars = sp[sp["class"] == "STAR"]
    assert stars["subclass"].str.match(r"^[AFGKM]\d$").all()


def test_mpajhu_avg_and_flags(seed, make_config):
    from skysift.synth.imaging.config import ImagingSurveyConfig

    pop = dataclasses.replace(PopulationConfig(), spec_density_per_deg2=20000.0, star_density_per_deg2=0.0,
                              qso_density_per_deg2=0.0, galaxy_density_bright_per_deg2=0.01)
    cfg = ImagingSurveyConfig(population=pop)
    df = pd.concat([objects.cell_objects(seed, cfg, 1, k) for k in range(2)], ignore_index=True)
    m = catalogs.mpajhu_table(seed, cfg, df).to_pandas()
    truth = df.set_index("object_id").loc[m["object_id"]]
    assert set(m["class"]) == {"GALAXY", "QSO"}
    d = m["AVG"].to_numpy() - truth["log_sfr"].to_numpy()
    ha = (m["sfr_indicator"] == "halpha").to_numpy()
    assert np.std(d[ha]) == pytest.approx(cfg.catalog.avg_scatter_halpha_dex, rel=0.15)
    assert np.std(d[~ha]) == pytest.approx(cfg.catalog.avg_scatter_d4000_dex, rel=0.15)
    np.testing.assert_array_equal(m["FLAG"] == 2, truth["zwarning"].to_numpy() != 0)
    random_flag = (m["FLAG"] == 1).mean() / max((m["FLAG"] != 2).mean(), 1e-9)
    assert random_flag == pytest.approx(cfg.catalog.flag_fraction, abs=0.025)
    assert (m["P16"] < m["AVG"]).all() and (m["AVG"] < m["P84"]).all()
    # The same object gets the same row from any table call.
    again = catalogs.mpajhu_table(seed, cfg, df.iloc[::-1]).to_pandas().set_index("object_id").loc[m["object_id"]]
    np.testing.assert_array_equal(again["AVG"].to_numpy(), m["AVG"].to_numpy())


def test_petrosian_and_asinh_against_published_values():
    # Graham et al. 2005 (PASA 22, 118): R_P(eta = 0.2) = 2.16 R_e for n = 1; 2 R_P holds 99 % (n = 1), 82 % (n = 4).
    from skysift.synth.imaging import galaxies as G

    assert catalogs.petro_ratio(1.0) == pytest.approx(2.16, abs=0.02)
    assert G.sersic_enclosed(1.0, 2 * catalogs.petro_ratio(1.0)) == pytest.approx(0.99, abs=0.006)
    assert G.sersic_enclosed(4.0, 2 * catalogs.petro_ratio(4.0)) == pytest.approx(0.82, abs=0.01)
    # SDSS asinh magnitudes of zero flux (SDSS DR7 photometry docs): u 24.63, g 25.11, r 24.80, i 24.36, z 22.83.
    np.testing.assert_allclose(asinh_mag(np.zeros(5), np.arange(5)), [24.63, 25.11, 24.80, 24.36, 22.83], atol=0.005)
    # Bright sources: asinh = Pogson.
    assert asinh_mag(np.array([1000.0]), 2)[0] == pytest.approx(22.5 - 2.5 * 3, abs=1e-4)


def test_tables_follow_documented_schemas(field_cats):
    for schema in (PHOTOOBJ, SPECPHOTO, IMAGING_TRUTH, MPAJHU, STAMPS, STAMP_TRUTH):
        assert undocumented(schema) == []
    assert field_cats["photoobj"].schema.equals(PHOTOOBJ)
    assert field_cats["specphoto"].schema.equals(SPECPHOTO)
    assert field_cats["truth"].schema.equals(IMAGING_TRUTH)
    t = field_cats["truth"].to_pandas()
    assert set(t["morphology"]) <= set(("point",) + GALAXY10_CLASSES)

"""Per-batch and driver-side functions of `skysift find-emission-lines`, no Spark: synthetic truth, hand-made
examples and bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from skysift.kb.pq_index import PQRun, points_at_step, search_vectors
from skysift.runtime.errors import SkysiftError
from skysift.stages.find_emission_lines import tasks as T
from skysift.stages.find_emission_lines.config import (
    FindEmissionLinesConfig,
    InspectionConfig,
    PQSearchConfig,
    ReferenceCatalogConfig,
)
from skysift.synth.line_spectra import make_line_spectra, paper_grid

GRID = T.grid_of("lin:3900:8898:2500", "test")
CFG = FindEmissionLinesConfig(input="x", templates="y", output="z")


def _batch(flux, ivar, ids=None, grid_ids=None):
    n = len(flux)
    ids = ids or [f"s{i}" for i in range(n)]
    return pa.RecordBatch.from_pydict({
        "spec_id": ids, "ra_deg": np.linspace(10, 11, n), "dec_deg": np.zeros(n),
        "source_file": ["f.fits"] * n,
        "flux": pa.array([np.asarray(f, np.float32) for f in flux], pa.list_(pa.float32())),
        "ivar": pa.array([np.asarray(v, np.float32) for v in ivar], pa.list_(pa.float32())),
        "grid_id": grid_ids or [GRID.grid_id] * n,
    })


def test_grid_is_the_paper_grid_and_step_conversion():
    np.testing.assert_array_equal(GRID.wave_angstrom, paper_grid())
    assert points_at_step(2500, 2.0, 1.0) == 5000 and points_at_step(5000, 1.0, 2.0) == 2500
    with pytest.raises(ValueError, match="whole number"):
        points_at_step(2501, 2.0, 4.0 / 3.0)
    with pytest.raises(SkysiftError, match="not linear"):
        T.grid_of("log:3900:8898:2500", "input t")


def test_search_batch_finds_the_true_redshift_and_rejects_bad_rows():
    """Galaxies of known z: z_cl within 0.001; an all-ivar-0 row and an off-grid row go to the rejects."""
    names = ("[OII]3728", "Hbeta", "[OIII]5008", "[NII]6550", "Halpha", "[NII]6585", "[SII]6718", "[SII]6733")
    z = np.array([0.02, 0.11, 0.23, 0.31])
    fl = np.array([[300, 200, 400, 60, 800, 180, 120, 90]] * 4, float)
    s = make_line_spectra(4, names, z, fl, noise_sigma=0.5, seed=3)
    flux = list(s.flux) + [s.flux[0], s.flux[0][:2000]]
    ivar = list(s.ivar) + [np.zeros(2500), s.ivar[0][:2000]]
    lines, red, rejects = T.search_batch(_batch(flux, ivar), GRID, CFG)
    assert red.num_rows == 4 and len(rejects) == 2
    assert [r.spec_id for r in rejects] == ["s4", "s5"]
    assert "no usable pixels" in rejects[0].reason and "off-grid" in rejects[1].reason
    got = red.to_pandas()
    np.testing.assert_allclose(got["z_cl"], z, atol=1e-3)
    assert (got["n_cl_lines"] >= 5).all() and (got["bpt_class"].notna()).all()
    # line fluxes at z_cl agree with the truth (Gaussian fit; the noise is small)
    np.testing.assert_allclose(got["flux_ha"], 800, rtol=0.08)
    np.testing.assert_allclose(got["log_nii_ha"], np.log10(180 / 800), atol=0.05)
    li = lines.to_pandas()
    assert set(li["spec_id"]) == {"s0", "s1", "s2", "s3"} and li["cl_line"].notna().sum() >= 20


def test_batch_matrix_one_buffer_and_ragged_rows():
    col = pa.array([np.arange(4, dtype=np.float32), None, np.arange(3, dtype=np.float32)], pa.list_(pa.float32()))
    m, ok = T.batch_matrix(col, 4)
    assert ok.tolist() == [True, False, False]
    np.testing.assert_array_equal(m[0], np.arange(4)) and np.isnan(m[1:]).all()
    m, ok = T.batch_matrix(pa.array([np.ones(4, np.float32)] * 3, pa.list_(pa.float32())).slice(1), 4)
    assert m.shape == (2, 4) and ok.all() and (m == 1).all()


def test_search_vectors_l2_lu2022_and_1a_step():
    flux = np.random.default_rng(0).uniform(1, 2, (3, 2500)).astype(np.float32)
    v = search_vectors(flux, GRID.wave_angstrom, 2.0, "l2")
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    lu = search_vectors(flux, GRID.wave_angstrom, 2.0, "lu2022")
    np.testing.assert_allclose(lu * (flux.astype(np.float64) ** 2).sum(axis=1)[:, None], flux, rtol=1e-5)
    one = search_vectors(flux, GRID.wave_angstrom, 1.0, "l2")
    assert one.shape == (3, 5000)
    ref = np.interp(3900.0 + np.arange(5000.0), GRID.wave_angstrom, flux[1].astype(np.float64))
    np.testing.assert_allclose(one[1] * np.linalg.norm(ref), ref, rtol=1e-5)


def test_merge_candidates_picks_the_closest_agreeing_run():
    runs = (PQRun(2, 25, 100), PQRun(2, 50, 200), PQRun(1, 50, 200))
    red = pd.DataFrame({"spec_id": ["a", "b", "c"], "z_cl": [0.1, 0.2, 0.0005]})
    cand = pd.DataFrame({
        "spec_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
        "pq_config": [r.name for r in runs] * 3,
        "template_id": list("tuvwxyzpq"),
        "z_rt": [0.1008, 0.1002, 0.3, 0.25, 0.26, 0.27, 0.0, 0.0004, 0.0011],
        "pq_distance": np.arange(9, dtype=np.float32),
    })
    m = T.merge_candidates(cand, red, runs, 0.001).set_index("spec_id")
    assert m.loc["a", "template_id"] == "u" and m.loc["a", "n_configs_agree"] == 2
    assert m.loc["b", "n_configs_agree"] == 0 and m.loc["b", "best_pq_config"] == "2/25/100"
    assert m.loc["c", "template_id"] == "p" and m.loc["c", "n_configs_agree"] == 3


def test_inspection_rule():
    """Quality, width, sky-line coincidences (Na D 5897 / OH 7753 / 7916 at z = 0.178) and agreeing runs."""
    cfg = FindEmissionLinesConfig(input="x", templates="y", output="z",
                                  inspection=InspectionConfig(min_quality=12, min_line_width_angstrom=3, min_configs_agree=2))
    lines = pd.DataFrame({
        "spec_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3 + ["e"] * 3,
        "cl_line": ["x"] * 15,
        "center_angstrom": [5000, 6000, 7000] * 4 + [5897.7, 7752.3, 7916.2],
        "start_angstrom": [4996, 5996, 6996] * 2 + [4999, 5999, 6999] + [4996, 5996, 6996] * 2,
        "end_angstrom": [5004, 6004, 7004] * 2 + [5001, 6001, 7001] + [5004, 6004, 7004] * 2,
    })
    stats = T.cl_line_stats(lines, cfg)
    assert stats.loc["e", "cl_lines_on_sky"] == 3 and stats.loc["a", "cl_lines_on_sky"] == 0
    assert stats.loc["c", "cl_line_width_angstrom"] == 2.0
    conf = pd.DataFrame({"spec_id": list("abcde"), "cl_quality": [30.0, 8.0, 30.0, 30.0, 30.0],
                         "n_configs_agree": [3, 3, 3, 1, 3]})
    assert T.inspect(conf, stats, cfg).tolist() == [True, False, False, False, False]
    off = FindEmissionLinesConfig(input="x", templates="y", output="z", inspection=InspectionConfig(enabled=False))
    assert T.inspect(conf, stats, off).all()


def test_bad_setup_fails_at_once_with_one_line():
    runs = PQSearchConfig(configurations=("2/25/100", "2/1250/3200")).runs()
    with pytest.raises(SkysiftError, match="exceeds the 500 training vectors") as exc:
        T.check_search_setup(GRID, runs, 500)
    assert "\n" not in str(exc.value)
    odd = T.grid_of("lin:3900:8900:2501", "t")
    with pytest.raises(SkysiftError, match=r"25 segments do not divide the 2501 points"):
        T.check_search_setup(odd, runs[:1], 5000)
    with pytest.raises(SkysiftError, match="column\\(s\\) z not found; a template table is a spectra table"):
        T.check_templates_schema(["spec_id", "flux", "grid_id"], "tpl/")
    with pytest.raises(Exception, match="STEP/SEGMENTS/K"):
        PQSearchConfig(configurations=("2-25-100",))


def test_reference_catalog_missing_mapped_column(tmp_path):
    pd.DataFrame({"ra": [1.0], "dec": [2.0], "objID": [5]}).to_parquet(tmp_path / "sdss.parquet")
    cat = ReferenceCatalogConfig(name="sdss", path=str(tmp_path / "sdss.parquet"), id_column="objID", z_column="z",
                                 z_err_column="zErr")
    with pytest.raises(SkysiftError, match=r"reference catalog sdss .*mapped column\(s\) z, zErr not found; "
                                           r"expected ra, dec, objID, z, zErr; columns found: ra, dec, objID"):
        T.read_reference(cat)


def test_reference_lookup_and_new_flag_against_astropy():
    """Per-catalog nearest entry within its radius, ``new`` = in no catalog (astropy search_around_sky)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky

    rng = np.random.default_rng(4)
    n = 400
    gal = pd.DataFrame({"spec_id": [f"g{i}" for i in range(n)], "ra_deg": rng.uniform(150, 151, n),
                        "dec_deg": rng.uniform(2, 3, n)})
    cats = []
    for k, name in enumerate(("a", "b")):
        take = rng.random(n) < 0.6
        off = rng.normal(0, 2.0 / 3600, (n, 2))
        df = pd.DataFrame({"RA": gal["ra_deg"] + off[:, 0], "DE": gal["dec_deg"] + off[:, 1],
                           "ident": [f"{name}{i}" for i in range(n)], "zz": np.linspace(0, 1, n)})[take]
        cats.append((ReferenceCatalogConfig(name=name, path="x", ra_column="RA", dec_column="DE", id_column="ident",
                                            z_column="zz", radius_arcsec=3.0), df.reset_index(drop=True)))
    out = T.lookup_references(None, gal, cats).set_index("spec_id").loc[gal["spec_id"]]
    seen = np.zeros(n, bool)
    for cfg, df in cats:
        i1, i2, d, _ = search_around_sky(SkyCoord(gal["ra_deg"].to_numpy() * u.deg, gal["dec_deg"].to_numpy() * u.deg),
                                         SkyCoord(df["RA"].to_numpy() * u.deg, df["DE"].to_numpy() * u.deg), 3 * u.arcsec)
        seen[i1] = True
        best = pd.DataFrame({"i": i1, "j": i2, "d": d.arcsec}).sort_values("d").drop_duplicates("i").set_index("i")
        got = out[f"{cfg.name}_id"].to_numpy()
        assert [got[i] for i in best.index] == df["ident"].to_numpy()[best["j"]].tolist()
        assert pd.isna(got[np.setdiff1d(np.arange(n), best.index)]).all()
        np.testing.assert_allclose(out[f"{cfg.name}_sep_arcsec"].to_numpy()[best.index], best["d"], atol=1e-6)
    assert out["new"].to_numpy().tolist() == (~seen).tolist() and 20 < (~seen).sum() < 200

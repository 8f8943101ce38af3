"""ingest-spectra on local Spark: the real sample, a corpus of broken files, rejects, re-runs."""
import os
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from astropy.io import fits

from skysift.config import load_config
from skysift.stages.ingest_spectra import job as ingest_job
from skysift.stages.ingest_spectra.tasks import list_input_files
from skysift.runtime.rejects import read_rejects
from skysift.io.tables import read_table_json
from skysift.paths import conf_dir
from skysift.synth.broken_files import write_broken_corpus

# SDSS spPixMask bits that are gaps by default (NOPLUG, FULLREJECT, NOSKY, BRIGHTSKY, NODATA), written out here
# from the SDSS data model rather than imported, so that a change of the default fails these tests
SDSS_FATAL = (1 << 0) | (1 << 18) | (1 << 22) | (1 << 23) | (1 << 24)


def _cfg(inputs, output, *sets):
    return load_config(ingest_job.CONFIG, conf_dir() / "ingest_spectra.yaml",
                       [f"input={inputs}", f"output={output}", "files_per_task=8", *sets])


def _table(path):
    return pads.dataset(str(path), format="parquet", partitioning="hive").to_table().to_pandas()


@pytest.fixture(scope="module")
def ingested(spark, shared_data, tmp_path_factory):
    broken = tmp_path_factory.mktemp("broken")
    expected = write_broken_corpus(broken)
    inputs = ",".join([str(shared_data / "sdss-spectra"), str(shared_data / "lamost-spectra"), str(broken)])
    out = tmp_path_factory.mktemp("ingest") / "spectra"
    summary = ingest_job.run(spark, _cfg(inputs, out))
    return {"summary": summary, "out": out, "broken": broken, "expected": expected, "inputs": inputs}


def test_nothing_lost(ingested, shared_data):
    s = ingested["summary"]
    n_real = len(list((shared_data / "sdss-spectra").glob("*.fits"))) + len(
        list((shared_data / "lamost-spectra").glob("*.fits")))
    assert s["files"] == n_real + len(ingested["expected"])
    assert s["read"] == s["written"] + s["rejected"] == s["files"]
    table = _table(ingested["out"])
    rejects = read_rejects(ingested["out"]).to_pandas()
    assert len(table) == s["written"] and len(rejects) == s["rejected"]
    assert set(table.source_file) | set(rejects.source_file) == set(list_input_files(ingested["inputs"]))


def test_broken_files_rejected_with_reason(ingested):
    rejects = read_rejects(ingested["out"]).to_pandas()
    by_file = {Path(p).name: row for p, row in zip(rejects.source_file, rejects.itertuples())}
    for name, stage in ingested["expected"].items():
        assert name in by_file, f"{name} not in _rejects"
        row = by_file[name]
        assert row.stage == stage, (name, row.stage, row.reason)
        assert name in row.reason and "\n" not in row.reason


def test_real_sdss_values_match_the_files(ingested, shared_data):
    """Every real SDSS file is written (each has ivar > 0 over more than half of the observed grid, even the
    z = 1.19 quasar whose spectrum stops at 7350 A), and its row is numpy.interp over the pixels with ivar > 0
    and no fatal and_mask bit."""
    table = _table(ingested["out"]).set_index("source_file")
    rejects = read_rejects(ingested["out"]).to_pandas().set_index("source_file")
    grid = np.linspace(3850, 9000, 3688)
    checked = 0
    for path in sorted((shared_data / "sdss-spectra").glob("*.fits")):
        with fits.open(path) as hdul:
            coadd, meta = hdul[1].data, hdul[2].data[0]
            wave = 10.0 ** coadd["loglam"].astype(float)
            positive = coadd["ivar"] > 0
            ivar_span = (grid >= wave[positive].min()) & (grid <= wave[positive].max())
            assert ivar_span.mean() >= 0.5, path.name  # the sample's premise: all are usable on this grid
            reason = rejects.loc[str(path), "reason"] if str(path) in rejects.index else None
            assert str(path) in table.index, f"{path.name} rejected: {reason}"
            row = table.loc[str(path)]
            assert row["z"] == pytest.approx(float(meta["Z"]))
            assert row["class"] == meta["CLASS"].strip()
            assert row["ra_deg"] == pytest.approx(float(meta["PLUG_RA"]))
            good = positive & ((coadd["and_mask"].astype(np.int64) & SDSS_FATAL) == 0)
            expected = np.interp(grid, wave[good], coadd["flux"][good].astype(float))
        np.testing.assert_allclose(np.asarray(row["flux"]) * row["norm_factor"], expected, rtol=2e-6,
                                   atol=2e-6 * np.abs(expected).max())
        assert row["grid_id"] == "lin:3850:9000:3688"
        assert row["healpix_part"] == row["healpix29"] >> (2 * (29 - 3))
        checked += 1
    assert checked == 17


def test_rest_frame_median_is_one(ingested):
    table = _table(ingested["out"])
    wave = np.linspace(3850, 9000, 3688)
    for row in table.itertuples():
        if row.norm_method != "median_rest_5300_5850":
            continue
        flux, ivar = np.asarray(row.flux), np.asarray(row.ivar)
        sel = (wave >= 5300 * (1 + row.z)) & (wave <= 5850 * (1 + row.z)) & (ivar > 0)
        assert np.median(flux[sel]) == pytest.approx(1.0, rel=1e-5)


def test_table_has_exactly_the_spectra_schema(ingested):
    import pyarrow.parquet as pq

    from skysift.schema import SPECTRA

    files = [p for p in Path(ingested["out"]).rglob("*.parquet") if "_rejects" not in p.parts]
    assert files
    for f in files:  # partition column lives in the path
        assert pq.read_schema(f).names == [n for n in SPECTRA.names if n != "healpix_part"]
    assert _table(ingested["out"]).columns.tolist() == SPECTRA.names


def test_table_properties(ingested):
    props = read_table_json(ingested["out"])
    assert props["grid_id"] == "lin:3850:9000:3688" and props["partition_order"] == 3


def test_rerun_gives_same_rows_and_replaces_output(spark, ingested):
    out = ingested["out"]
    before = _table(out).sort_values("spec_id").reset_index(drop=True)
    ingest_job.run(spark, _cfg(ingested["inputs"], out))
    after = _table(out).sort_values("spec_id").reset_index(drop=True)
    assert list(before.spec_id) == list(after.spec_id)
    for a, b in zip(before.flux, after.flux):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    leftovers = [p for p in os.listdir(out.parent) if p.startswith(f".{out.name}.")]
    assert leftovers == []


def test_lu2022_profile(spark, shared_data, tmp_path):
    out = tmp_path / "lu"
    cfg = load_config(ingest_job.CONFIG, conf_dir() / "ingest_spectra_lu2022.yaml",
                      [f"input={shared_data / 'lamost-spectra'}", f"output={out}"])
    summary = ingest_job.run(spark, cfg)
    table = _table(out)
    assert summary["written"] == 11 and len(table.flux[0]) == 2500
    for flux, factor in zip(table.flux, table.norm_factor):
        raw = np.asarray(flux, dtype=np.float64) * factor
        assert factor == pytest.approx((raw**2).sum(), rel=1e-5)


def test_no_input_files_is_a_clear_error(spark, tmp_path):
    from skysift.config import ConfigError

    with pytest.raises(ConfigError, match="no FITS files found"):
        ingest_job.run(spark, _cfg(str(tmp_path / "nothing-here"), tmp_path / "o"))


def test_rest_frame_profile_on_the_real_sample(spark, shared_data, tmp_path):
    """conf/ingest_spectra_rest.yaml: every SDSS row equals numpy.interp of the file's own pixels at
    lambda / (1 + Z) with Z from the file; lines land at their laboratory (vacuum) wavelengths."""
    out = tmp_path / "rest"
    inputs = f"{shared_data / 'sdss-spectra'},{shared_data / 'lamost-spectra'}"
    cfg = load_config(ingest_job.CONFIG, conf_dir() / "ingest_spectra_rest.yaml", [f"input={inputs}", f"output={out}"])
    summary = ingest_job.run(spark, cfg)
    table = _table(out).set_index("source_file")
    rejects = read_rejects(out).to_pandas().set_index("source_file")
    assert summary["read"] == summary["written"] + summary["rejected"] == len(list_input_files(inputs))
    assert read_table_json(out)["grid_id"] == "lin:3600:7000:2435:rest"
    # the z = 1.19 quasar's spectrum ends at 7350 A observed, 7350 / 2.188 = 3359 A rest: off the 3600-7000 A grid
    quasar = str(shared_data / "sdss-spectra" / "spec-1931-53358-0251.fits")
    assert quasar in rejects.index and "at z=1.188" in rejects.loc[quasar, "reason"]
    wave = np.linspace(3600.0, 7000.0, 2435)
    checked = 0
    for path in sorted((shared_data / "sdss-spectra").glob("*.fits")):
        with fits.open(path) as hdul:
            coadd, z = hdul[1].data, float(hdul[2].data[0]["Z"])
            # the coverage that ivar alone allows, on the rest grid: a file is rejected only when it is short
            positive = coadd["ivar"] > 0
            rest_all = 10.0 ** coadd["loglam"].astype(float) / (1.0 + z)
            span = ((wave >= rest_all[positive].min()) & (wave <= rest_all[positive].max())).mean()
        if span < 0.5:  # only the z = 1.19 quasar: 3800-7350 A observed is 1736-3359 A rest
            assert str(path) == quasar and span == 0.0
            assert "no overlap with grid" in rejects.loc[str(path), "reason"]
            continue
        assert str(path) in table.index, f"{path.name}: {rejects.loc[str(path), 'reason']}"
        row = table.loc[str(path)]
        with fits.open(path) as hdul:
            coadd, z = hdul[1].data, float(hdul[2].data[0]["Z"])
            good = (coadd["ivar"] > 0) & ((coadd["and_mask"].astype(np.int64) & SDSS_FATAL) == 0)
            rest = 10.0 ** coadd["loglam"][good].astype(float) / (1.0 + z)
            expected = np.interp(wave, rest, coadd["flux"][good].astype(float))
        assert row["z"] == pytest.approx(z)
        np.testing.assert_allclose(np.asarray(row["flux"]) * row["norm_factor"], expected, rtol=2e-6,
                                   atol=2e-6 * np.abs(expected).max())
        checked += 1
    assert checked == 16
    # SHOC579, a strong-line starburst (z = 0.0472): H-alpha and [O III] 5007 peak at their vacuum wavelengths
    shoc = np.asarray(table.loc[str(shared_data / "sdss-spectra" / "sdss_dr18_0358-51818-0504.fits"), "flux"])
    for lab_angstrom in (6564.61, 5008.24):
        near = np.abs(wave - lab_angstrom) < 20
        assert wave[near][np.argmax(shoc[near])] == pytest.approx(lab_angstrom, abs=1.4)
    # the rest grid needs no shift of the normalisation window: median over rest 5300-5850 A is 1
    for row in table.itertuples():
        if row.norm_method == "median_rest_5300_5850":
            sel = (wave >= 5300) & (wave <= 5850) & (np.asarray(row.ivar) > 0)
            assert np.median(np.asarray(row.flux)[sel]) == pytest.approx(1.0, rel=1e-5)


def test_rest_frame_rejects_rows_without_redshift():
    from skysift.spectra.processing import ProcessingConfig, process_spectra_arrow
    from skysift.spectra.grid import GridConfig
    from skysift.spectra.native import NativeSpectrum

    loglam = (3.5 + 1e-4 * np.arange(800, 6000)).astype(np.float32)  # the SDSS lattice, 3802-9120 A

    def spectrum(name, z):
        line = 10 * np.exp(-0.5 * ((10.0 ** loglam.astype(float) - 6564.61 * (1 + (z or 0))) / 3.0) ** 2)
        return NativeSpectrum(name, "synth", loglam, (1.0 + line).astype(np.float32), np.ones_like(loglam),
                              np.zeros(loglam.size, np.int32), 10.0, 20.0, z, source_file=f"{name}.fits")

    cfg = ProcessingConfig(grid=GridConfig(3600.0, 7000.0, 2435, frame="rest"))
    rows = [spectrum("ok", 0.1), spectrum("no-z", None), spectrum("nan-z", float("nan")), spectrum("far", 3.0)]
    table, rejects = process_spectra_arrow(rows, cfg)
    assert table.column("spec_id").to_pylist() == ["ok"]
    assert table.column("grid_id").to_pylist() == ["lin:3600:7000:2435:rest"]
    why = {r.spec_id: (r.stage, r.reason) for r in rejects}
    assert why["no-z"] == ("rest_frame", "no-z.fits: rest-frame grid needs a redshift, z=None")
    assert why["nan-z"][0] == "rest_frame"
    assert why["far"][0] == "resample" and "in the rest frame at z=3" in why["far"][1]
    flux = np.asarray(table.column("flux")[0].as_py())
    wave = np.linspace(3600.0, 7000.0, 2435)
    assert wave[np.argmax(flux)] == pytest.approx(6564.61, abs=1.4)


def test_grid_id_names_the_frame():
    from skysift.config import ConfigError
    from skysift.spectra.grid import GridConfig, parse_grid_id

    for grid in (GridConfig(), GridConfig(3600.0, 7000.0, 2435, "linear", "rest"), GridConfig(spacing="log")):
        assert parse_grid_id(grid.grid_id) == grid
    assert GridConfig(frame="rest").grid_id == "lin:3850:9000:3688:rest"
    for bad in ("lin:3850:9000", "lin:3850:9000:3688:obs", "xyz:1:2:3"):
        with pytest.raises(ValueError, match="not a grid id"):
            parse_grid_id(bad)
    with pytest.raises(ConfigError, match="grid.frame"):
        GridConfig(frame="restframe")

"""ingest-spectra on local Spark: the real sample, a corpus of broken files, rejects, re-runs."""
import os
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from astropy.io import fits

from skysift.config import load_config
from skysift.ingest import job as ingest_job
from skysift.io.tables import read_rejects, read_table_json
from skysift.paths import conf_dir
from skysift.synth.broken_files import write_broken_corpus


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
    assert set(table.source_file) | set(rejects.source_file) == set(ingest_job.list_input_files(ingested["inputs"]))


def test_broken_files_rejected_with_reason(ingested):
    rejects = read_rejects(ingested["out"]).to_pandas()
    by_file = {Path(p).name: row for p, row in zip(rejects.source_file, rejects.itertuples())}
    for name, stage in ingested["expected"].items():
        assert name in by_file, f"{name} not in _rejects"
        row = by_file[name]
        assert row.stage == stage, (name, row.stage, row.reason)
        assert name in row.reason and "\n" not in row.reason


def test_real_sdss_values_match_the_files(ingested, shared_data):
    table = _table(ingested["out"]).set_index("source_file")
    grid = np.linspace(3850, 9000, 3688)
    checked = 0
    for path in sorted((shared_data / "sdss-spectra").glob("*.fits")):
        if str(path) not in table.index:
            continue  # rejected for coverage; asserted in test_nothing_lost
        row = table.loc[str(path)]
        with fits.open(path) as hdul:
            coadd, meta = hdul[1].data, hdul[2].data[0]
            assert row["z"] == pytest.approx(float(meta["Z"]))
            assert row["class"] == meta["CLASS"].strip()
            assert row["ra_deg"] == pytest.approx(float(meta["PLUG_RA"]))
            good = (coadd["ivar"] > 0) & (coadd["and_mask"] == 0)
            expected = np.interp(grid, 10.0 ** coadd["loglam"][good].astype(float), coadd["flux"][good].astype(float))
        np.testing.assert_allclose(np.asarray(row["flux"]) * row["norm_factor"], expected, rtol=2e-6,
                                   atol=2e-6 * np.abs(expected).max())
        assert row["grid_id"] == "lin:3850:9000:3688"
        assert row["healpix_part"] == row["healpix29"] >> (2 * (29 - 3))
        checked += 1
    assert checked >= 10


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
    assert summary["written"] == 11 and len(table.flux[0]) == 2501
    for flux, factor in zip(table.flux, table.norm_factor):
        raw = np.asarray(flux, dtype=np.float64) * factor
        assert factor == pytest.approx((raw**2).sum(), rel=1e-5)


def test_no_input_files_is_a_clear_error(spark, tmp_path):
    from skysift.config import ConfigError

    with pytest.raises(ConfigError, match="no FITS files found"):
        ingest_job.run(spark, _cfg(str(tmp_path / "nothing-here"), tmp_path / "o"))

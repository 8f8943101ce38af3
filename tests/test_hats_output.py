"""Our HATS output opened with lsdb (an independent reader): rows, columns, cone search; FITS/VOTable exports."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from skysift.stages.crossmatch.config import CrossmatchConfig
from skysift.stages.crossmatch.job import run
from skysift.io.catalog_writers import hats_partitions, write_fits, write_hats_table, write_votable
from skysift.runtime.output import count_rows
from skysift.runtime.rejects import read_rejects
from skysift.synth.mock_catalogs import benchmark_pair
from skysift.sky.separation import angular_separation_arcsec

lsdb = pytest.importorskip("lsdb")


def test_hats_partitions_follow_the_threshold():
    cells = np.array([0, 1, 2, 3, 4 * 5, 4 * 5 + 1, 4 * 11 + 3])  # order-1 histogram
    counts = np.array([10, 10, 10, 10, 400, 1, 7])
    orders, pixels, rows = hats_partitions(cells, counts, 1, pixel_threshold=100)
    got = dict(zip(zip(orders.tolist(), pixels.tolist()), rows.tolist()))
    # base pixel 0 (40 rows) merges; base 5 (401) stays split at order 1; base 11 coarse
    assert got == {(0, 0): 40, (1, 20): 400, (1, 21): 1, (0, 11): 7}


def _cone(df, ra, dec, radius_arcsec):
    d = angular_separation_arcsec(df["ra_deg"], df["dec_deg"], ra, dec)
    return df[d <= radius_arcsec]


def test_crossmatch_hats_output_reads_in_lsdb(spark, tmp_path):
    left, right = benchmark_pair(3000, 3000, seed=8, field_deg=4.0)
    left.loc[0, "ra_deg"] = np.nan
    left.to_parquet(tmp_path / "l.parquet")
    right.to_parquet(tmp_path / "r.parquet")
    out = tmp_path / "matches"
    summary = run(spark, CrossmatchConfig(left=str(tmp_path / "l.parquet"), right=str(tmp_path / "r.parquet"),
                                          output=str(out), mode="nearest", how="left", format="hats",
                                          hats_pixel_threshold=400, target_rows_per_group=800))
    ours = pads.dataset(str(out / "dataset"), format="parquet", partitioning=None).to_table().to_pandas()
    assert summary["written"] == len(ours) == 2999 == count_rows(out)
    cat = lsdb.read_hats(str(out))
    assert len(cat.get_healpix_pixels()) > 4  # really partitioned
    df = cat.compute()
    assert len(df) == 2999
    df = df.reset_index()  # lsdb serves the healpix column as the index
    assert set(ours.columns) <= set(df.columns) and "separation_arcsec" in df.columns
    assert np.array_equal(np.sort(df["healpix29"].to_numpy()), np.sort(ours["healpix29"].to_numpy()))
    assert sorted(df["id"]) == sorted(ours["id"])
    ra, dec = 181.0, 1.0  # in the clump
    cone = cat.cone_search(ra, dec, 300.0).compute()
    mine = _cone(ours, ra, dec, 300.0)
    assert len(mine) > 50 and sorted(cone["id"]) == sorted(mine["id"])
    assert len(read_rejects(out)) == 1


def test_small_table_writers_round_trip(tmp_path):
    left, _ = benchmark_pair(500, 10, seed=9, field_deg=2.0)
    table = pa.Table.from_pandas(left.drop(columns="healpix29"), preserve_index=False)
    info = write_hats_table(table, tmp_path / "hats", pixel_threshold=100, name="small")
    assert info["rows"] == 500 and info["pixels"] > 2
    cat = lsdb.read_hats(str(tmp_path / "hats"))
    assert len(cat.compute()) == 500
    from astropy.table import Table

    fits = Table.read(write_fits(table, tmp_path / "c.fits"))
    vot = Table.read(write_votable(table, tmp_path / "c.vot"), format="votable")
    for t in (fits, vot):
        assert len(t) == 500 and np.allclose(np.asarray(t["ra_deg"]), left["ra_deg"])
    with pytest.raises(ValueError, match="too many"):
        write_fits(table, tmp_path / "x.fits", max_rows=10)

"""write_catalog's four formats read back by independent readers: lsdb / hats (HATS), astropy and fitsio (FITS),
astropy (VOTable) and STILTS (TOPCAT's engine: votlint, tpipe) on FITS and VOTable."""
from __future__ import annotations

import csv
import dataclasses
import io
import shutil
import subprocess
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from skysift.config import ConfigError, build
from skysift.stages.crossmatch.config import CrossmatchConfig
from skysift.stages.crossmatch.job import run
from skysift.io.catalog_writers import (
    CATALOG_FORMATS,
    CatalogOutputConfig,
    CatalogOutputError,
    column_description,
    column_unit,
    write_catalog,
)
from skysift.runtime.output import count_rows
from skysift.runtime.rejects import read_rejects
from skysift.schema import COLUMN_DOCS
from skysift.synth.mock_catalogs import benchmark_pair
from skysift.sky.separation import angular_separation_arcsec

lsdb = pytest.importorskip("lsdb")
hats = pytest.importorskip("hats")


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
    assert hats.io.validation.is_valid_catalog(out, strict=True)
    assert hats.read_hats(out).catalog_info.total_rows == 2999
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


N = 300


def _catalog(n: int = N, seed: int = 4) -> pa.Table:
    """Every scalar kind the small formats take, with nulls, units from metadata and from name suffixes."""
    rng = np.random.default_rng(seed)
    schema = pa.schema([
        pa.field("id", pa.int64()),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("mag", pa.float32(), metadata={"unit": "mag", "doc": "r-band PSF magnitude"}),
        pa.field("separation_arcsec", pa.float64()),
        pa.field("n_merged", pa.int32()),
        pa.field("is_star", pa.bool_()),
        pa.field("subclass", pa.string()),
        pa.field("z", pa.float64(), metadata={"unit": ""}),
    ])
    return pa.table({
        "id": np.arange(n) * 7 + 1,
        "ra_deg": rng.uniform(150, 152, n),
        "dec_deg": rng.uniform(2, 3, n),
        "mag": rng.uniform(14, 22, n).astype(np.float32),
        "separation_arcsec": [None if i % 10 == 3 else float(v) for i, v in enumerate(rng.uniform(0, 2, n))],
        "n_merged": [None if i % 13 == 5 else int(i % 4 + 1) for i in range(n)],
        "is_star": [None if i % 17 == 2 else bool(i % 3 == 0) for i in range(n)],
        "subclass": [None if i % 11 == 0 else f"type-{i % 5}" * (1 + i % 3) for i in range(n)],
        "z": rng.uniform(0, 1, n),
    }, schema=schema)


def _equal(got, want: pa.Array, name: str):
    """Masked / NaN-filled readback equals the Arrow column, nulls at the same rows."""
    nulls = want.is_null().to_numpy(zero_copy_only=False)
    mask = np.ma.getmaskarray(got)
    if np.asarray(got).dtype.kind == "f":
        mask = mask | np.isnan(np.ma.filled(got, np.nan))
    assert np.array_equal(mask, nulls), name
    values = np.ma.filled(got, got.flat[0]) if np.ma.isMaskedArray(got) else np.asarray(got)
    values = np.array([v.decode() if isinstance(v, bytes) else v for v in values]) if values.dtype.kind in "SO" else values
    expect = want.to_numpy(zero_copy_only=False)
    assert np.array_equal(values[~nulls], np.asarray(list(expect[~nulls]), dtype=values.dtype)), name


def test_column_units_and_descriptions():
    schema = _catalog(3).schema
    assert [column_unit(f) for f in schema] == [None, "deg", "deg", "mag", "arcsec", None, None, None, None]
    assert column_unit(pa.field("outlier_wave_angstrom", pa.float32())) == "Angstrom"
    assert column_description(schema.field("mag")) == "r-band PSF magnitude"
    assert column_description(schema.field("ra_deg")) == COLUMN_DOCS["ra_deg"]  # schema.COLUMN_DOCS fallback
    assert "undocumented_flag" not in COLUMN_DOCS
    assert column_description(pa.field("undocumented_flag", pa.bool_())) is None


def test_fits_reads_back_in_astropy_and_fitsio(tmp_path):
    from astropy.io import fits
    from astropy.table import Table

    fitsio = pytest.importorskip("fitsio")
    table = _catalog()
    info = write_catalog(table, tmp_path / "out", "fits", name="small")
    path = tmp_path / "out" / "small.fits"
    assert info == {"format": "fits", "path": str(path), "rows": N}
    with fits.open(path, logical_as_bytes=True) as hdul:
        header = hdul["SMALL"].header
        assert [header.get(f"TUNIT{i}") for i in range(1, 10)] == [None, "deg", "deg", "mag", "arcsec", None, None, None, None]
        assert header["TCOMM4"] == "r-band PSF magnitude" and header["TCOMM2"] == COLUMN_DOCS["ra_deg"]
        raw_bool = list(hdul["SMALL"].data["is_star"])  # the FITS logical null byte
    expect_bool = table["is_star"].to_pylist()
    assert [{b"T": True, b"F": False, b"": None}[bytes(v)] for v in raw_bool] == expect_bool
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Column 'is_star' contains NULL")
        got = Table.read(path, hdu="SMALL")
    rows = fitsio.read(str(path), ext=1)
    for name in table.column_names:
        if name == "is_star":
            continue  # astropy / fitsio turn the logical null into False (checked above and with STILTS)
        _equal(got[name], table[name].combine_chunks(), f"astropy {name}")
    for name in ("id", "ra_deg", "dec_deg", "mag", "separation_arcsec", "z"):  # fitsio: no masks, NaN for floats
        _equal(rows[name], table[name].combine_chunks(), f"fitsio {name}")


def test_votable_reads_back_in_astropy(tmp_path):
    from astropy.io.votable import parse_single_table

    table = _catalog()
    info = write_catalog(table, tmp_path / "out", "votable", name="small")
    vot = parse_single_table(info["path"])
    fields = {f.name: f for f in vot.fields}
    assert (fields["ra_deg"].ucd, fields["dec_deg"].ucd) == ("pos.eq.ra;meta.main", "pos.eq.dec;meta.main")
    assert (str(fields["ra_deg"].unit), str(fields["separation_arcsec"].unit), fields["z"].unit) == ("deg", "arcsec", None)
    assert fields["mag"].description == "r-band PSF magnitude"
    assert fields["subclass"].arraysize == "*" and fields["subclass"].datatype == "char"
    got = vot.to_table()
    assert got.colnames == table.column_names and len(got) == N
    for name in table.column_names:
        if name != "subclass":
            _equal(got[name], table[name].combine_chunks(), name)
    # neither format has a null string: a null is written as "" (astropy's FITS reader masks "" again)
    assert list(np.ma.filled(got["subclass"], "")) == [s or "" for s in table["subclass"].to_pylist()]


def _stilts(*args: str) -> str:
    result = subprocess.run(["stilts", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("stilts") is None,
                    reason="STILTS not installed (apt-get install stilts; `make install` does it where apt is available)")
def test_stilts_reads_fits_and_votable(tmp_path):
    table = _catalog()
    fits_path = write_catalog(table, tmp_path, "fits")["path"]
    vot_path = write_catalog(table, tmp_path, "votable")["path"]
    lint = _stilts("votlint", vot_path)
    assert "ERROR" not in lint.upper() and "WARNING" not in lint.upper(), lint
    for path in (fits_path, vot_path):
        stats = _stilts("tpipe", f"in={path}", "omode=stats")
        assert f"Total Rows: {N}" in stats
        meta = _stilts("tpipe", f"in={path}", "omode=meta")
        assert "ra_deg(Double)/deg - " + COLUMN_DOCS["ra_deg"] in meta
        assert "mag(Float)/mag - r-band PSF magnitude" in meta and "separation_arcsec(Double)/arcsec" in meta
        text = _stilts("tpipe", f"in={path}", "cmd=keepcols 'id ra_deg separation_arcsec is_star subclass'",
                       "ofmt=csv", "omode=out")
        rows = list(csv.DictReader(io.StringIO(text[text.index("id,"):])))
        assert len(rows) == N
        assert [int(r["id"]) for r in rows] == table["id"].to_pylist()
        assert [float(r["ra_deg"]) for r in rows] == table["ra_deg"].to_pylist()  # all 17 digits survive
        assert [float(r["separation_arcsec"]) if r["separation_arcsec"] else None for r in rows] == \
            table["separation_arcsec"].to_pylist()
        assert [{"true": True, "false": False, "": None}[r["is_star"]] for r in rows] == table["is_star"].to_pylist()
        assert [r["subclass"] for r in rows] == [s or "" for s in table["subclass"].to_pylist()]


def test_small_formats_refuse_what_they_cannot_hold(tmp_path):
    table = _catalog(50)
    for fmt in ("fits", "votable"):
        with pytest.raises(CatalogOutputError, match=r"50 rows is too many .*max_rows=10.*parquet or format=hats"):
            write_catalog(table, tmp_path, fmt, max_rows=10)
    listy = table.append_column("flux", pa.array([[1.0, 2.0]] * 50))
    with pytest.raises(CatalogOutputError, match=r"column 'flux' has type list<item: double>"):
        write_catalog(listy, tmp_path, "votable")
    accented = table.set_column(7, "subclass", pa.array(["é"] * 50))
    with pytest.raises(CatalogOutputError, match=r"column 'subclass' has non-ASCII strings"):
        write_catalog(accented, tmp_path, "fits")
    assert write_catalog(accented, tmp_path, "votable")["rows"] == 50  # unicodeChar holds them
    with pytest.raises(CatalogOutputError, match=r"unknown catalog format 'csv'; allowed: parquet, hats, fits, votable"):
        write_catalog(table, tmp_path, "csv")


def test_catalog_output_config_validates_and_nests():
    assert dataclasses.asdict(CatalogOutputConfig()) == {"format": "parquet", "pixel_threshold": 1_000_000, "histogram_order": 8}
    assert CATALOG_FORMATS == ("parquet", "hats", "fits", "votable")
    with pytest.raises(ConfigError, match="format: 'csv' is not allowed"):
        CatalogOutputConfig(format="csv")
    with pytest.raises(ConfigError, match="pixel_threshold must be >= 1"):
        CatalogOutputConfig(pixel_threshold=0)
    with pytest.raises(ConfigError, match=r"histogram_order must be in \[0, 12\]"):
        CatalogOutputConfig(histogram_order=13)

    @dataclasses.dataclass(frozen=True)
    class JobConfig:
        output: str = "out"
        """where"""
        catalog: CatalogOutputConfig = CatalogOutputConfig()
        """how"""

    cfg = build(JobConfig, {"catalog": {"format": "hats", "pixel_threshold": "5000"}})
    assert cfg.catalog == CatalogOutputConfig(format="hats", pixel_threshold=5000)
    with pytest.raises(ConfigError, match="catalog.format: 'csv' is not allowed"):
        build(JobConfig, {"catalog": {"format": "csv"}})


def test_write_catalog_from_spark(spark, tmp_path):
    table = _catalog(1200)
    df = spark.createDataFrame(table).repartition(3)  # from Arrow: nulls and int32 / float32 types kept
    want = table.to_pylist()

    def rows(t: pa.Table) -> list[dict]:
        return t.select(table.column_names).sort_by("id").to_pylist()

    parquet = write_catalog(df, tmp_path / "pq", "parquet")
    assert parquet == {"format": "parquet", "path": str(tmp_path / "pq"), "rows": 1200}
    assert rows(pq.read_table(tmp_path / "pq")) == want

    info = write_catalog(df, tmp_path / "hats", "hats", name="sparky", pixel_threshold=100, histogram_order=9)
    assert info["rows"] == 1200 and info["pixels"] >= 12 and info["format"] == "hats"
    assert hats.io.validation.is_valid_catalog(tmp_path / "hats", strict=True)
    assert hats.read_hats(tmp_path / "hats").catalog_info.catalog_name == "sparky"
    assert sorted(p.name for p in (tmp_path / "hats").iterdir()) == ["dataset", "hats.properties", "partition_info.csv",
                                                                     "properties"]  # no _work, no _SUCCESS
    got = lsdb.read_hats(str(tmp_path / "hats")).compute().reset_index()
    assert rows(pa.Table.from_pandas(got, preserve_index=False)) == want

    # a session limit on rows per file must not split a pixel into several files (HATS wants one per pixel)
    spark.conf.set("spark.sql.files.maxRecordsPerFile", "40")
    try:
        split = write_catalog(df, tmp_path / "split", "hats", pixel_threshold=100, histogram_order=9)
    finally:
        spark.conf.unset("spark.sql.files.maxRecordsPerFile")
    assert split["pixels"] == info["pixels"] == len(list((tmp_path / "split" / "dataset").glob("Norder=*/Dir=*/*.parquet")))
    assert hats.io.validation.is_valid_catalog(tmp_path / "split", strict=True)

    small = write_catalog(df, tmp_path / "fits", "fits", max_rows=1200)
    assert small["rows"] == 1200
    with pytest.raises(CatalogOutputError, match=r"more than 1199 rows is too many"):
        write_catalog(df, tmp_path / "fits2", "fits", max_rows=1199)

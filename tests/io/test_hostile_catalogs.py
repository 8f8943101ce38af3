"""skysift.io.catalog_readers against hostile catalogs (issue 18, part 5): bounded reads, clear errors, row reasons."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table

from skysift.io.catalog_readers import (
    DEFAULT_MAX_STRING_CHARS,
    CatalogReadError,
    catalog_row_problems,
    read_catalog,
)
from skysift.runtime.errors import SkysiftError
from skysift.synth.broken_files import edit_card


def test_real_catalogs_read_as_pandas_and_astropy_do(shared_data):
    csv_path = shared_data / "catalogs" / "sdss_dr14_skyserver_rows0001-7000.csv"
    df = read_catalog(csv_path, "csv")
    ref = pd.read_csv(csv_path, skipinitialspace=True)
    pd.testing.assert_frame_equal(df, ref)
    assert df.shape == (7000, 18)
    fits_path = shared_data / "sdss-imaging" / "photoObj-003900-6-0269.fits"
    df = read_catalog(fits_path, "fits")
    table = Table.read(fits_path)
    assert len(df) == len(table) == 981
    assert np.array_equal(df["RA"].to_numpy(), np.asarray(table["RA"]))
    assert catalog_row_problems(df, ra_column="RA", dec_column="DEC", id_column="OBJID").isna().all()


def test_a_million_columns_is_refused_before_parsing(tmp_path):
    t0 = time.perf_counter()
    for n, message in ((100_000, "wide.csv: 100000 columns, more than max_columns=4096"),
                       (1_000_000, "wide.csv: the header line is longer than 1048576 bytes")):
        path = tmp_path / "wide.csv"
        path.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" for _ in range(n)) + "\n")
        with pytest.raises(CatalogReadError, match=message):
            read_catalog(path, "csv")
    assert time.perf_counter() - t0 < 5  # pandas itself takes minutes over a million columns


def test_wide_parquet_and_fits_are_refused_from_their_metadata(tmp_path):
    table = pa.table({f"c{i}": [1.0] for i in range(300)})
    pq.write_table(table, tmp_path / "wide.parquet")
    with pytest.raises(CatalogReadError, match="300 columns, more than max_columns=200"):
        read_catalog(tmp_path / "wide.parquet", "parquet", max_columns=200)
    assert read_catalog(tmp_path / "wide.parquet", "parquet").shape == (1, 300)
    cols = [fits.Column(name=f"c{i}", format="E", array=np.zeros(2, np.float32)) for i in range(50)]
    data = _bytes(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]))
    (tmp_path / "wide.fits").write_bytes(data)
    with pytest.raises(CatalogReadError, match="HDU 1 has 50 columns, more than max_columns=20"):
        read_catalog(tmp_path / "wide.fits", "fits", max_columns=20)
    (tmp_path / "tfields.fits").write_bytes(edit_card(data, 1, "TFIELDS", "1000000"))  # over the standard's 999
    with pytest.raises(CatalogReadError, match="TFIELDS = 1000000 is not an integer in 0..999"):
        read_catalog(tmp_path / "tfields.fits", "fits")


def _bytes(hdul) -> bytes:
    import io

    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def test_fits_header_that_hangs_astropy_is_refused_fast(tmp_path):
    cols = [fits.Column(name="ra", format="D", array=np.array([1.0, 2.0])), fits.Column(name="dec", format="D", array=np.zeros(2))]
    data = _bytes(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]))
    assert read_catalog(_put(tmp_path / "ok.fits", data), "fits")["ra"].tolist() == [1.0, 2.0]
    t0 = time.perf_counter()
    with pytest.raises(CatalogReadError, match="NAXIS = 2147483647 is not an integer in 0..999"):
        read_catalog(_put(tmp_path / "naxis.fits", edit_card(data, 0, "NAXIS", "2147483647")), "fits")
    with pytest.raises(CatalogReadError, match="truncated"):
        read_catalog(_put(tmp_path / "cut.fits", data[: len(data) - 2880]), "fits")
    assert time.perf_counter() - t0 < 5


def _put(path, data: bytes):
    path.write_bytes(data)
    return path


def test_unreadable_files_give_one_clear_error(tmp_path):
    cases = {
        "ragged.csv": (b'a,b\n1,2\n3,4,5,6\n"unterminated\n', "csv", "cannot read it as csv"),
        "empty.csv": (b"", "csv", "empty catalog"),
        "dup.csv": (b"ra,dec,ra\n1,2,3\n", "csv", r"column name\(s\) \['ra'\] appear more than once"),
        "junk.parquet": (b"PAR1 not really", "parquet", "cannot read it as parquet"),
        "junk.fits": (b"SIMPLE  = junk" + b" " * 3000, "fits", "not a FITS file"),
        "junk.xml": (b"<VOTABLE><RESOURCE><TABLE><FIELD name='a'", "votable", "cannot read it as votable"),
    }
    for name, (payload, fmt, message) in cases.items():
        with pytest.raises(CatalogReadError, match=message) as info:
            read_catalog(_put(tmp_path / name, payload), fmt)
        assert isinstance(info.value, SkysiftError) and name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CatalogReadError, match="more than max_bytes=10"):
        read_catalog(_put(tmp_path / "big.csv", b"a,b\n1,2\n3,4\n"), "csv", max_bytes=10)
    # Latin-1 bytes in a UTF-8 reader: the rows are kept, the bad byte becomes U+FFFD.
    df = read_catalog(_put(tmp_path / "latin1.csv", "name,ra\nCaf\xe9,1.5\n".encode("latin-1")), "csv")
    assert df["name"].tolist() == ["Caf\ufffd"] and df["ra"].tolist() == [1.5]


def test_billion_laughs_votable_is_refused(tmp_path):
    """An XML entity bomb (10 levels x 10 = 10**10 'lol's): expat's amplification limit refuses it quickly."""
    ents = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10 if i else "lol"}">' for i in range(10))
    xml = (f'<?xml version="1.0"?><!DOCTYPE VOTABLE [{ents}]><VOTABLE version="1.4"><RESOURCE><TABLE>'
           '<FIELD name="a" datatype="char" arraysize="*"/><DATA><TABLEDATA><TR><TD>&l9;</TD></TR></TABLEDATA></DATA>'
           "</TABLE></RESOURCE></VOTABLE>")
    t0 = time.perf_counter()
    with pytest.raises(CatalogReadError, match="cannot read it as votable"):
        read_catalog(_put(tmp_path / "laughs.xml", xml.encode()), "votable")
    assert time.perf_counter() - t0 < 5


def test_row_problems_coordinates_ids_and_strings():
    df = pd.DataFrame({
        "id": ["a", "b", "a", "", None, "c", "d", "e", "f", "g", "h"],
        "ra": [10.0, np.nan, 20.0, 30.0, 40.0, np.inf, -1.0, 360.5, 10.0, "abc", 360.0],
        "dec": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 91.0, 0.0, -90.0],
        "note": ["", "", "", "", "", "", "", "", "", "", "x" * (DEFAULT_MAX_STRING_CHARS + 1)],
    })
    reasons = catalog_row_problems(df, ra_column="ra", dec_column="dec", id_column="id")
    assert reasons.iloc[0] is None
    assert "ra=nan" in reasons.iloc[1] and "finite" in reasons.iloc[1]
    assert reasons.iloc[2] == "id 'a' repeats row 0"
    assert reasons.iloc[3] == reasons.iloc[4] == "no id (column id empty)"
    for i in (5, 6, 7, 8, 9):  # inf, RA < 0, RA > 360, Dec > 90, not a number
        assert "coordinates must be finite with RA in [0, 360] and Dec in [-90, 90] deg" in reasons.iloc[i], (i, reasons.iloc[i])
    assert reasons.iloc[10] == f"column note holds a {DEFAULT_MAX_STRING_CHARS + 1}-character value (limit max_string_chars=65536)"
    assert int(reasons.notna().sum()) == 10
    with pytest.raises(CatalogReadError, match="column 'RA' not in the catalog"):
        catalog_row_problems(df, ra_column="RA", dec_column="dec")


def test_a_huge_string_field_reads_within_the_cap_and_is_flagged(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("id,ra,dec,name\n1,10,0,short\n2,20,0," + "x" * 5_000_000 + "\n")
    df = read_catalog(path, "csv")
    reasons = catalog_row_problems(df, ra_column="ra", dec_column="dec", id_column="id")
    assert reasons.iloc[0] is None and "5000000-character value" in reasons.iloc[1]
    with pytest.raises(CatalogReadError, match="more than max_bytes=1000000"):
        read_catalog(path, "csv", max_bytes=1_000_000)

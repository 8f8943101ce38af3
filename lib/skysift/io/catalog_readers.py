"""One reader per catalog format behind one function: a file -> a pandas DataFrame of its rows.

CSV through pandas; FITS binary tables and VOTables through astropy (multi-dimensional
columns are dropped: a label table needs scalars); Parquet through pyarrow.

Catalogs come from strangers, so reading is bounded and every failure is one clear
``CatalogReadError`` naming the file (a ``SkysiftError``: the CLI prints it on one line):
a file over ``max_bytes``, more than ``max_columns`` columns (checked from the CSV header
line, the Parquet footer or the FITS header before any row is parsed), two columns with
one name, a file the parser cannot read. FITS headers pass the raw scanner's structure
walk first (a header saying NAXIS = 2147483647 hangs astropy; see io/readers/fitsview.py).
Rows that cannot be used -- coordinates that are NaN / inf / outside RA [0, 360] and
Dec [-90, 90], an id that repeats an earlier row's, a string value longer than
``max_string_chars`` -- are not dropped here: ``catalog_row_problems`` gives each one a
one-line reason for the caller's rejects table.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from skysift.runtime.errors import SkysiftError

CatalogFormat = Literal["csv", "fits", "votable", "parquet"]

GiB = 1 << 30

DEFAULT_MAX_CATALOG_BYTES = 4 * GiB
"""Largest catalog file read (skysift choice): the catalogs are read on the driver into pandas. The real ones in
../shared/data are 9 kB - 3.0 MB; a whole SDSS DR17 specObj table as CSV is about 5 GB: convert that to Parquet."""

DEFAULT_MAX_COLUMNS = 4096
"""Most columns read (skysift choice): FITS tables hold at most 999 (the standard's TFIELDS limit); the real
catalogs have 7 (lenscat), 18 (SkyServer) and 139 (photoObj) columns."""

DEFAULT_MAX_STRING_CHARS = 65_536
"""Longest string value a row may carry (skysift choice; the longest in the real catalogs is 1,152 characters,
a lenscat reference list)."""

_HEADER_PROBE_BYTES = 1 << 20  # a CSV header line longer than 1 MiB has more columns than any limit allows


class CatalogReadError(SkysiftError, ValueError):
    """A catalog file that cannot be read within the limits; the message names the file and the problem."""


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _from_astropy(table) -> pd.DataFrame:
    scalar = [name for name in table.colnames if len(table[name].shape) <= 1]
    table = table[scalar]
    for name in scalar:
        if table[name].dtype.kind == "S":  # FITS strings arrive as bytes
            table[name] = table[name].astype(str)
    df = table.to_pandas()
    for name in df.columns:
        if df[name].dtype == object or isinstance(df[name].dtype, pd.StringDtype):
            df[name] = df[name].astype(str).str.strip()
    return df


def _check_names(path: Path, names: Sequence[str], max_columns: int) -> None:
    if len(names) > max_columns:
        raise CatalogReadError(f"{path}: {len(names)} columns, more than max_columns={max_columns}")
    seen: dict[str, int] = {}
    for name in names:
        seen[str(name).strip()] = seen.get(str(name).strip(), 0) + 1
    dup = sorted(n for n, k in seen.items() if k > 1)
    if dup:
        raise CatalogReadError(f"{path}: column name(s) {dup[:5]} appear more than once: which one is meant is ambiguous")


def _csv_header(path: Path, max_columns: int) -> None:
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_PROBE_BYTES)
    if not head.strip():
        raise CatalogReadError(f"{path}: empty catalog (no header line)")
    line, newline, _ = head.partition(b"\n")
    if not newline and len(head) == _HEADER_PROBE_BYTES:
        raise CatalogReadError(f"{path}: the header line is longer than {_HEADER_PROBE_BYTES} bytes (more columns than max_columns={max_columns})")
    if line.count(b",") + 1 > max_columns:  # before csv parsing: a million-column header must cost nothing
        raise CatalogReadError(f"{path}: {line.count(b',') + 1} columns, more than max_columns={max_columns}")
    names = next(csv.reader([line.decode("utf-8", "replace").rstrip("\r")], skipinitialspace=True), [])
    _check_names(path, names, max_columns)


def _fits_structure(path: Path, max_columns: int) -> None:
    from skysift.io.readers.fitsview import FitsError, RawView

    try:
        view = RawView(str(path), structure_only=True)
    except FitsError as exc:
        raise CatalogReadError(f"{path}: {exc}") from None
    try:
        for i in range(64):  # every header astropy may parse before it finds the first table
            hdu = view.hdu(i)
            if hdu is None:
                break
            if hdu.kind == "table":
                view._need(hdu, hdu.data_bytes)
                n = hdu.header.get("TFIELDS")
                if isinstance(n, int) and n > max_columns:
                    raise CatalogReadError(f"{path}: HDU {i} has {n} columns, more than max_columns={max_columns}")
                break
    except FitsError as exc:
        raise CatalogReadError(f"{path}: {exc}") from None
    finally:
        view.close()


def read_catalog(
    path: str | Path,
    fmt: CatalogFormat,
    na_values: Sequence[str] = (),
    *,
    max_bytes: int = DEFAULT_MAX_CATALOG_BYTES,
    max_columns: int = DEFAULT_MAX_COLUMNS,
) -> pd.DataFrame:
    """All rows of a catalog file (or Parquet folder) as a DataFrame, row order kept.

    Raises FileNotFoundError for a missing path, ValueError for an unknown ``fmt``, and
    ``CatalogReadError`` for a file over ``max_bytes`` or ``max_columns``, with duplicated
    column names, or that the format's parser cannot read. CSV bytes that are not UTF-8 are
    read as U+FFFD (a Latin-1 catalog keeps its rows).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: catalog not found")
    if fmt not in ("csv", "fits", "votable", "parquet"):
        raise ValueError(f"unknown catalog format {fmt!r}")
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
    if size > max_bytes:
        raise CatalogReadError(f"{path}: {size} bytes, more than max_bytes={max_bytes} (convert it to Parquet and read it with Spark)")
    try:
        if fmt == "csv":
            _csv_header(path, max_columns)
            return pd.read_csv(path, na_values=list(na_values), keep_default_na=True, skipinitialspace=True,
                               encoding_errors="replace")
        if fmt == "parquet":
            import pyarrow.parquet as pq

            from skysift.runtime.output import read_table, table_files

            first = table_files(str(path))[0] if path.is_dir() else str(path)
            names = pq.read_schema(first).names
            _check_names(path, names, max_columns)
            return read_table(str(path)).to_pandas() if path.is_dir() else pd.read_parquet(path)
        from astropy.table import Table

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "fits":
                _fits_structure(path, max_columns)
                table = Table.read(path, format="fits")
            else:
                table = Table.read(path, format="votable")
        _check_names(path, table.colnames, max_columns)
        return _from_astropy(table)
    except (CatalogReadError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - pandas / pyarrow / astropy / expat raise their own zoo of types
        raise CatalogReadError(f"{path}: cannot read it as {fmt} ({_one_line(exc)})") from None


def catalog_row_problems(
    df: pd.DataFrame,
    *,
    ra_column: str | None = None,
    dec_column: str | None = None,
    id_column: str | None = None,
    max_string_chars: int = DEFAULT_MAX_STRING_CHARS,
) -> pd.Series:
    """Per row, None when the row is usable, else a one-line reason (the first problem found).

    Checked: a string value longer than ``max_string_chars``; RA / Dec not numbers, NaN, inf or
    outside RA [0, 360], Dec [-90, 90] (``skysift.sky.healpix.valid_position``: RA is refused, not
    wrapped); an ``id_column`` value that is empty or repeats an earlier row's (the first row keeps it).
    """
    from skysift.sky.healpix import valid_position

    reasons: list[str | None] = [None] * len(df)

    def flag(bad: np.ndarray, text) -> None:
        """Give rows where ``bad`` holds (and that have no reason yet) ``text(position)``."""
        for i in np.flatnonzero(bad):
            if reasons[i] is None:
                reasons[i] = text(int(i))

    for name in df.columns:
        col = df[name]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            length = col.map(lambda v: len(v) if isinstance(v, (str, bytes)) else 0).to_numpy()
            flag(length > max_string_chars,
                 lambda i, n=name: f"column {n} holds a {length[i]}-character value (limit max_string_chars={max_string_chars})")
    for column in (ra_column, dec_column, id_column):
        if column is not None and column not in df.columns:
            raise CatalogReadError(f"column {column!r} not in the catalog; columns: {list(df.columns)[:20]}")
    if ra_column is not None and dec_column is not None:
        ra_raw, dec_raw = df[ra_column], df[dec_column]
        ra = pd.to_numeric(ra_raw, errors="coerce").to_numpy(dtype=np.float64)
        dec = pd.to_numeric(dec_raw, errors="coerce").to_numpy(dtype=np.float64)
        flag(~valid_position(ra, dec), lambda i: f"{ra_column}={ra_raw.iloc[i]!r} {dec_column}={dec_raw.iloc[i]!r}: coordinates "
                                                 "must be finite with RA in [0, 360] and Dec in [-90, 90] deg")
    if id_column is not None:
        raw = df[id_column]
        ids = raw.astype(object).where(raw.notna(), None).map(lambda v: None if v is None else str(v).strip())
        empty = (ids.isna() | (ids == "")).to_numpy()
        flag(empty, lambda i: f"no id (column {id_column} empty)")
        dup = (~empty) & ids.duplicated(keep="first").to_numpy()
        if dup.any():
            first: dict[str, int] = {}
            for i, v in enumerate(ids.to_numpy()):
                first.setdefault(v, i)
            flag(dup, lambda i: f"{id_column} {ids.iloc[i]!r} repeats row {first[ids.iloc[i]]}")
    return pd.Series(reasons, index=df.index, dtype=object)

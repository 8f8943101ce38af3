"""One reader per catalog format behind one function: a file -> a pandas DataFrame of its rows.

CSV through pandas; FITS binary tables and VOTables through astropy (multi-dimensional
columns are dropped: a label table needs scalars); Parquet through pyarrow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import pandas as pd

CatalogFormat = Literal["csv", "fits", "votable", "parquet"]


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


def read_catalog(path: str | Path, fmt: CatalogFormat, na_values: Sequence[str] = ()) -> pd.DataFrame:
    """All rows of a catalog file (or Parquet folder) as a DataFrame, row order kept."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: catalog not found")
    if fmt == "csv":
        return pd.read_csv(path, na_values=list(na_values), keep_default_na=True, skipinitialspace=True)
    if fmt == "parquet":
        from skysift.runtime.output import read_table

        return read_table(path).to_pandas() if path.is_dir() else pd.read_parquet(path)
    from astropy.table import Table

    if fmt == "fits":
        return _from_astropy(Table.read(path, format="fits"))
    if fmt == "votable":
        return _from_astropy(Table.read(path, format="votable"))
    raise ValueError(f"unknown catalog format {fmt!r}")

"""Catalog outputs, one entry point for every catalog-writing job: Parquet, HATS, FITS and VOTable.

``write_catalog(data, output, format)`` takes a Spark DataFrame or a pyarrow Table and writes into the
folder ``output`` (a job's staging folder, which may already hold ``_rejects``):

    parquet   part files in ``output`` (Spark's writer, or one pyarrow file)
    hats      a HATS catalog rooted at ``output`` (``io/hats_output.py``; lsdb reads it)
    fits      ``output/NAME.fits``: one binary-table HDU (EXTNAME = NAME) after an empty primary HDU
    votable   ``output/NAME.vot``: VOTable 1.4, TABLEDATA serialisation

FITS and VOTable hold the whole table in the driver, so they are for small outputs: more than
``max_rows`` rows (``SMALL_EXPORT_MAX_ROWS`` by default) raises an error suggesting parquet or hats.
They take scalar columns (integers, floats, booleans, strings); a list or struct column raises.
Nulls: FITS TNULLn for integers, NaN for floats, the logical null byte for booleans; VOTable empty cells.
A null string is written as "" (neither format has a string null).

Column units and descriptions (FITS ``TUNITn`` / ``TCOMMn``, VOTable ``FIELD unit`` / ``DESCRIPTION``):
a field's Arrow metadata keys ``unit`` and ``doc`` win; else the unit comes from the column-name
suffix (``UNIT_SUFFIXES``: ``_deg`` -> deg, ``_arcsec`` -> arcsec, ``_angstrom`` -> Angstrom, ``_kms`` ->
km/s, ``_mag`` -> mag, ``_px`` -> pix; the project names columns with their unit, see the style rules)
and the description from ``skysift.schema.COLUMN_DOCS``. The VOTable also marks the position columns
with the UCDs ``pos.eq.ra;meta.main`` / ``pos.eq.dec;meta.main`` so that TOPCAT plots them on the sky.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skysift.runtime.errors import SkysiftError
from skysift.config import require
from skysift.io.hats_output import MAX_ORDER, write_hats_spark, write_hats_table

CatalogFormat = Literal["parquet", "hats", "fits", "votable"]
"""Output formats of a catalog-writing job."""
CATALOG_FORMATS: tuple[str, ...] = typing.get_args(CatalogFormat)
SMALL_FORMATS = ("fits", "votable")
SMALL_EXPORT_MAX_ROWS = 2_000_000
"""Most rows of a FITS / VOTable output: the table is collected to the driver (2M rows of ~20 scalar
columns is ~0.3 GB). Measured for 200k rows x 5 columns on 2 cores: FITS 0.03 s / 6 MB, VOTable
(astropy, TABLEDATA) 5-8 s / 30 MB, so a VOTable near the limit takes minutes; BINARY2 was no faster."""
FILE_SUFFIX = {"fits": ".fits", "votable": ".vot"}
UNIT_SUFFIXES: dict[str, str] = {
    "_deg": "deg",
    "_arcsec": "arcsec",
    "_angstrom": "Angstrom",
    "_kms": "km/s",
    "_mag": "mag",
    "_px": "pix",
}
"""Column-name suffix -> unit (VOUnit / FITS spelling), used when a field has no ``unit`` metadata."""


class CatalogOutputError(SkysiftError, ValueError):
    """A catalog output the writer cannot produce (too many rows, unsupported column, unknown format)."""


@dataclasses.dataclass(frozen=True)
class CatalogOutputConfig:
    """How a job writes its catalog; job configs embed it (``output_format.format=hats`` on the command line)."""

    format: CatalogFormat = "parquet"
    """parquet: plain Parquet files; hats: a HATS catalog (HEALPix-partitioned Parquet that lsdb reads);
    fits / votable: one file NAME.fits / NAME.vot for small outputs (at most 2,000,000 rows)."""
    pixel_threshold: int = 1_000_000
    """HATS: most rows in one partition pixel (hats-import's pixel_threshold default)."""
    histogram_order: int = 8
    """HATS: HEALPix order of the row histogram, the finest order a partition pixel can have
    (hats-import's default highest_healpix_order is 10; 8 keeps the driver's histogram small)."""

    def __post_init__(self):
        require(self.format in CATALOG_FORMATS,
                f"format: {self.format!r} is not allowed; allowed: {', '.join(CATALOG_FORMATS)}")
        require(self.pixel_threshold >= 1, f"pixel_threshold must be >= 1, got {self.pixel_threshold}")
        require(0 <= self.histogram_order <= 12, f"histogram_order must be in [0, 12], got {self.histogram_order}")


def write_catalog(data, output: str | os.PathLike, format: CatalogFormat, *, ra_column: str = "ra_deg",
                  dec_column: str = "dec_deg", name: str = "catalog", pixel_threshold: int = 1_000_000,
                  histogram_order: int = 8, max_rows: int = SMALL_EXPORT_MAX_ROWS) -> dict[str, Any]:
    """Write ``data`` (Spark DataFrame or pyarrow Table) into the folder ``output`` as ``format``.

    Returns the layout: ``{"format", "path", "rows"}``, plus ``"pixels"`` and ``"max_order"`` for
    HATS. ``ra_column`` / ``dec_column`` are the catalog's position (HATS partitioning, VOTable UCDs);
    ``name`` names the HATS catalog and the FITS / VOTable file.
    """
    if format not in CATALOG_FORMATS:
        raise CatalogOutputError(f"unknown catalog format {format!r}; allowed: {', '.join(CATALOG_FORMATS)}")
    is_table = isinstance(data, pa.Table)
    if not is_table and not hasattr(data, "sparkSession"):
        raise TypeError(f"write_catalog takes a Spark DataFrame or a pyarrow Table, got {type(data).__name__}")
    folder = Path(output)
    if format == "hats":
        if not 0 <= histogram_order <= MAX_ORDER:
            raise CatalogOutputError(f"histogram_order must be in [0, {MAX_ORDER}], got {histogram_order}")
        writer = write_hats_table if is_table else write_hats_spark
        return writer(data, folder, ra_column=ra_column, dec_column=dec_column, name=name,
                      pixel_threshold=pixel_threshold, histogram_order=histogram_order)
    if format == "parquet":
        if is_table:
            path = write_parquet(data, folder)
            return {"format": "parquet", "path": str(folder), "rows": pq.read_metadata(path).num_rows}
        from skysift.runtime.output import count_rows

        data.write.mode("append").parquet(str(folder))
        return {"format": "parquet", "path": str(folder), "rows": count_rows(folder)}
    table = data if is_table else _collect(data, max_rows)
    path = folder / f"{name}{FILE_SUFFIX[format]}"
    writer = write_fits if format == "fits" else write_votable
    writer(table, path, max_rows=max_rows, ra_column=ra_column, dec_column=dec_column, name=name)
    return {"format": format, "path": str(path), "rows": table.num_rows}


def write_spark_catalog(df, folder: str | os.PathLike, format: str = "parquet", ra_column: str = "ra_deg",
                        dec_column: str = "dec_deg", name: str = "catalog", pixel_threshold: int = 1_000_000,
                        histogram_order: int = 8) -> dict[str, Any]:
    """``write_catalog`` for a Spark DataFrame, with the positional signature the jobs already call."""
    return write_catalog(df, folder, format, ra_column=ra_column, dec_column=dec_column, name=name,
                         pixel_threshold=pixel_threshold, histogram_order=histogram_order)


def _too_many(n: str, max_rows: int) -> CatalogOutputError:
    return CatalogOutputError(f"{n} rows is too many for a FITS / VOTable output (limit max_rows={max_rows}); "
                              "write format=parquet or format=hats instead")


def _collect(df, max_rows: int) -> pa.Table:
    """The DataFrame as one Arrow table in the driver, refusing more than ``max_rows`` rows."""
    # limit(max_rows + 1) runs the producing stages once and never brings more than one row too many.
    table = df.limit(max_rows + 1).toArrow()
    if table.num_rows > max_rows:
        raise _too_many(f"more than {max_rows}", max_rows)
    return table


def write_parquet(table: pa.Table, folder: str | os.PathLike, name: str = "part-00000.parquet") -> Path:
    """A table as one Parquet file inside ``folder`` (field metadata kept)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return folder / name


def _meta(field: pa.Field, key: str) -> str | None:
    value = (field.metadata or {}).get(key.encode())
    return None if value is None else value.decode()


def column_unit(field: pa.Field) -> str | None:
    """The unit of a column: its ``unit`` field metadata, else its name suffix (``UNIT_SUFFIXES``)."""
    unit = _meta(field, "unit")
    if unit is not None:
        return unit or None  # an explicit empty unit: dimensionless, no suffix guess
    for suffix, suffix_unit in UNIT_SUFFIXES.items():
        if field.name.endswith(suffix):
            return suffix_unit
    return None


def column_description(field: pa.Field) -> str | None:
    """The description of a column: its ``doc`` field metadata, else ``skysift.schema.COLUMN_DOCS``."""
    doc = _meta(field, "doc")
    if doc is not None:
        return doc or None
    from skysift.schema import COLUMN_DOCS

    return COLUMN_DOCS.get(field.name)


def _scalar_columns(table: pa.Table, max_rows: int, what: str):
    """(field, numpy values, null mask) per column, for the FITS / VOTable writers."""
    if table.num_rows > max_rows:
        raise _too_many(str(table.num_rows), max_rows)
    out = []
    for field, col in zip(table.schema, table.columns):
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
            col = col.cast(kind)
        if pa.types.is_large_string(kind):
            kind = pa.string()
            col = col.cast(kind)
        if pa.types.is_float16(kind):
            kind = pa.float32()
            col = col.cast(kind)
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
                or pa.types.is_string(kind)):
            raise CatalogOutputError(f"column {field.name!r} has type {field.type}; a {what} output takes "
                                     "integer, float, boolean and string columns: write parquet or hats")
        mask = col.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_string(kind):
            values = np.asarray(col.fill_null("").to_numpy(zero_copy_only=False), dtype=str)
        elif pa.types.is_boolean(kind):
            values = col.fill_null(False).to_numpy(zero_copy_only=False)
        else:
            values = col.fill_null(0).to_numpy(zero_copy_only=False)
        out.append((field.with_type(kind), values, mask))
    return out


def write_fits(table: pa.Table, path: str | os.PathLike, max_rows: int = SMALL_EXPORT_MAX_ROWS,
               ra_column: str = "ra_deg", dec_column: str = "dec_deg", name: str = "catalog") -> Path:
    """A small table as a FITS binary table with TUNITn / TCOMMn; nulls become TNULLn (ints) or NaN.

    Strings must be ASCII (FITS); a null boolean is the logical null byte 0 (readers that know it, such as
    STILTS, show it blank).
    """
    from astropy.io import fits
    from astropy.table import Column, MaskedColumn, Table

    del ra_column, dec_column  # FITS has no standard position marker; kept for one writer signature
    columns, comments = [], []
    for field, values, mask in _scalar_columns(table, max_rows, "FITS"):
        if values.dtype.kind == "U" and values.size and not pc.all(pc.string_is_ascii(pa.array(values))).as_py():
            raise CatalogOutputError(f"column {field.name!r} has non-ASCII strings, which FITS cannot hold: "
                                     "write votable, parquet or hats")
        cls = MaskedColumn if mask.any() else Column
        kwargs = {"mask": mask} if mask.any() else {}
        columns.append(cls(values, name=field.name, unit=column_unit(field), **kwargs))
        comments.append(column_description(field))
    # Descriptions go to TCOMMn ourselves: astropy would hide them in its YAML COMMENT block instead.
    hdu = fits.table_to_hdu(Table(columns))
    hdu.header["EXTNAME"] = name
    for i, comment in enumerate(comments, start=1):
        if comment:
            hdu.header[f"TCOMM{i}"] = comment
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    null_logicals = {c.name: c.mask for c in columns if c.dtype.kind == "b" and isinstance(c, MaskedColumn)}
    if null_logicals:
        _write_null_logicals(path, null_logicals)
    return path


def _write_null_logicals(path: Path, masks: dict[str, np.ndarray]) -> None:
    """Set masked cells of logical columns to the FITS null byte 0 (astropy writes its fill value, True)."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        data_start = hdul.fileinfo(1)["datLoc"]
        record = hdul[1].data.dtype  # the on-disk record: a logical column is one byte
        offsets = {name: record.fields[name][1] for name in masks}
    cells = np.memmap(path, dtype=np.uint8, mode="r+", offset=data_start, shape=(len(next(iter(masks.values()))),
                                                                                 record.itemsize))
    for name, mask in masks.items():
        cells[np.asarray(mask), offsets[name]] = 0
    cells.flush()
    del cells


_VOTABLE_TYPES = {"int8": "short", "uint8": "unsignedByte", "int16": "short", "uint16": "int", "int32": "int",
                  "uint32": "long", "int64": "long", "uint64": "long", "float": "float", "double": "double",
                  "bool": "boolean"}


def write_votable(table: pa.Table, path: str | os.PathLike, max_rows: int = SMALL_EXPORT_MAX_ROWS,
                  ra_column: str = "ra_deg", dec_column: str = "dec_deg", name: str = "catalog") -> Path:
    """A small table as a VOTable 1.4 (TABLEDATA) with FIELD units, descriptions and position UCDs."""
    from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

    columns = _scalar_columns(table, max_rows, "VOTable")
    votable = VOTableFile(version="1.4")
    resource = Resource()
    votable.resources.append(resource)
    element = TableElement(votable, name=name)
    resource.tables.append(element)
    ucds = {ra_column: "pos.eq.ra;meta.main", dec_column: "pos.eq.dec;meta.main"}
    for field, values, _ in columns:
        if values.dtype.kind == "U":
            ascii_only = not values.size or pc.all(pc.string_is_ascii(pa.array(values))).as_py()
            kwargs = {"datatype": "char" if ascii_only else "unicodeChar", "arraysize": "*"}
        else:
            kwargs = {"datatype": _VOTABLE_TYPES[str(field.type)]}
        vo_field = Field(votable, name=field.name, unit=column_unit(field), ucd=ucds.get(field.name), **kwargs)
        description = column_description(field)
        if description:
            vo_field.description = description
        element.fields.append(vo_field)
    element.create_arrays(table.num_rows)
    for field, values, mask in columns:
        element.array[field.name] = values
        element.array.mask[field.name] = mask
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    votable.to_xml(str(path))
    return path

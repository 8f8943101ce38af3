"""Catalog outputs: plain Parquet, HATS (HEALPix-partitioned Parquet that LSDB reads), FITS and VOTable.

HATS layout written here (HATS v1.0, as hats/lsdb 0.11 read it)::

    CATALOG/properties, hats.properties   key=value: columns of ra/dec/healpix, row count, max order
    CATALOG/partition_info.csv            Norder,Npix of every partition pixel
    CATALOG/dataset/Norder=K/Dir=D/Npix=N.parquet   rows of that pixel, sorted by healpix29
    CATALOG/dataset/_metadata             every file's footer (row groups, statistics)
    CATALOG/dataset/_common_metadata      the schema

Partition pixels follow hats-import's rule: the coarsest pixel whose row count is
at most ``pixel_threshold`` (counts from a histogram at ``histogram_order``; a
histogram cell above the threshold stays one pixel). The writer is our own
(pyarrow + Spark); tests read the result with ``lsdb`` as the independent check.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HEALPIX = "healpix29"
MAX_ORDER = 29
DIR_STEP = 10_000
SMALL_EXPORT_MAX_ROWS = 2_000_000


def hats_partitions(cells: np.ndarray, counts: np.ndarray, histogram_order: int, pixel_threshold: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partition pixels (order, pixel, rows) from a histogram of non-empty cells at ``histogram_order``.

    Each cell goes to its coarsest ancestor holding at most ``pixel_threshold`` rows
    (counts only grow toward coarser orders, so the choice is consistent within a pixel).
    """
    cells = np.asarray(cells, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    chosen = np.full(cells.size, histogram_order, dtype=np.int64)
    settled = np.zeros(cells.size, dtype=bool)
    for order in range(histogram_order + 1):
        anc = cells >> (2 * (histogram_order - order))
        uniq, inv = np.unique(anc, return_inverse=True)
        total = np.bincount(inv, weights=counts)
        ok = ~settled & (total[inv] <= pixel_threshold)
        chosen[ok] = order
        settled |= ok
    pixel = cells >> (2 * (histogram_order - chosen))
    key = np.stack([chosen, pixel], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    rows = np.bincount(inv.ravel(), weights=counts).astype(np.int64)
    start = uniq[:, 1] << (2 * (MAX_ORDER - uniq[:, 0]))
    sort = np.argsort(start)
    return uniq[sort, 0], uniq[sort, 1], rows[sort]


def pixel_of(h29: np.ndarray, orders: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Index of the partition pixel holding each order-29 index (partitions sorted by start)."""
    starts = pixels << (2 * (MAX_ORDER - orders))
    return np.searchsorted(starts, np.asarray(h29, dtype=np.int64), side="right") - 1


def _properties(name: str, ra: str, dec: str, nrows: int, orders: np.ndarray, threshold: int,
                suffix: str, extra: dict[str, Any] | None = None) -> str:
    sky_fraction = float(np.sum(1.0 / (12.0 * 4.0 ** orders.astype(float)))) if orders.size else 0.0
    now = _dt.datetime.now(_dt.timezone.utc)
    props = {
        "obs_collection": name,
        "dataproduct_type": "object",
        "hats_nrows": nrows,
        "hats_col_ra": ra,
        "hats_col_dec": dec,
        "hats_col_healpix": HEALPIX,
        "hats_col_healpix_order": MAX_ORDER,
        "hats_npix_suffix": suffix,
        "hats_max_rows": threshold,
        "moc_sky_fraction": f"{sky_fraction:.6f}",
        "hats_builder": "skysift",
        "hats_creation_date": now.strftime("%Y-%m-%dT%H:%MUTC"),
        "hats_version": "v1.0",
        "hats_order": int(orders.max()) if orders.size else 0,
        **(extra or {}),
    }
    return "#HATS catalog\n" + "".join(f"{k}={v}\n" for k, v in props.items())


def write_hats_metadata(folder: str | os.PathLike, name: str, ra: str, dec: str, threshold: int) -> dict[str, Any]:
    """Write properties, partition_info.csv, dataset/_metadata and _common_metadata from the data files."""
    folder = Path(folder)
    dataset = folder / "dataset"
    files = sorted(p for p in dataset.glob("Norder=*/Dir=*/Npix=*") if p.suffix == ".parquet" or p.is_dir())
    entries, footers, schema = [], [], None
    for path in files:
        order = int(path.parent.parent.name.split("=")[1])
        npix = int(path.name.split("=")[1].split(".")[0])
        parts = [path] if path.is_file() else sorted(path.glob("*.parquet"))
        for part in parts:
            md = pq.read_metadata(part)
            md.set_file_path(part.relative_to(dataset).as_posix())
            footers.append(md)
            schema = schema or pq.read_schema(part)
        entries.append((order, npix, sum(pq.read_metadata(p).num_rows for p in parts)))
    entries.sort(key=lambda e: (e[1] << (2 * (MAX_ORDER - e[0]))))
    orders = np.array([e[0] for e in entries], dtype=np.int64)
    nrows = int(sum(e[2] for e in entries))
    suffix = "/" if any(p.is_dir() for p in files) else ".parquet"
    if schema is not None:
        schema = schema.remove_metadata()
        pq.write_metadata(schema, dataset / "_common_metadata")
        pq.write_metadata(schema, dataset / "_metadata", metadata_collector=footers)
    text = _properties(name, ra, dec, nrows, orders, threshold, suffix)
    (folder / "properties").write_text(text)
    (folder / "hats.properties").write_text(text)
    (folder / "partition_info.csv").write_text("Norder,Npix\n" + "".join(f"{o},{n}\n" for o, n, _ in entries))
    return {"format": "hats", "pixels": len(entries), "rows": nrows, "max_order": int(orders.max()) if orders.size else 0}


def _pixel_dir(order: int, npix: int) -> str:
    return f"Norder={order}/Dir={(npix // DIR_STEP) * DIR_STEP}/Npix={npix}"


def write_hats_table(table: pa.Table, folder: str | os.PathLike, ra: str = "ra_deg", dec: str = "dec_deg",
                     name: str = "catalog", pixel_threshold: int = 1_000_000, histogram_order: int = 8) -> dict[str, Any]:
    """Write an in-memory Arrow table as a HATS catalog (adds ``healpix29`` when absent)."""
    from skysift.sky.healpix import healpix29

    folder = Path(folder)
    if HEALPIX not in table.column_names:
        h = healpix29(table.column(ra).to_numpy(), table.column(dec).to_numpy())
        table = table.append_column(HEALPIX, pa.array(h, pa.int64()))
    h = table.column(HEALPIX).to_numpy()
    table = table.take(pa.array(np.argsort(h, kind="stable")))
    h = table.column(HEALPIX).to_numpy()
    cells, counts = np.unique(h >> (2 * (MAX_ORDER - histogram_order)), return_counts=True)
    orders, pixels, _ = hats_partitions(cells, counts, histogram_order, pixel_threshold)
    idx = pixel_of(h, orders, pixels)
    bounds = np.searchsorted(idx, np.arange(orders.size + 1))
    for k in range(orders.size):
        path = folder / "dataset" / (_pixel_dir(int(orders[k]), int(pixels[k])) + ".parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(bounds[k], bounds[k + 1] - bounds[k]), path)
    return write_hats_metadata(folder, name, ra, dec, pixel_threshold)


def write_spark_catalog(df, folder: str | os.PathLike, format: str = "parquet", ra_column: str = "ra_deg",
                        dec_column: str = "dec_deg", name: str = "catalog", pixel_threshold: int = 1_000_000,
                        histogram_order: int = 8) -> dict[str, Any]:
    """Write a Spark DataFrame into ``folder`` (which may already hold ``_rejects``) as Parquet or HATS.

    HATS: the rows are first written as plain Parquet to ``folder/_work`` (so the
    producing stages run once), histogrammed, then shuffled by partition pixel and
    written as one file per pixel.
    """
    folder = Path(folder)
    if format == "parquet":
        df.write.mode("append").parquet(str(folder))
        return {"format": "parquet"}
    if format != "hats":
        raise ValueError(f"unknown catalog format {format!r}; allowed: parquet, hats")
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = df.sparkSession
    work = folder / "_work"
    df.write.mode("overwrite").parquet(str(work))
    rows = spark.read.parquet(str(work))
    if HEALPIX not in rows.columns:
        from skysift.sky.healpix import healpix29

        def add_healpix(batches):
            for pdf in batches:
                yield pdf.assign(**{HEALPIX: healpix29(pdf[ra_column].to_numpy(np.float64), pdf[dec_column].to_numpy(np.float64))})

        rows = rows.mapInPandas(add_healpix, T.StructType(rows.schema.fields + [T.StructField(HEALPIX, T.LongType(), True)]))
    shift = 2 * (MAX_ORDER - histogram_order)
    hist = rows.select(F.shiftright(F.col(HEALPIX), shift).alias("c")).groupBy("c").count().toPandas()
    orders, pixels, _ = hats_partitions(hist["c"].to_numpy(), hist["count"].to_numpy(), histogram_order, pixel_threshold)
    schema = T.StructType(rows.schema.fields + [T.StructField(n, T.LongType(), False) for n in ("Norder", "Dir", "Npix")])

    def tag(batches):
        for pdf in batches:
            k = pixel_of(pdf[HEALPIX].to_numpy(np.int64), orders, pixels)
            yield pdf.assign(Norder=orders[k], Dir=(pixels[k] // DIR_STEP) * DIR_STEP, Npix=pixels[k])

    n_parts = max(1, min(int(orders.size), int(spark.conf.get("spark.sql.shuffle.partitions", "8"))))
    tagged = rows.mapInPandas(tag, schema).repartition(n_parts, "Norder", "Npix").sortWithinPartitions(
        "Norder", "Npix", HEALPIX
    )
    dataset = folder / "dataset"
    tagged.write.partitionBy("Norder", "Dir", "Npix").parquet(str(dataset))
    shutil.rmtree(work, ignore_errors=True)
    for junk in dataset.glob("_SUCCESS"):
        junk.unlink()
    # One Spark task holds all rows of a pixel, so each pixel folder has one file: flatten to Npix=N.parquet.
    for pixel_dir in dataset.glob("Norder=*/Dir=*/Npix=*"):
        if pixel_dir.is_dir():
            parts = sorted(pixel_dir.glob("*.parquet"))
            for hidden in pixel_dir.glob(".*.crc"):
                hidden.unlink()
            if len(parts) == 1:
                target = pixel_dir.parent / (pixel_dir.name + ".parquet")
                os.replace(parts[0], target)
                shutil.rmtree(pixel_dir)
    return write_hats_metadata(folder, name, ra_column, dec_column, pixel_threshold)


def _astropy_table(table: pa.Table, max_rows: int):
    from astropy.table import Table

    if table.num_rows > max_rows:
        raise ValueError(f"{table.num_rows} rows is too many for a single-file export (max {max_rows}); use Parquet or HATS")
    return Table.from_pandas(table.to_pandas())


def write_fits(table: pa.Table, path: str | os.PathLike, max_rows: int = SMALL_EXPORT_MAX_ROWS) -> Path:
    """A small table as a FITS binary table (astropy); nulls become masked values."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _astropy_table(table, max_rows).write(path, format="fits", overwrite=True)
    return path


def write_votable(table: pa.Table, path: str | os.PathLike, max_rows: int = SMALL_EXPORT_MAX_ROWS) -> Path:
    """A small table as a VOTable (astropy)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _astropy_table(table, max_rows).write(path, format="votable", overwrite=True)
    return path


def write_parquet(table: pa.Table, folder: str | os.PathLike, name: str = "part-0.parquet") -> Path:
    """A table as one Parquet file inside ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return folder / name

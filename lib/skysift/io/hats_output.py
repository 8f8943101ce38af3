"""HATS catalogs (HEALPix-partitioned Parquet that LSDB reads): our data files, the ``hats`` library's metadata.

Layout (HATS v1.0, as hats / lsdb 0.11 read it)::

    CATALOG/properties, hats.properties   hats.catalog.TableProperties.to_properties_file
    CATALOG/partition_info.csv            hats.catalog.PartitionInfo.write_to_file
    CATALOG/dataset/Norder=K/Dir=D/Npix=N.parquet   ours: the rows of that pixel, sorted by healpix29
    CATALOG/dataset/_metadata             hats.io.write_parquet_metadata (every file's footer)
    CATALOG/dataset/_common_metadata      hats.io.write_parquet_metadata (the schema, field metadata kept)

The pixel files are written by pyarrow (in memory) or Spark (``write_hats_spark``); the finishing
step (``finish_hats_catalog``) is the one hats-import runs (``hats_import/catalog/run_import.py``):
partition info, Parquet metadata, properties with hats' provenance keys, then ``is_valid_catalog``.

Partition rule (``hats_partitions``): each histogram cell at ``histogram_order`` goes to its coarsest
ancestor holding at most ``pixel_threshold`` rows. This is hats' own
``hats.pixel_math.generate_alignment(histogram, highest_order, threshold=pixel_threshold)`` with
``drop_empty_siblings=False`` (the test checks equality on a clustered sample); hats-import's default
``drop_empty_siblings=True`` differs only where three of four siblings are empty. We keep our
sparse, vectorised version because hats' needs the dense 12·4^k histogram with Python loops over every
cell (0.5 s at order 8, x4 per order) and raises when one cell holds more than the threshold, where ours
keeps that cell as one (oversized) pixel so that a dense field never fails the job.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.runtime.tasks import inject_partition_fault

HEALPIX = "healpix29"
"""The order-29 nested HEALPix column every skysift table carries (hats_col_healpix)."""
MAX_ORDER = 29


def hats_partitions(cells: np.ndarray, counts: np.ndarray, histogram_order: int, pixel_threshold: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partition pixels (order, pixel, rows) from a histogram of non-empty cells at ``histogram_order``.

    Each cell goes to its coarsest ancestor holding at most ``pixel_threshold`` rows
    (counts only grow toward coarser orders, so the choice is consistent within a pixel);
    a cell above the threshold stays one pixel at ``histogram_order``. Pixels come sorted by
    their first order-29 index, the order ``pixel_of`` needs.
    """
    cells = np.asarray(cells, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    chosen = np.full(cells.size, histogram_order, dtype=np.int64)
    settled = np.zeros(cells.size, dtype=bool)
    for order in range(histogram_order + 1):
        anc = cells >> (2 * (histogram_order - order))
        _, inv = np.unique(anc, return_inverse=True)
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


def finish_hats_catalog(folder: str | os.PathLike, name: str, ra_column: str, dec_column: str,
                        pixel_threshold: int, orders: np.ndarray, pixels: np.ndarray,
                        npix_suffix: str = ".parquet") -> dict[str, Any]:
    """Write a catalog's metadata with hats' API once its pixel files are in ``folder/dataset``.

    Returns ``{"format": "hats", "path", "rows", "pixels", "max_order"}``; raises RuntimeError
    when the Parquet footers disagree with the partition rows or hats finds the catalog invalid.
    """
    from hats.catalog import PartitionInfo, TableProperties
    from hats.io.parquet_metadata import write_parquet_metadata
    from hats.io.validation import is_valid_catalog
    from hats.pixel_math import HealpixPixel

    from skysift import __version__

    folder = Path(folder)
    info = PartitionInfo.from_healpix([HealpixPixel(int(o), int(p)) for o, p in zip(orders, pixels)])
    info.write_to_file(catalog_path=folder)
    total_rows = int(write_parquet_metadata(folder)) if len(info) else 0
    properties = TableProperties(**TableProperties.new_provenance_dict(folder, builder=f"skysift v{__version__}"),
                                 catalog_name=name, catalog_type="object", total_rows=total_rows,
                                 ra_column=ra_column, dec_column=dec_column, healpix_column=HEALPIX,
                                 healpix_order=MAX_ORDER, hats_max_rows=pixel_threshold,
                                 hats_order=info.get_highest_order() if len(info) else 0,
                                 moc_sky_fraction=f"{info.calculate_fractional_coverage():0.5f}",
                                 npix_suffix=npix_suffix)
    properties.to_properties_file(folder)
    if len(info) and not is_valid_catalog(folder):  # hats-import's check; the tests run strict=True
        raise RuntimeError(f"{folder}: hats.io.validation.is_valid_catalog rejected the catalog just written")
    return {"format": "hats", "path": str(folder), "rows": total_rows, "pixels": len(info),
            "max_order": int(properties.hats_order)}


def write_hats_table(table: pa.Table, folder: str | os.PathLike, ra_column: str = "ra_deg",
                     dec_column: str = "dec_deg", name: str = "catalog", pixel_threshold: int = 1_000_000,
                     histogram_order: int = 8) -> dict[str, Any]:
    """Write an in-memory Arrow table as a HATS catalog (adds ``healpix29`` when absent)."""
    from hats.io.paths import new_pixel_catalog_file
    from hats.pixel_math import HealpixPixel

    from skysift.sky.healpix import healpix29

    folder = Path(folder)
    if HEALPIX not in table.column_names:
        h = healpix29(table.column(ra_column).to_numpy(), table.column(dec_column).to_numpy())
        table = table.append_column(HEALPIX, pa.array(h, pa.int64()))
    h = table.column(HEALPIX).to_numpy()
    table = table.take(pa.array(np.argsort(h, kind="stable")))
    h = table.column(HEALPIX).to_numpy()
    cells, counts = np.unique(h >> (2 * (MAX_ORDER - histogram_order)), return_counts=True)
    orders, pixels, _ = hats_partitions(cells, counts, histogram_order, pixel_threshold)
    bounds = np.searchsorted(pixel_of(h, orders, pixels), np.arange(orders.size + 1))
    for k in range(orders.size):
        path = new_pixel_catalog_file(folder, HealpixPixel(int(orders[k]), int(pixels[k])))
        pq.write_table(table.slice(bounds[k], bounds[k + 1] - bounds[k]), str(path))
    return finish_hats_catalog(folder, name, ra_column, dec_column, pixel_threshold, orders, pixels)


def write_hats_spark(df, folder: str | os.PathLike, ra_column: str = "ra_deg", dec_column: str = "dec_deg",
                     name: str = "catalog", pixel_threshold: int = 1_000_000, histogram_order: int = 8
                     ) -> dict[str, Any]:
    """Write a Spark DataFrame as a HATS catalog in ``folder`` (which may already hold ``_rejects``).

    The rows are first written as plain Parquet to ``folder/_work`` (so the producing stages run
    once), histogrammed at ``histogram_order``, then shuffled by partition pixel (one task holds all
    rows of a pixel) and written sorted by ``healpix29``, one file per pixel, moved to its HATS path.
    """
    from hats.io.paths import pixel_catalog_file
    from hats.pixel_math import HealpixPixel
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    folder = Path(folder)
    spark = df.sparkSession
    work = folder / "_work"
    df.write.mode("overwrite").parquet(str(work / "rows"))
    rows = spark.read.parquet(str(work / "rows"))
    if HEALPIX not in rows.columns:
        from skysift.sky.healpix import healpix29

        def add_healpix(batches):
            inject_partition_fault()  # test-only switch (runtime.tasks)
            for pdf in batches:
                yield pdf.assign(**{HEALPIX: healpix29(pdf[ra_column].to_numpy(np.float64),
                                                       pdf[dec_column].to_numpy(np.float64))})

        rows = rows.mapInPandas(add_healpix, T.StructType(rows.schema.fields + [T.StructField(HEALPIX, T.LongType(), True)]))
    shift = 2 * (MAX_ORDER - histogram_order)
    hist = rows.select(F.shiftright(F.col(HEALPIX), shift).alias("c")).groupBy("c").count().toPandas()
    orders, pixels, _ = hats_partitions(hist["c"].to_numpy(), hist["count"].to_numpy(), histogram_order, pixel_threshold)
    schema = T.StructType(rows.schema.fields + [T.StructField(n, T.LongType(), False) for n in ("Norder", "Npix")])

    def tag(batches):
        inject_partition_fault()
        for pdf in batches:
            k = pixel_of(pdf[HEALPIX].to_numpy(np.int64), orders, pixels)
            yield pdf.assign(Norder=orders[k], Npix=pixels[k])

    n_parts = max(1, min(int(orders.size), int(spark.conf.get("spark.sql.shuffle.partitions", "8"))))
    tagged = rows.mapInPandas(tag, schema).repartition(n_parts, "Norder", "Npix").sortWithinPartitions(
        "Norder", "Npix", HEALPIX
    )
    # One task holds all rows of a pixel, sorted, so it writes one file per pixel; the per-write option
    # overrides a session's spark.sql.files.maxRecordsPerFile, which would split pixels into several files.
    tagged.write.option("maxRecordsPerFile", 0).partitionBy("Norder", "Npix").parquet(str(work / "pixels"))
    # Spark leaves _SUCCESS and .crc files beside its parts; only the parts move into dataset/.
    for order, npix in zip(orders.tolist(), pixels.tolist()):
        parts = sorted((work / "pixels" / f"Norder={order}" / f"Npix={npix}").glob("part-*.parquet"))
        if len(parts) != 1:
            raise RuntimeError(f"Spark wrote {len(parts)} files for HATS pixel Norder={order} Npix={npix}, expected 1")
        target = Path(str(pixel_catalog_file(folder, HealpixPixel(order, npix))))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(parts[0], target)
    shutil.rmtree(work, ignore_errors=True)
    return finish_hats_catalog(folder, name, ra_column, dec_column, pixel_threshold, orders, pixels)

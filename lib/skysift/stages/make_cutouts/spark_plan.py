"""The Spark plan of `skysift make-cutouts` (see job.py): HEALPix join, field choice per row, one task per field."""
from __future__ import annotations

import functools
import os

import pandas as pd

from skysift.runtime.filesystem import for_spark, join
from skysift.runtime.rejects import write_spark_rejects
from skysift.runtime.spark import sql_conf
from skysift.stages.make_cutouts.tasks import (
    FIELDS_DIR, STATS_COLUMNS, add_cells, candidate_positions, catalog_columns,
    cut_field, empty_candidates, field_cells, load_fields, read_catalog_pandas)

CATALOG_DDL = "source_file string, row_index long, object_id string, ra_deg double, dec_deg double"
CANDIDATE_DDL = (CATALOG_DDL + ", field_id string, x_px double, y_px double, margin_px int, complete boolean, "
                 "lacking string")
STATS_DDL = ("field_id string, written long, flag_edge long, flag_nonfinite long, flag_masked long, seconds double, "
             + ", ".join(f"{c} double" for c in STATS_COLUMNS if c.endswith("_s")))


def _plain(pdf: pd.DataFrame) -> pd.DataFrame:
    """String columns as object dtype: pandas 3's Arrow-backed ``str`` columns become ChunkedArrays, which
    PySpark 4.3's mapInPandas output conversion refuses ("Cannot convert ChunkedArray to Array")."""
    strings = [c for c in pdf.columns if isinstance(pdf[c].dtype, pd.StringDtype)]
    return pdf.astype({c: object for c in strings}) if strings else pdf


def _cells_batches(order: int, batches):
    for pdf in batches:
        yield _plain(add_cells(pdf, order))


def _field_cells_batches(order: int, batches):
    for pdf in batches:
        yield _plain(field_cells(pdf, order))


def _candidate_batches(input_uri: str, version: str, bands: tuple, size_px: int, batches):
    fields = load_fields(input_uri, version)
    for pdf in batches:
        yield _plain(candidate_positions(pdf, fields, bands, size_px) if len(pdf) else empty_candidates())


def _cut_group_fn(staging: str, cfg, settings, items):
    """The applyInPandas function (a plain closure: PySpark warns that it cannot read type hints off a partial);
    ``items`` (job.FieldItems) writes the field's resume marker after its files."""

    def cut_group(pdf):
        return _plain(pd.DataFrame([items.finish(cut_field(staging, cfg, settings, pdf))])[STATS_COLUMNS])

    return cut_group


def catalog_frame(spark, cfg, fmt: str):
    """The catalog as a Spark DataFrame of CATALOG_DDL: Parquet read by the executors, other formats by the driver."""
    from pyspark.sql import functions as F

    if fmt != "parquet":
        return spark.createDataFrame(read_catalog_pandas(cfg, fmt), CATALOG_DDL)
    path = cfg.catalog if "://" in cfg.catalog else os.path.abspath(cfg.catalog)
    raw = spark.read.parquet(for_spark(path))
    id_col, ra_col, dec_col = catalog_columns(raw.columns, cfg)
    # _metadata.row_index is the row inside its file, the same number pyarrow gives (the twin's row_index).
    file_path = F.regexp_replace(F.col("_metadata.file_path"), r"^file:(//)?", "")
    object_id = F.trim(F.col(id_col).cast("string")) if id_col else F.col("_metadata.row_index").cast("string")
    return raw.select(file_path.alias("source_file"), F.col("_metadata.row_index").alias("row_index"),
                      object_id.alias("object_id"), F.col(ra_col).cast("double").alias("ra_deg"),
                      F.col(dec_col).cast("double").alias("dec_deg"))


def catalog_row_count(cfg, fmt: str) -> int | None:
    """Rows of a Parquet catalog from its footers (no Spark job); None for other formats (the driver reads them)."""
    import pyarrow.parquet as pq

    from skysift.runtime.output import count_rows

    if fmt != "parquet":
        return None
    path = cfg.catalog if "://" in cfg.catalog else os.path.abspath(cfg.catalog)
    return count_rows(path) if os.path.isdir(path) else pq.read_metadata(path).num_rows


def run_spark(spark, staging: str, cfg, settings, fmt: str, items) -> tuple[int, list[dict]]:
    """Rows read and the per-field stats rows; cutouts and rejects written under ``staging``.

    Three Spark jobs: the footprint cells (collected for the broadcast), the per-row choice written as the
    rejects (``best`` is persisted for the next job), and the per-field cutting. Each costs a few seconds of
    fixed work on a small machine, so the row count comes from the Parquet footers (or the driver's read),
    and rows on no frame travel as placeholders instead of through an anti-join. ``items`` (job.FieldItems):
    the fields with a resume marker are left out of the cutting, their stats rows taken from the markers.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    with sql_conf(spark, {"spark.sql.execution.arrow.maxRecordsPerBatch": cfg.catalog_batch_rows}):
        read = catalog_row_count(cfg, fmt)
        if read is None:
            pdf = read_catalog_pandas(cfg, fmt)
            read, cat = len(pdf), spark.createDataFrame(pdf, CATALOG_DDL)
        else:
            cat = catalog_frame(spark, cfg, fmt)
        cells = cat.mapInPandas(functools.partial(_cells_batches, cfg.join_order), CATALOG_DDL + ", cell long")
        fields = spark.read.parquet(for_spark(join(settings.input, FIELDS_DIR))).select(
            "field_id", "wcs_header", "height_px", "width_px", "corners_ra_deg", "corners_dec_deg")
        fcells = fields.mapInPandas(functools.partial(_field_cells_batches, cfg.join_order), "field_id string, cell long")
        pairs = cells.join(F.broadcast(fcells), "cell", "left")
        cands = pairs.mapInPandas(
            functools.partial(_candidate_batches, settings.input, settings.version, tuple(cfg.bands), cfg.size_px),
            CANDIDATE_DDL)
        per_row = Window.partitionBy("source_file", "row_index")
        order = per_row.orderBy(F.col("complete").desc(), F.col("margin_px").desc(), F.col("field_id").asc_nulls_last())
        best = (cands.withColumn("n_fields", F.count("field_id").over(per_row).cast("int"))
                .withColumn("_rank", F.row_number().over(order)).where(F.col("_rank") == 1).drop("_rank")).persist()
        stage = F.when(F.col("field_id").isNull(), F.lit("locate")).otherwise(F.lit("bands"))
        lost = best.where(~F.col("complete")).select("source_file", "row_index", "object_id", stage.alias("_stage"), "lacking")
        # spark_rejects takes one stage name; the two kinds of reject are written together, one file.
        rejects = lost.select(F.col("source_file"), F.col("row_index").cast("long"), F.col("object_id").alias("spec_id"),
                              F.col("_stage").alias("stage"), F.col("lacking").alias("reason"))
        write_spark_rejects(rejects, staging)
        todo = best.where(F.col("complete"))
        if items.done_fields:
            todo = todo.where(~F.col("field_id").isin(items.done_fields))
        stats = todo.groupBy("field_id").applyInPandas(_cut_group_fn(staging, cfg, settings, items), STATS_DDL).collect()
        best.unpersist()
    return int(read), [r.asDict() for r in stats] + [items.done[i] for i in sorted(items.done)]

"""`skysift build-multimodal` driver: label rows x cutouts x spectra joined on Spark -> the `multimodal` table.

The label table is the hub: its ``id_column`` meets the cutouts' object_id and its ``spec_id_column`` the
spectra's spec_id (left joins, so every label row is accounted for). A row is rejected, with the first reason
that applies, for FLAG != 0 ("FLAG=k"), a non-finite label, no cutout, or no spectrum (tasks.reject_reason).
Kept rows get the spectral quality levels (tasks.add_quality_levels) and are written partitioned by
healpix_part. Cutouts and spectra without a label row are not read rows (they are counted in the summary).

Embeddings (image_vectors of embed-images, embeddings of embed-spectra), when given, join by object_id /
spec_id as image_embedding / spectrum_embedding (null where absent). The kept rows are also written as one
HATS catalog in hats/ (``io.catalog_writers.write_catalog``), which lsdb opens and cone-searches.

Summary: read = label rows; written + rejected = read; rejected_by_reason counts each reason.
"""
from __future__ import annotations

import functools
import os

from skysift.config import to_dict
from skysift.io.tables import write_table_json
from skysift.runtime.errors import SkysiftError
from skysift.runtime.filesystem import exists, for_spark, join
from skysift.runtime.output import count_rows, staged
from skysift.runtime.rejects import read_rejects, spark_rejects, write_spark_rejects
from skysift.schema.multimodal import MULTIMODAL
from skysift.stages.build_multimodal.config import BuildMultimodalConfig
from skysift.stages.build_multimodal.tasks import TABLE_DIR, column, label_column, quality_batches

CONFIG = BuildMultimodalConfig
HATS_DIR = "hats"
_CUTOUT_COLUMNS = ["object_id", "ra_deg", "dec_deg", "healpix29", "bands", "size_px", "pixels", "levels_px",
                   "level_pixels", "flags"]
_SPECTRA_COLUMNS = ["spec_id", "z", "grid_id", "flux", "ivar", "norm_factor", "snr_median"]


def _path(uri: str, under: str) -> str:
    """``uri/under`` when that folder exists (a job's output folder), else ``uri`` itself (a table)."""
    sub = join(uri, under)
    path = sub if exists(sub) else uri
    return for_spark(path if "://" in path else os.path.abspath(path))


def _with_embeddings(spark, joined, cfg: BuildMultimodalConfig):
    """``joined`` + image_embedding (by object_id = image_id) and spectrum_embedding (by spec_id), when given."""
    from pyspark.sql import functions as F

    if cfg.image_embeddings:
        emb = (spark.read.parquet(_path(cfg.image_embeddings, "image_vectors")).select(
            F.col("image_id").cast("string").alias("object_id"), F.col("embedding").alias("image_embedding"))
            .dropDuplicates(["object_id"]))
        joined = joined.join(emb, "object_id", "left")
    if cfg.spectrum_embeddings:
        emb = (spark.read.parquet(_path(cfg.spectrum_embeddings, "embeddings")).select(
            F.col("spec_id").cast("string"), F.col("embedding").alias("spectrum_embedding")).dropDuplicates(["spec_id"]))
        joined = joined.join(emb, "spec_id", "left")
    return joined


def run(spark, cfg: BuildMultimodalConfig) -> dict:
    """Join ``cfg.labels`` with ``cfg.cutouts`` and ``cfg.spectra`` into ``cfg.output`` (Spark only)."""
    from pyspark.sql import functions as F

    raw = spark.read.parquet(_path(cfg.labels, "labels"))
    lab = label_column(raw.columns, cfg.label_column, cfg.labels)
    idc = column(raw.columns, cfg.id_column, "id", cfg.labels)
    sidc = column(raw.columns, cfg.spec_id_column, "spec_id", cfg.labels)
    flag = column(raw.columns, cfg.flag_column, "flag", cfg.labels)
    cls = F.col(column(raw.columns, cfg.class_column, "class", cfg.labels)).cast("string") if cfg.class_column else F.lit(None).cast("string")
    labels = raw.select(F.trim(F.col(idc).cast("string")).alias("object_id"), F.col(sidc).cast("string").alias("spec_id"),
                        cls.alias("class"), F.col(lab).cast("double").alias("log_sfr"), F.col(flag).cast("int").alias("label_flag"),
                        F.regexp_replace(F.input_file_name(), r"^file:(//)?", "").alias("_source"))
    cut = (spark.read.parquet(_path(cfg.cutouts, "cutouts")).select(*_CUTOUT_COLUMNS)
           .withColumnRenamed("flags", "cutout_flags").dropDuplicates(["object_id"]).withColumn("_has_cut", F.lit(True)))
    spec = (spark.read.parquet(_path(cfg.spectra, "spectra")).select(*_SPECTRA_COLUMNS)
            .dropDuplicates(["spec_id"]).withColumn("_has_spec", F.lit(True)))
    joined = labels.join(cut, "object_id", "left").join(spec, "spec_id", "left")
    joined = _with_embeddings(spark, joined, cfg)
    finite = F.col("log_sfr").isNotNull() & ~F.isnan("log_sfr") & (F.abs(F.col("log_sfr")) < float("inf"))
    reason = (F.when(F.col("label_flag").isNull() | (F.col("label_flag") != 0),
                     F.concat(F.lit("FLAG="), F.coalesce(F.col("label_flag").cast("string"), F.lit("None"))))
              .when(~finite, F.lit("non-finite label"))
              .when(F.col("_has_cut").isNull(), F.lit("no cutout"))
              .when(F.col("_has_spec").isNull(), F.lit("no spectrum")))
    joined = joined.withColumn("_reason", reason).persist()
    with staged(cfg.output) as stage:
        bad = joined.where(F.col("_reason").isNotNull())
        write_spark_rejects(spark_rejects(bad, stage="join", reason="_reason", source_file="_source", spec_id="object_id"), stage.uri)
        shift = 2 * (29 - cfg.partition_order)
        good = (joined.where(F.col("_reason").isNull())
                .withColumn("healpix_part", F.shiftright(F.col("healpix29"), shift).cast("int")))
        base = [c for c in MULTIMODAL.names if not c.startswith("flux_q") and c != "quality_binning"]
        base = [F.col(c) if c in good.columns else F.lit(None).cast("array<float>").alias(c) for c in base]
        from skysift.schema import spark_schema

        out = good.select(*base).mapInPandas(functools.partial(quality_batches, tuple(cfg.quality_binning), MULTIMODAL.names),
                                             spark_schema(MULTIMODAL))
        out.write.mode("overwrite").partitionBy("healpix_part").parquet(for_spark(join(stage.uri, TABLE_DIR)))
        written = count_rows(stage.uri, under=TABLE_DIR)
        hats = None
        if cfg.hats and written:
            from skysift.io.catalog_writers import write_catalog

            if "://" in stage.uri:
                raise SkysiftError(f"output {cfg.output}: the HATS copy is written locally; give a local output or --set hats=false")
            rows = spark.read.parquet(for_spark(join(stage.uri, TABLE_DIR))).drop("healpix_part")
            hats = write_catalog(rows, join(stage.uri, HATS_DIR), "hats", ra_column="ra_deg", dec_column="dec_deg",
                                 name="multimodal", pixel_threshold=cfg.hats_pixel_threshold)
            if hats["rows"] != written:
                raise RuntimeError(f"HATS copy holds {hats['rows']} rows, the multimodal table {written}")
        rejects = read_rejects(stage.uri)
        by_reason = {}
        for r in rejects.column("reason").to_pylist():
            by_reason[r] = by_reason.get(r, 0) + 1
        read = written + rejects.num_rows
        n_labels = raw.count()
        if n_labels != read:
            raise RuntimeError(f"label accounting failed: {n_labels} label rows, {written} written, {rejects.num_rows} rejected")
        write_table_json(stage.uri, {"table": "multimodal", "partition_column": "healpix_part",
                                     "partition_order": cfg.partition_order, "producer": "skysift build-multimodal",
                                     "quality_binning": list(cfg.quality_binning), "config": to_dict(cfg),
                                     "hats": None if hats is None else {"path": HATS_DIR, "pixels": hats.get("pixels")}})
    joined.unpersist()
    return {"read": read, "written": written, "rejected": rejects.num_rows, "output": stage.output,
            "hats": None if hats is None else os.path.join(stage.output, HATS_DIR),
            "rejected_by_reason": by_reason, "note": "read = label rows; cutouts / spectra without a label row are not read rows"}

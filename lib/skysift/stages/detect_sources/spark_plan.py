"""The Spark plan of `skysift detect-sources` (the driver imports this only when a session is given).

1. tiles -> ``tasks.detect_batches`` in batches of ``detector.batch_tiles`` tiles, written once to ``_work/raw``:
   with reader=pyarrow (default) ``runtime.tasks`` tasks over the tile row groups, read by pyarrow in the Python
   workers (``tasks.detect_row_groups``); with reader=spark Spark reads the Parquet and ``mapInArrow`` gets the
   batches (spark.sql.execution.arrow.maxRecordsPerBatch for this job only);
2. whole detections -> ``groupBy(field_id).applyInPandas(sources.merge_field)`` (NMS + 2 px per frame);
3. the 0.5 arcsec groups across frames (``xmatch.self_match.fof_best_spark``: the engine's self-match);
4. the 2 arcsec nearest match to the catalog (``xmatch.engine.matched_frame``, how=left), or healpix29 and null
   match columns without a catalog; the rows go to ``_work/sources`` (one pass), which the writers then split.
"""
from __future__ import annotations

import functools

from skysift.stages.detect_sources import tasks as T


def raw_pass(spark, raw_uri: str, root: str, shapes: dict, models: T.Models, cfg, markers: str | None = None) -> list:
    """Detect on every tile on the executors; RAW_DETECTIONS Parquet at ``raw_uri``. reader=pyarrow: the
    tasks' stats rows (``markers``: resume, ``runtime.tasks.run_tasks``); reader=spark: []."""
    from skysift.runtime.filesystem import for_spark, join
    from skysift.runtime.spark import sql_conf
    from skysift.schema import RAW_DETECTIONS, spark_schema

    if cfg.reader == "pyarrow":
        from skysift.runtime.tasks import run_tasks

        items, n_tasks = T.tile_tasks(root, cfg, spark.sparkContext.defaultParallelism)
        return run_tasks(functools.partial(T.detect_row_groups, raw_uri, shapes, models, cfg), items, n_tasks, spark,
                         markers=markers)
    with sql_conf(spark, {"spark.sql.execution.arrow.maxRecordsPerBatch": cfg.detector.batch_tiles}):
        tiles = spark.read.parquet(for_spark(join(root, T.TILES_DIR))).select(*T.TILE_COLUMNS)
        fn = functools.partial(T.detect_batches, shapes, models, cfg)
        tiles.mapInArrow(fn, spark_schema(RAW_DETECTIONS)).write.mode("overwrite").parquet(for_spark(raw_uri))
    return []


def merged_sources(spark, raw_uri: str, cfg):
    """(merged detections DataFrame, its row count): steps 2 and 3 (the per-frame merge, the cross-frame rule)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from skysift.detection.sources import MERGED_COLUMNS, merge_field
    from skysift.schema import SOURCES, spark_schema
    import pyarrow as pa

    from skysift.xmatch.frames import LEFT_ID
    from skysift.xmatch.self_match import fof_best_spark

    merge_cfg = cfg.merge
    schema = spark_schema(pa.schema([SOURCES.field(c) for c in MERGED_COLUMNS]))
    dets = spark.read.parquet(raw_uri).where((F.col("row_kind") == "det") & ~F.col("partial"))
    merged = dets.groupBy("field_id").applyInPandas(lambda pdf: merge_field(pdf, merge_cfg), schema)
    rows = merged.withColumn(LEFT_ID, F.monotonically_increasing_id()).persist(StorageLevel.MEMORY_AND_DISK)
    n_merged_rows = rows.count()
    groups = fof_best_spark(spark, rows, cfg.dedupe_radius_arcsec, T.DEDUPE_ORDER,
                            target_rows=cfg.target_rows_per_group, sample_rows=cfg.sample_rows,
                            max_links=cfg.max_links, what="detections")
    return groups.best, rows, n_merged_rows, groups.links


def with_class(df):
    """``class``: the most probable of p_galaxy, p_star, p_qso (ties in that order, as sources.with_class)."""
    from pyspark.sql import functions as F

    g, s, q = F.col("p_galaxy"), F.col("p_star"), F.col("p_qso")
    return df.withColumn("class", F.when((g >= s) & (g >= q), "galaxy").when(s >= q, "star").otherwise("qso"))


def match_catalog(spark, sources, cfg):
    """Sources with their nearest catalog row (renamed as tasks.rename_matched does)."""
    from pyspark.sql import functions as F

    from skysift.xmatch.catalogs import read_catalog, require_columns, valid_condition
    from skysift.xmatch.engine import matched_frame
    from skysift.xmatch.plan import prepare

    cat = read_catalog(spark, cfg.catalog, "photometric")
    cols = T.catalog_read_columns(cfg)
    require_columns(cat, cols, f"catalog {cfg.catalog}")
    cat = cat.select(*cols).where(valid_condition(cfg.catalog_ra_column, cfg.catalog_dec_column))
    spec = T.catalog_spec(sources.columns, cat.columns, cfg)
    prepared = prepare(spark, sources, cat, spec, cfg.target_rows_per_group, cfg.sample_rows)
    out = matched_frame(spark, sources, cat, prepared)
    ren = {f"{c}{T.CAT_SUFFIX}": c for c in cfg.catalog_columns}
    ren.update({f"{cfg.catalog_id_column}{T.CAT_SUFFIX}": "objid", f"{cfg.catalog_ra_column}{T.CAT_SUFFIX}": T.CAT_RA,
                f"{cfg.catalog_dec_column}{T.CAT_SUFFIX}": T.CAT_DEC})
    return out.select(*[F.col(c).alias(ren.get(c, c)) for c in out.columns]).withColumn("objid", F.col("objid").cast("long"))


def no_catalog(sources):
    """Sources with healpix29 and null objid / separation_arcsec."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as Ty

    def add(batches):
        for pdf in batches:
            yield T.no_catalog_columns(pdf)[list(pdf.columns) + ["healpix29", "objid", "separation_arcsec"]]

    schema = Ty.StructType(sources.schema.fields + [Ty.StructField("healpix29", Ty.LongType()),
                                                    Ty.StructField("objid", Ty.LongType()),
                                                    Ty.StructField("separation_arcsec", Ty.DoubleType())])
    return sources.mapInPandas(add, schema).withColumn("objid", F.col("objid").cast("long"))


def field_report(spark, sources_uri: str, cfg, with_catalog: bool) -> list[dict]:
    """The per-field WCS check: offsets per field on the executors (sources.wcs_offsets), one row per field back."""
    from skysift.detection.sources import wcs_offsets

    df = spark.read.parquet(sources_uri)
    if not with_catalog:
        return [{"field_id": r["field_id"], "sources": int(r["count"])}
                for r in df.groupBy("field_id").count().orderBy("field_id").collect()]

    def offsets(pdf):
        return wcs_offsets(pdf["field_id"].to_numpy(), pdf["ra_deg"].to_numpy(float), pdf["dec_deg"].to_numpy(float),
                           pdf[T.CAT_RA].to_numpy(float), pdf[T.CAT_DEC].to_numpy(float))

    schema = ("field_id string, sources long, matched long, median_east_arcsec double, median_north_arcsec double, "
              "median_offset_arcsec double")
    per_field = (df.select("field_id", "ra_deg", "dec_deg", T.CAT_RA, T.CAT_DEC).groupBy("field_id")
                 .applyInPandas(offsets, schema).toPandas().sort_values("field_id"))
    return T.flagged_rows(per_field, cfg.wcs_check)

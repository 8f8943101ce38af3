"""Steps 2-6 of `skysift detect-sources` after the tile pass, on Spark or in this process, and the writers:
catalog/ (Parquet), hats/ (HATS), _unmatched/ (Parquet), the per-field report."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from skysift.runtime.filesystem import join
from skysift.stages.detect_sources import tasks as T

SOURCES_WORK = "_work/sources"


def tile_rows(raw_uri: str) -> pd.DataFrame:
    """The 'tile' rows of the raw pass (one per tile read: small)."""
    import pyarrow.dataset as pads

    return pads.dataset(raw_uri, format="parquet").to_table(
        columns=["tile_id", "field_id", "n_detections", "reason", "seconds", "device"],
        filter=pads.field("row_kind") == "tile").to_pandas()


def detections(raw_uri: str) -> pd.DataFrame:
    """Every detection row of the raw pass (the twin)."""
    import pyarrow.dataset as pads

    return pads.dataset(raw_uri, format="parquet").to_table(filter=pads.field("row_kind") == "det").to_pandas()


def detection_counts(raw_uri: str) -> tuple[int, int]:
    """(detections, partial ones) of the raw pass, from two small columns (no Spark job)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    t = pads.dataset(raw_uri, format="parquet").to_table(columns=["partial"], filter=pads.field("row_kind") == "det")
    return int(t.num_rows), int(pc.sum(t.column("partial")).as_py() or 0)


def _catalog_rows(cfg) -> int:
    """Rows of the photometric catalog from its Parquet footers (0 without a catalog)."""
    if not cfg.catalog:
        return 0
    return int(T.catalog_dataset(cfg.catalog).count_rows())


def _whole_detections(raw_uri: str) -> int:
    n, partial = detection_counts(raw_uri)
    return n - partial


def output_name(cfg) -> str:
    """The HATS catalog name: the output folder's name."""
    return Path(cfg.output.rstrip("/")).name or "sources"


def write_outputs(spark, staging: str, cfg, cat_schema: pa.Schema | None, seconds: dict) -> tuple[dict, list, dict]:
    """(counts, per-field report, layout) after merging, de-duplicating, matching and writing the catalogs."""
    raw = join(staging, T.RAW_DIR)
    with_catalog = cat_schema is not None
    cols = T.output_columns(cfg, with_catalog)
    t0 = T.timer()
    whole = _whole_detections(raw)
    if spark is not None and (whole == 0 or (whole <= cfg.driver_steps_max_rows
                                             and _catalog_rows(cfg) <= cfg.driver_catalog_max_rows)):
        # few rows (or none, which the engine's planners cannot plan): the twin's steps in the driver
        spark = None
    on = "spark" if spark is not None else "driver"
    if spark is None:
        counts, main, unmatched, fields = _twin(raw, cfg, with_catalog)
        seconds["merge_match"] = T.timer() - t0
        layout = _write_tables(staging, cfg, T.to_arrow(main[cols], cols, cat_schema),
                               T.to_arrow(unmatched[cols], cols, cat_schema) if with_catalog else None)
    else:
        counts, main, unmatched, fields = _spark(spark, staging, raw, cfg, with_catalog)
        seconds["merge_match"] = T.timer() - t0
        layout = _write_spark(spark, staging, cfg, main.select(*cols), unmatched.select(*cols) if with_catalog else None)
    seconds["write"] = T.timer() - t0 - seconds["merge_match"]
    counts["catalog_rows"] = int(layout["catalog"]["rows"])
    counts["unmatched_rows"] = int(layout["unmatched"]["rows"]) if with_catalog else 0
    counts["matched"] = counts["catalog_rows"] if with_catalog else 0
    counts["merge_match_on"] = on
    return counts, fields, layout


def _twin(raw: str, cfg, with_catalog: bool):
    from skysift.detection.sources import with_class

    dets = detections(raw)
    whole = dets[~dets["partial"].astype(bool)]
    merged = T.merge_local(whole, cfg.merge)
    best = with_class(T.dedupe_local(merged, cfg.dedupe_radius_arcsec))
    counts = {"detections": int(len(dets)), "partial": int(len(dets) - len(whole)),
              "merged_in_frame": int(len(whole) - len(merged)), "merged_across_frames": int(len(merged) - len(best)),
              "cross_frame_links": None}
    if with_catalog:
        out = T.rename_matched(T.match_local(best, T.read_catalog_local(cfg), cfg), cfg)
        hit = out["separation_arcsec"].notna()
        fields = T.field_report(out, cfg.wcs_check, True)
        return counts, out[hit], out[~hit], fields
    out = T.no_catalog_columns(best)
    return counts, out, out.iloc[:0], T.field_report(out, cfg.wcs_check, False)


def _spark(spark, staging: str, raw: str, cfg, with_catalog: bool):
    from pyspark.sql import functions as F

    from skysift.runtime.filesystem import for_spark
    from skysift.stages.detect_sources import spark_plan as SP

    n_dets, n_partial = detection_counts(raw)
    best, rows, n_merged_rows, links = SP.merged_sources(spark, for_spark(raw), cfg)
    sources = SP.with_class(best)
    final = SP.match_catalog(spark, sources, cfg) if with_catalog else SP.no_catalog(sources)
    work = for_spark(join(staging, SOURCES_WORK))
    final.write.mode("overwrite").parquet(work)
    rows.unpersist()
    from skysift.runtime.output import count_rows

    n_sources = count_rows(join(staging, SOURCES_WORK))
    counts = {"detections": int(n_dets), "partial": int(n_partial), "merged_in_frame": int(n_dets - n_partial - n_merged_rows),
              "merged_across_frames": int(n_merged_rows - n_sources), "cross_frame_links": int(links)}
    df = spark.read.parquet(work)
    fields = SP.field_report(spark, work, cfg, with_catalog)
    if with_catalog:
        return counts, df.where(F.col("separation_arcsec").isNotNull()), df.where(F.col("separation_arcsec").isNull()), fields
    return counts, df, None, fields


def _write_tables(staging: str, cfg, main: pa.Table, unmatched: pa.Table | None) -> dict[str, Any]:
    from skysift.io.catalog_writers import write_catalog

    layout = {"catalog": write_catalog(main, join(staging, T.CATALOG_DIR), "parquet")}
    if cfg.hats:
        layout["hats"] = (write_catalog(main, join(staging, T.HATS_DIR), "hats", name=output_name(cfg),
                                        pixel_threshold=cfg.hats_pixel_threshold)
                          if main.num_rows else {"format": "hats", "rows": 0, "skipped": "no rows"})
    if unmatched is not None:
        layout["unmatched"] = write_catalog(unmatched, join(staging, T.UNMATCHED_DIR), "parquet")
    return layout


def _write_spark(spark, staging: str, cfg, main, unmatched) -> dict[str, Any]:
    from skysift.io.catalog_writers import write_catalog
    from skysift.runtime.filesystem import for_spark

    cat_dir = join(staging, T.CATALOG_DIR)
    layout = {"catalog": write_catalog(main, cat_dir, "parquet")}
    if cfg.hats:
        layout["hats"] = (write_catalog(spark.read.parquet(for_spark(cat_dir)), join(staging, T.HATS_DIR), "hats",
                                        name=output_name(cfg), pixel_threshold=cfg.hats_pixel_threshold)
                          if layout["catalog"]["rows"] else {"format": "hats", "rows": 0, "skipped": "no rows"})
    if unmatched is not None:
        layout["unmatched"] = write_catalog(unmatched, join(staging, T.UNMATCHED_DIR), "parquet")
    return layout

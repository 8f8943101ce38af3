"""`skysift dedupe` driver: merge repeated detections of one source (friends-of-friends within a radius).

Sources from overlapping tiles or repeated observations are linked when closer
than ``radius_arcsec`` (0.5 arcsec: the image catalog's de-duplication), links
are chained (friends of friends) into groups, and each group becomes one row:
the member with the highest ``score_column`` (ties: the first row read), plus
``n_merged`` (group size, 1 for a lone source).

The links come from the cross-match machinery run on the table against itself
(``xmatch.engine.matched_frame``, pairs with left id < right id). Only the links go
to the driver, where ``scipy.sparse.csgraph.connected_components`` labels the
groups; duplicates are a small fraction of a catalog, and ``max_links`` guards
the driver's memory.

No resume (RELIABILITY.md): a rerun after a kill starts afresh. Friends-of-friends is global (one link can
merge two groups found anywhere), so no output row is final before every link is known; the only per-item
work is the self-match, whose links go through Spark's shuffle and writer (file names with a uuid, no
completion per group), and whose row ids come from ``monotonically_increasing_id``. Keeping links would need
stable ids and per-group link files; the self-match is a fraction of the job (the joins and the write of
every row follow it), so that is not done. Spark's own retries cover a failed task (no test-only switch).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skysift.config import to_dict
from skysift.runtime.output import count_rows
from skysift.io.tables import write_table_json
from skysift.runtime.errors import SkysiftError
from skysift.runtime.output import staged
from skysift.runtime.rejects import read_rejects, write_spark_rejects
from skysift.runtime.spark import catalog_sql_conf
from skysift.sky.healpix import neighbour_order
from skysift.stages.dedupe.config import DedupeConfig
from skysift.stages.dedupe.tasks import GROUP_ID, N_MERGED, fof_labels
from skysift.xmatch.catalogs import CatalogColumnError, read_catalog, rejects_frame, require_columns, valid_condition
from skysift.xmatch.engine import matched_frame
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID, MatchSpec
from skysift.xmatch.plan import prepare

CONFIG = DedupeConfig


def run(spark, cfg: DedupeConfig) -> dict[str, Any]:
    """De-duplicate ``cfg.input`` into ``cfg.output``; returns the job summary."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skysift.io.catalog_writers import write_catalog

    raw = read_catalog(spark, cfg.input, "input")
    require_columns(raw, [cfg.ra_column, cfg.dec_column] + [c for c in (cfg.score_column, cfg.id_column) if c],
                    f"input catalog {cfg.input}")
    for reserved in (LEFT_ID, RIGHT_ID, GROUP_ID, N_MERGED):
        if reserved in raw.columns:
            raise CatalogColumnError(f"column {reserved!r} is reserved by dedupe; columns found: {', '.join(raw.columns)}")
    valid = raw.where(valid_condition(cfg.ra_column, cfg.dec_column))
    # Ids must be the same in the self-match and in the final selection: persist once.
    rows = valid.withColumn(LEFT_ID, F.monotonically_increasing_id()).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with staged(cfg.output) as stage, catalog_sql_conf(spark, cfg.arrow_batch_rows):
            staging = stage.uri
            write_spark_rejects(rejects_frame(raw, "input", cfg.ra_column, cfg.dec_column, cfg.id_column), staging)
            ra, dec = cfg.ra_column, cfg.dec_column
            left = rows.select(LEFT_ID, ra, dec)
            right = rows.select(F.col(LEFT_ID).alias(RIGHT_ID), ra, dec)
            spec = MatchSpec(order=neighbour_order(cfg.radius_arcsec), radius_arcsec=cfg.radius_arcsec, mode="all",
                             left_ra=ra, left_dec=dec, right_ra=ra, right_dec=dec, left_columns=(ra,),
                             right_columns=(ra,), keep_ids=True, pairs_only_upper=True)
            prepared = prepare(spark, left, right, spec, cfg.target_rows_per_group, cfg.sample_rows)
            links = matched_frame(spark, left, right, prepared).select(LEFT_ID, RIGHT_ID)
            # Written once and counted from the footers: the self-match runs once, and the
            # driver reads the links only when there are few enough.
            links_dir = f"{staging}/_links"
            links.write.mode("overwrite").parquet(links_dir)
            n_links = count_rows(links_dir)
            if n_links > cfg.max_links:
                raise SkysiftError(f"{cfg.input}: {n_links} pairs closer than {cfg.radius_arcsec} arcsec exceed "
                                   f"max_links={cfg.max_links}; lower radius_arcsec or raise max_links")
            pairs = pd.read_parquet(links_dir, columns=[LEFT_ID, RIGHT_ID]) if n_links else pd.DataFrame(
                {LEFT_ID: np.empty(0, np.int64), RIGHT_ID: np.empty(0, np.int64)})
            shutil.rmtree(links_dir, ignore_errors=True)
            labels = fof_labels(pairs[LEFT_ID].to_numpy(np.int64), pairs[RIGHT_ID].to_numpy(np.int64))
            # explicit schema: with no duplicates the labels frame is empty and cannot be inferred
            labels_df = F.broadcast(spark.createDataFrame(labels, f"{LEFT_ID} long, {GROUP_ID} long"))
            singles = rows.join(labels_df, LEFT_ID, "left_anti").withColumn(N_MERGED, F.lit(1))
            members = rows.join(labels_df, LEFT_ID, "inner")
            w = Window.partitionBy(GROUP_ID)
            rank_by = ([F.col(cfg.score_column).desc_nulls_last()] if cfg.score_column else []) + [F.col(LEFT_ID).asc()]
            best = (members.withColumn("_rank", F.row_number().over(w.orderBy(*rank_by)))
                    .withColumn(N_MERGED, F.count("*").over(w))
                    .where(F.col("_rank") == 1).drop("_rank", GROUP_ID))
            out_cols = list(raw.columns) + [N_MERGED]
            result = singles.select(*out_cols[:-1], F.col(N_MERGED).cast("int")).unionByName(
                best.select(*out_cols[:-1], F.col(N_MERGED).cast("int")))
            layout = write_catalog(result, staging, cfg.format, ra_column=ra, dec_column=dec,
                                   name=Path(cfg.output).name, pixel_threshold=cfg.hats_pixel_threshold)
            rejected = read_rejects(staging).num_rows
            written = int(layout["rows"])
            valid_rows = prepared.left_rows
            summary = {
                "read": valid_rows + rejected,
                "written": written,
                "rejected": rejected,
                "other_outcomes": {"merged_away": valid_rows - written},
                "merged_away": valid_rows - written,
                "links": int(n_links),
                "groups_with_duplicates": int(labels[GROUP_ID].nunique()) if len(labels) else 0,
                "output": stage.output,
                "note": "read = written + rejected + merged_away",
            }
            write_table_json(staging, {"job": "dedupe", "config": to_dict(cfg), "layout": layout, "summary": summary})
    finally:
        rows.unpersist()
    return summary

"""`skysift dedupe` driver: merge repeated detections of one source (friends-of-friends within a radius).

Sources from overlapping tiles or repeated observations are linked when closer
than ``radius_arcsec`` (0.5 arcsec: the image catalog's de-duplication), links
are chained (friends of friends) into groups, and each group becomes one row:
the member with the highest ``score_column`` (ties: the first row read), plus
``n_merged`` (group size, 1 for a lone source).

The grouping is ``xmatch.self_match.fof_best_spark`` (shared with detect-sources):
the cross-match engine run on the table against itself gives the links (pairs with
left id < right id); only the links go to the driver, where
``scipy.sparse.csgraph.connected_components`` labels the groups; duplicates are a
small fraction of a catalog, and ``max_links`` guards the driver's memory.

No resume (RELIABILITY.md): a rerun after a kill starts afresh. Friends-of-friends is global (one link can
merge two groups found anywhere), so no output row is final before every link is known; the only per-item
work is the self-match, whose links go through Spark's shuffle and writer (file names with a uuid, no
completion per group), and whose row ids come from ``monotonically_increasing_id``. Keeping links would need
stable ids and per-group link files; the self-match is a fraction of the job (the joins and the write of
every row follow it), so that is not done. Spark's own retries cover a failed task (tests/reliability/
test_task_faults.py fails first attempts in every Python stage: ``runtime.tasks.inject_partition_fault``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from skysift.config import to_dict
from skysift.io.tables import write_table_json
from skysift.runtime.output import staged
from skysift.runtime.rejects import read_rejects, write_spark_rejects
from skysift.runtime.spark import catalog_sql_conf
from skysift.stages.dedupe.config import DedupeConfig
from skysift.stages.dedupe.tasks import N_MERGED, dedupe_order
from skysift.xmatch.catalogs import CatalogColumnError, read_catalog, rejects_frame, require_columns, valid_condition
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID
from skysift.xmatch.self_match import GROUP_COLUMN, fof_best_spark

CONFIG = DedupeConfig


def run(spark, cfg: DedupeConfig) -> dict[str, Any]:
    """De-duplicate ``cfg.input`` into ``cfg.output``; returns the job summary."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from skysift.io.catalog_writers import write_catalog

    raw = read_catalog(spark, cfg.input, "input")
    require_columns(raw, [cfg.ra_column, cfg.dec_column] + [c for c in (cfg.score_column, cfg.id_column) if c],
                    f"input catalog {cfg.input}")
    for reserved in (LEFT_ID, RIGHT_ID, GROUP_COLUMN, N_MERGED):
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
            groups = fof_best_spark(spark, rows, cfg.radius_arcsec, dedupe_order(cfg.score_column), ra=ra, dec=dec,
                                    target_rows=cfg.target_rows_per_group, sample_rows=cfg.sample_rows,
                                    max_links=cfg.max_links, what=cfg.input, links_dir=f"{staging}/_links")
            result = groups.best.select(*raw.columns, N_MERGED)
            layout = write_catalog(result, staging, cfg.format, ra_column=ra, dec_column=dec,
                                   name=Path(cfg.output).name, pixel_threshold=cfg.hats_pixel_threshold)
            rejected = read_rejects(staging).num_rows
            written = int(layout["rows"])
            valid_rows = groups.valid_rows
            summary = {
                "read": valid_rows + rejected,
                "written": written,
                "rejected": rejected,
                "other_outcomes": {"merged_away": valid_rows - written},
                "merged_away": valid_rows - written,
                "links": groups.links,
                "groups_with_duplicates": groups.groups_with_duplicates,
                "output": stage.output,
                "note": "read = written + rejected + merged_away",
            }
            write_table_json(staging, {"job": "dedupe", "config": to_dict(cfg), "layout": layout, "summary": summary})
    finally:
        rows.unpersist()
    return summary

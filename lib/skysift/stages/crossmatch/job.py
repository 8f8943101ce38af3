"""`skysift crossmatch` driver: sky cross-match of two Parquet catalogs on Spark (engine: ``skysift.xmatch``).

Two Spark jobs (measured on the 1M x 1M benchmark, every extra pass cost a second or more):

1. *Scan* (``xmatch.plan.scan_catalogs``): one pass over the coordinate columns of both sides returns, per
   Arrow batch, the valid and invalid row counts, the largest per-row radius and a quantile summary of the
   order-29 cells. The driver chooses the HEALPix order from the radius (``sky.healpix.neighbour_order``) and
   plans buckets from the summaries (``xmatch.buckets``). Only when the scan saw invalid rows does a third,
   pure-JVM job write them to ``OUTPUT/_rejects``.
2. *Match* (``xmatch.engine``): every left row is tagged with its one group and every right row with each
   group its cone can reach; one task per group runs the compiled nearest / pair kernel
   (``sky._nearest_kernel``, ``sky.pairs``) and, for Parquet output, writes its own file through the Arrow
   file exchange (no Spark shuffle); HATS output goes through Spark's shuffle, as it repartitions by pixel.

Measured on 2 cores (BENCHMARKS.md): 1M x 1M 3.76 s (lsdb 12.8 s), 10M x 10M 28.5 s (1.32x astropy's
match_to_catalog_sky, 2.65x lsdb).

Join types (``xmatch.frames.HOWS``): inner, left, anti (left rows with no right row within the radius) and
outer (left plus the right rows no left row reaches, with null left columns; a third Spark stage finds them,
``xmatch.engine.write_matches``). ``columns=index`` writes the association table only: left id, right id,
separation.

Summary (the CLI checks ``read == written + rejected + sum(other_outcomes)``): ``read`` / ``written`` /
``rejected`` count *left* rows (written: left rows present in the output); ``other_outcomes.unmatched_left``
for ``how=inner``, ``other_outcomes.matched_left`` for ``how=anti`` (matched rows leave by design); the
right side and the pairs have their own keys (``right_read``, ``right_rejected``, ``pairs``, and for
``how=outer`` ``right_unmatched``: right rows written alone, ``right_matched`` = the other valid ones).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skysift.config import to_dict
from skysift.io.tables import write_table_json
from skysift.runtime.filesystem import remove_tree
from skysift.runtime.output import staged
from skysift.runtime.rejects import read_rejects, write_spark_rejects
from skysift.runtime.spark import catalog_sql_conf
from skysift.sky.healpix import neighbour_order
from skysift.stages.crossmatch.config import CrossmatchConfig
from skysift.xmatch.catalogs import read_catalog, rejects_frame, require_columns, valid_condition
from skysift.xmatch.engine import match_spec, matched_frame, write_matches
from skysift.xmatch.plan import plan_from_scan, scan_catalogs

CONFIG = CrossmatchConfig


def write_rejects_if_any(staging: str, parts: list) -> None:
    """``_rejects`` from Spark when the scan saw invalid rows (no extra pass otherwise).

    ``parts``: (invalid rows counted by the scan, a function building that side's rejects frame).
    """
    frames = [make() for n_invalid, make in parts if n_invalid]
    if not frames:
        return
    rejects = frames[0]
    for frame in frames[1:]:
        rejects = rejects.unionByName(frame)
    write_spark_rejects(rejects, staging)


def _resume_key(cfg: CrossmatchConfig, parallelism: int) -> dict:
    """What the match groups' files depend on: the config, both inputs' files, and Spark's parallelism (the
    input splits, hence the row ids that salt dense buckets and break ties, and the plan's group count)."""
    from skysift.runtime.resume import files_fingerprint, resume_key
    from skysift.runtime.row_groups import table_file_uris

    return resume_key(cfg, left=files_fingerprint(table_file_uris(cfg.left)),
                      right=files_fingerprint(table_file_uris(cfg.right)), parallelism=parallelism)


def _kept_groups(stage, prepared) -> dict[int, dict]:
    """The complete groups a killed run left, when its plan (kept as a digest) is this run's; otherwise
    their files are deleted and every group runs. The plan comes from the scan of the same inputs on the
    same splits, so it is the same unless Spark planned the scan differently."""
    import hashlib
    import json

    from skysift.runtime.filesystem import join, list_files, read_bytes, write_bytes
    from skysift.runtime.resume import completed_items

    plan = prepared.plan
    digest = hashlib.sha256(json.dumps([plan.order, *(np.asarray(a).tolist() for a in (
        plan.starts, plan.salt_probe, plan.salt_build, plan.offsets))]).encode()).hexdigest()
    path = join(stage.uri, "_resume", "match-plan.sha256")
    markers = stage.markers("groups")
    kept = None
    if stage.resumed:
        try:
            kept = read_bytes(path).decode()
        except FileNotFoundError:
            kept = None
    if kept != digest:
        remove_tree(markers)
        for part in list_files(stage.uri, ".parquet"):
            if part.rsplit("/", 1)[-1].startswith("part-"):
                remove_tree(part)
        write_bytes(path, digest.encode())
        return {}
    return completed_items(markers, plan.n_groups)


def run(spark, cfg: CrossmatchConfig) -> dict[str, Any]:
    """Cross-match ``cfg.left`` with ``cfg.right`` into ``cfg.output``; returns the job summary."""
    from skysift.io.catalog_writers import write_catalog

    left_raw = read_catalog(spark, cfg.left, "left")
    right_raw = read_catalog(spark, cfg.right, "right")
    require_columns(left_raw, [cfg.left_ra_column, cfg.left_dec_column]
                    + ([cfg.left_id_column] if cfg.left_id_column else []), f"left catalog {cfg.left}")
    right_needed = [cfg.right_ra_column, cfg.right_dec_column] + [c for c in (cfg.radius_column,
                                                                              cfg.right_id_column) if c]
    require_columns(right_raw, right_needed, f"right catalog {cfg.right}")

    radius_col = cfg.radius_column or None
    index_columns = (cfg.left_id_column, cfg.right_id_column) if cfg.columns == "index" else None
    if index_columns:  # only what the association table and the match need travels
        left_raw = left_raw.select(*dict.fromkeys([cfg.left_id_column, cfg.left_ra_column, cfg.left_dec_column]))
        right_raw = right_raw.select(*dict.fromkeys([c for c in (cfg.right_id_column, cfg.right_ra_column,
                                                                 cfg.right_dec_column, radius_col) if c]))
    left_valid = left_raw.where(valid_condition(cfg.left_ra_column, cfg.left_dec_column))
    right_valid = right_raw.where(valid_condition(cfg.right_ra_column, cfg.right_dec_column, radius_col))
    sc = spark.sparkContext
    resumable = cfg.resume and cfg.format == "parquet" and cfg.how != "outer"
    with staged(cfg.output, resume=resumable, resume_key=_resume_key(cfg, sc.defaultParallelism)) as stage, \
            catalog_sql_conf(spark, cfg.arrow_batch_rows, cfg.input_split_mb << 20):
        staging = stage.uri
        scan = scan_catalogs(left_raw, right_raw, cfg.left_ra_column, cfg.left_dec_column, cfg.right_ra_column,
                             cfg.right_dec_column, radius_col)
        write_rejects_if_any(staging, [
            (scan.left_invalid, lambda: rejects_frame(left_raw, "left", cfg.left_ra_column, cfg.left_dec_column,
                                                      cfg.left_id_column)),
            (scan.right_invalid, lambda: rejects_frame(right_raw, "right", cfg.right_ra_column,
                                                       cfg.right_dec_column, cfg.right_id_column, radius_col)),
        ])
        radius_max = cfg.radius_arcsec
        if radius_col:
            radius_max = scan.radius_max if np.isfinite(scan.radius_max) else cfg.radius_arcsec
        order = neighbour_order(float(radius_max))
        spec = match_spec(left_raw.columns, right_raw.columns, order, cfg.radius_arcsec, mode=cfg.mode,
                          how=cfg.how, left_ra=cfg.left_ra_column, left_dec=cfg.left_dec_column,
                          right_ra=cfg.right_ra_column, right_dec=cfg.right_dec_column, radius_column=radius_col,
                          right_suffix=cfg.right_suffix, count_matches=cfg.count_matches,
                          index_columns=index_columns)
        prepared = plan_from_scan(scan, spec, cfg.target_rows_per_group, cfg.sample_rows, sc.defaultParallelism)
        if cfg.format == "parquet":
            markers = stage.markers("groups") if cfg.how != "outer" else None
            done = _kept_groups(stage, prepared) if resumable else {}
            totals = write_matches(spark, left_valid, right_valid, prepared, staging,
                                   batch_rows=cfg.arrow_batch_rows, markers=markers, done=done)
            layout = {"format": "parquet", "rows": totals["rows"]}
        elif cfg.how == "outer":
            # the unmatched right rows need the pass after the match: Parquet parts first, then the format
            parts = f"{staging}/_outer_parts"
            totals = write_matches(spark, left_valid, right_valid, prepared, parts, batch_rows=cfg.arrow_batch_rows)
            layout = write_catalog(spark.read.parquet(parts), staging, cfg.format, ra_column=cfg.left_ra_column,
                                   dec_column=cfg.left_dec_column, name=Path(cfg.output).name,
                                   pixel_threshold=cfg.hats_pixel_threshold, histogram_order=cfg.hats_histogram_order)
            remove_tree(parts)
        else:
            # HATS repartitions the rows by pixel and FITS / VOTable collect them into one file, so these keep
            # Spark's shuffle (and count through accumulators).
            counters = {k: sc.accumulator(0) for k in ("left_matched", "left_unmatched", "pairs")}
            out = matched_frame(spark, left_valid, right_valid, prepared, counters, batch_rows=cfg.arrow_batch_rows)
            layout = write_catalog(out, staging, cfg.format, ra_column=cfg.left_ra_column,
                                   dec_column=cfg.left_dec_column, name=Path(cfg.output).name,
                                   pixel_threshold=cfg.hats_pixel_threshold, histogram_order=cfg.hats_histogram_order)
            totals = {k: int(c.value) for k, c in counters.items()}
        rej = read_rejects(staging)
        n_rej_left = int(sum(1 for r in rej.column("reason").to_pylist() if r.startswith("left:")))
        matched, unmatched, pairs = (totals[k] for k in ("left_matched", "left_unmatched", "pairs"))
        written = {"inner": matched, "left": matched + unmatched, "outer": matched + unmatched, "anti": unmatched}
        other = {"inner": {"unmatched_left": unmatched}, "anti": {"matched_left": matched}}
        summary = {
            "read": scan.left_valid + scan.left_invalid,
            "written": written[cfg.how],
            "rejected": n_rej_left,
            "other_outcomes": other.get(cfg.how, {}),
            "output": stage.output,
            "right_read": scan.right_valid + scan.right_invalid,
            "right_rejected": rej.num_rows - n_rej_left,
            "pairs": pairs,
            "rows_written": int(layout["rows"]),
            "healpix_order": order,
            "groups": prepared.plan.n_groups,
            "buckets": prepared.plan.n_buckets,
            "format": cfg.format,
            "how": cfg.how,
            **({"resumed_tasks": len(done)} if cfg.format == "parquet" else {}),
            **({"right_unmatched": totals["right_unmatched"],
                "right_matched": scan.right_valid - totals["right_unmatched"]} if cfg.how == "outer" else {}),
            "note": "read/written/rejected count left rows; right rows and pairs have their own keys",
        }
        write_table_json(staging, {"job": "crossmatch", "config": to_dict(cfg), "layout": layout,
                                   "healpix_order": order, "summary": summary})
    return summary

"""`skysift detect-sources` driver: tiles -> detections -> one source per object -> catalog (+ `_unmatched`, `_rejects`).

The driver resolves both models (a missing model or alias fails here, before Spark work) and reads the small
fields table (frame shapes); tiles, pixels and detections never pass through it. On Spark (``spark_plan.py``)
the executors detect and classify (models cached per worker), merge per frame, apply the 0.5 arcsec rule across
frames and match the catalog with the xmatch engine; ``spark=None`` runs the same kernels in this process (the
sequential twin, ``tasks.py``). As in Zhao et al. 2025 the main catalog keeps the sources matched within 2 arcsec;
the others go to ``_unmatched`` with the same columns. Without ``--catalog`` every source is in the catalog.

Summary: ``read`` / ``written`` / ``rejected`` count TILES (detected on / sent to ``_rejects``); the sources
have their own balance, checked here: detections = partial + merged_in_frame + merged_across_frames +
catalog_rows + unmatched_rows. ``wcs_flagged`` lists the frames whose WCS disagrees with the catalog.
"""
from __future__ import annotations

import os
from typing import Any

from skysift.config import to_dict
from skysift.detection.inference import resolve_classifier, resolve_detector
from skysift.io.tables import write_table_json
from skysift.runtime.errors import SkysiftError
from skysift.runtime.filesystem import join, remove_tree
from skysift.runtime.output import staged
from skysift.runtime.resume import files_fingerprint, keep_only, model_fingerprint, resume_key, resumed_count
from skysift.runtime.rejects import write_rejects
from skysift.stages.detect_sources import tasks as T
from skysift.stages.detect_sources.config import DetectSourcesConfig
from skysift.stages.detect_sources.outputs import tile_rows, write_outputs

CONFIG = DetectSourcesConfig


def catalog_schema(cfg: DetectSourcesConfig):
    """The photometric catalog's Arrow schema, checked for the columns the match needs (None without a catalog)."""
    if not cfg.catalog:
        return None
    from skysift.runtime.output import exists

    if not exists(cfg.catalog):
        raise SkysiftError(f"catalog {cfg.catalog!r} does not exist")
    schema = T.catalog_dataset(cfg.catalog).schema
    missing = [c for c in T.catalog_read_columns(cfg) if c not in schema.names]
    if missing:
        raise SkysiftError(f"catalog {cfg.catalog}: column(s) {missing} not found; columns found: {', '.join(schema.names)}")
    return schema


def run(spark, cfg: DetectSourcesConfig) -> dict[str, Any]:
    """Detect, classify, merge and match every tile of ``cfg.input`` into ``cfg.output`` (spark=None: the twin)."""
    root = T.locate_input(cfg.input)
    shapes = T.frame_shapes(root)
    models = T.Models(resolve_detector(cfg.detector_uri), resolve_classifier(cfg.classifier_uri))
    cat_schema = catalog_schema(cfg)
    seconds: dict[str, float] = {}
    resumable = spark is None or cfg.reader == "pyarrow"
    key = _resume_key(spark, cfg, root, models) if resumable else None
    with staged(cfg.output, resume=cfg.resume and resumable, resume_key=key) as stage:
        raw = join(stage.uri, T.RAW_DIR)
        if stage.resumed:
            _clear_after_tile_pass(stage.uri)
        t0 = T.timer()
        if spark is None:
            tile_stats = T.raw_pass_local(raw, root, shapes, models, cfg, markers=stage.markers())
        else:
            from skysift.stages.detect_sources import spark_plan

            tile_stats = spark_plan.raw_pass(spark, raw, root, shapes, models, cfg,
                                             markers=stage.markers() if resumable else None)
        seconds["detect"] = T.timer() - t0
        outcome = T.tile_outcomes(tile_rows(raw), root)
        write_rejects(stage.uri, outcome.pop("rejects"), name="part-tiles.parquet")
        counts, fields, layout = write_outputs(spark, stage.uri, cfg, cat_schema, seconds)
        if outcome["detections"] != counts["detections"]:
            raise RuntimeError(f"detections reported by the tiles ({outcome['detections']}) differ from the rows written ({counts['detections']})")
        balance = (counts["partial"] + counts["merged_in_frame"] + counts["merged_across_frames"] + counts["catalog_rows"]
                   + counts["unmatched_rows"])
        if balance != counts["detections"]:
            raise RuntimeError(f"source accounting failed: {counts}")
        remove_tree(join(stage.uri, "_work"))
        flagged = [f["field_id"] for f in fields if f.get("flagged")]
        summary = {**{k: outcome[k] for k in ("read", "written", "rejected")}, "other_outcomes": {},
                   "output": stage.output, **counts, "fields": len(fields), "wcs_flagged": flagged,
                   "tile_tasks": len(tile_stats), "resumed_tasks": resumed_count(tile_stats),
                   "devices": outcome["devices"], "executor_seconds": outcome["executor_seconds"],
                   "seconds_by_step": {k: round(v, 3) for k, v in seconds.items()},
                   "detector": {"uri": models.detector.uri, "version": models.detector.version},
                   "classifier": {"uri": models.classifier.uri, "version": models.classifier.version},
                   "note": "read/written/rejected count tiles; detections = partial + merged_in_frame + "
                           "merged_across_frames + catalog_rows + unmatched_rows"}
        write_table_json(stage.uri, {"job": "detect-sources", "table": "sources", "input": root, "config": to_dict(cfg),
                                     "layout": layout, "fields": fields, "summary": summary})
    return summary


def _resume_key(spark, cfg: DetectSourcesConfig, root: str, models: T.Models) -> dict[str, Any]:
    """What the tile pass's files depend on: the config, the tiles and fields files, both models (version,
    local files), the task count."""
    from skysift.runtime.output import table_files

    parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
    _, n_tasks = T.tile_tasks(root, cfg, parallelism)
    files = table_files(join(root, T.TILES_DIR)) + table_files(join(root, T.FIELDS_DIR))
    return resume_key(cfg, inputs=files_fingerprint(files), n_tasks=n_tasks,
                      models={m.kind: {"uri": m.uri, "version": m.version, "registry": m.tracking_uri,
                                       "files": model_fingerprint(m.uri, m.uri if os.path.isdir(m.uri) else m.path)}
                              for m in (models.detector, models.classifier)})


def _clear_after_tile_pass(staging: str) -> None:
    """A resumed staging folder keeps the tile pass's files and markers; whatever a killed run wrote after
    that pass (sources, catalogs, rejects) is deleted, as the rerun writes it again whole."""
    from skysift.runtime.output import RESUME

    keep_only(staging, (RESUME, T.RAW_DIR))

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

from typing import Any

from skysift.config import to_dict
from skysift.detection.inference import resolve_classifier, resolve_detector
from skysift.io.tables import write_table_json
from skysift.runtime.errors import SkysiftError
from skysift.runtime.filesystem import join, remove_tree
from skysift.runtime.output import staged
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
    with staged(cfg.output) as stage:
        raw = join(stage.uri, T.RAW_DIR)
        t0 = T.timer()
        if spark is None:
            T.raw_pass_local(raw, root, shapes, models, cfg)
        else:
            from skysift.stages.detect_sources import spark_plan

            spark_plan.raw_pass(spark, raw, root, shapes, models, cfg)
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
                   "devices": outcome["devices"], "executor_seconds": outcome["executor_seconds"],
                   "seconds_by_step": {k: round(v, 3) for k, v in seconds.items()},
                   "detector": {"uri": models.detector.uri, "version": models.detector.version},
                   "classifier": {"uri": models.classifier.uri, "version": models.classifier.version},
                   "note": "read/written/rejected count tiles; detections = partial + merged_in_frame + "
                           "merged_across_frames + catalog_rows + unmatched_rows"}
        write_table_json(stage.uri, {"job": "detect-sources", "table": "sources", "input": root, "config": to_dict(cfg),
                                     "layout": layout, "fields": fields, "summary": summary})
    return summary


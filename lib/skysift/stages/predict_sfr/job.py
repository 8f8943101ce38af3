"""`skysift predict-sfr` driver: multimodal table -> `sfr_predictions` (object_id, log_sfr_pred, model uri and
version), on the executors.

The driver resolves the model once (``models.sfr_bundle.resolve_sfr_model``: a missing model, alias or version
fails here) and refuses an image resolution or quality level the model was not trained on, naming what it was
trained on. Executors receive only ``SfrModelRef`` (URI, version, a few numbers), load the model once per
Python worker (``runtime.cache``), predict each Arrow batch (``SfrModelRef.predict_table``) and write their own
Parquet file and rejects into the staging folder; one stats row per task comes back. Rows without a cutout, a
spectrum at the model's quality level, a norm_factor or a redshift the model needs go to ``_rejects`` with the
reason (``models.sfr_inputs.table_arrays``).

Two executor paths, the same per-batch function: ``reader=pyarrow`` (default) runs ``runtime.tasks`` over
slices of the table's Parquet row groups, each Python worker reading its own (``tasks.predict_row_groups``);
``reader=spark`` lets Spark read the table and runs mapInArrow (``tasks.predict_partition``). With
``spark=None`` the row-group tasks run one after the other in this process: the sequential twin.

Resume (RELIABILITY.md), the row-group path only: the work items are the input's row groups
(``runtime.resume``), fixed by the files alone; every task writes a completion marker after its files, and
a rerun after a kill (``resume=true``, the default) with the same config, input files, model and task count
runs only the tasks without one. ``reader=spark`` restarts: its tasks are Spark's input splits, which
depend on Spark's file packing and parallelism, and they name their files by partition id.
"""
from __future__ import annotations

import functools
import os
from typing import Any

from skysift.config import ConfigError
from skysift.stages.predict_sfr.config import PredictSfrConfig
from skysift.stages.predict_sfr.tasks import (SOURCE_COL, STATS, SfrModelRef, predict_partition,
                                              predict_row_groups)

CONFIG = PredictSfrConfig
TABLE_DIR = "multimodal"


def prepare(cfg: PredictSfrConfig) -> SfrModelRef:
    """Resolve the model on the driver; ConfigError when it is missing or asked for what it was not trained on."""
    from skysift.models.sfr_bundle import resolve_sfr_model, trained_on
    from skysift.runtime import tracking

    uri = tracking.tracking_uri() if cfg.model_uri.startswith(("models:", "runs:")) else None
    info = resolve_sfr_model(cfg.model_uri, uri)
    meta = info["meta"]
    asked = []
    if cfg.image_px and cfg.image_px != meta["image_px"]:
        asked.append(f"{cfg.image_px} px images")
    if cfg.quality_level >= 0 and cfg.quality_level != meta["quality_level"]:
        asked.append(f"spectral quality level {cfg.quality_level}")
    if asked:
        version = "" if info["version"] is None else f" (version {info['version']})"
        raise ConfigError(f"model_uri {cfg.model_uri}{version}: {meta['model']} was trained on {trained_on(meta)}, "
                          f"not {' and '.join(asked)}; leave image_px / quality_level unset or train that combination")
    cfg_model = meta["config"]
    return SfrModelRef(model_uri=cfg.model_uri, model_version=None if info["version"] is None else str(info["version"]),
                       model_dir=info["dir"], tracking_uri=uri, model_name=meta["model"], image_px=int(meta["image_px"]),
                       quality_level=int(meta["quality_level"]), n_bands=int(meta["image_shape"][0]),
                       spectrum_length=int(meta["spectrum_length"]),
                       uses_z=bool(meta.get("uses_z", cfg_model.get("spectrum_redshift", False))),
                       uses_norm_factor=bool(meta.get("uses_norm_factor", cfg_model.get("spectrum_log_norm", True))),
                       device=cfg.device, torch_threads=cfg.torch_threads)


def table_path(uri: str) -> str:
    """The multimodal table of a build-multimodal output folder, or ``uri`` itself."""
    from skysift.runtime.filesystem import exists, join

    sub = join(uri, TABLE_DIR)
    return sub if exists(sub) else uri


def run(spark, cfg: PredictSfrConfig) -> dict[str, Any]:
    """Predict every row of cfg.input into cfg.output (spark=None: the sequential twin); read = written + rejected."""
    from skysift.config import to_dict
    from skysift.io.tables import write_table_json
    from skysift.models.sfr_inputs import flux_column, needed_columns
    from skysift.runtime.filesystem import exists, for_spark, with_s3_settings
    from skysift.runtime.output import count_rows, open_dataset, staged, table_files
    from skysift.runtime.resume import resumed_count
    from skysift.runtime.spark import sql_conf
    from skysift.schema import spark_schema

    path = table_path(cfg.input)
    if not exists(path):
        raise ConfigError(f"input {cfg.input}: no such multimodal table (give the output of `skysift build-multimodal`)")
    ref = prepare(cfg)
    names = open_dataset(path).schema.names
    missing = sorted(set(needed_columns(ref.quality_level)) - {"class"} - set(names))
    if missing:
        raise ConfigError(f"input {cfg.input}: not a multimodal table with quality level {ref.quality_level} "
                          f"({flux_column(ref.quality_level)}), missing columns {missing}")
    row_group_path = spark is None or cfg.reader == "pyarrow"
    key = items = n_tasks = None
    if row_group_path:
        from skysift.runtime.resume import files_fingerprint, model_fingerprint, resume_key
        from skysift.runtime.row_groups import row_group_tasks, row_groups

        files = table_files(path)
        items = row_groups(files)
        parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
        n_tasks = row_group_tasks(items, cfg.rows_per_task, parallelism, cfg.min_tasks_per_core)
        key = resume_key(cfg, inputs=files_fingerprint(files), n_tasks=n_tasks, registry=ref.tracking_uri,
                         model_version=ref.model_version, model=model_fingerprint(cfg.model_uri, ref.model_dir))
    with staged(cfg.output, resume=cfg.resume and row_group_path, resume_key=key) as stage:
        if row_group_path:
            from skysift.runtime.tasks import run_tasks

            task = functools.partial(predict_row_groups, stage.uri, ref, cfg.arrow_batch_rows)
            stats = run_tasks(task, items, n_tasks, spark, markers=stage.markers())
        else:
            from pyspark.sql import functions as F

            local = path if "://" in path else os.path.abspath(path)
            cols = [c for c in needed_columns(ref.quality_level) if c in names]
            df = spark.read.parquet(for_spark(local)).select(*cols, F.input_file_name().alias(SOURCE_COL))
            if cfg.partitions:
                df = df.repartition(cfg.partitions)
            task = with_s3_settings(functools.partial(predict_partition, stage.uri, ref))
            with sql_conf(spark, {"spark.sql.execution.arrow.maxRecordsPerBatch": cfg.arrow_batch_rows}):
                stats = [r.asDict() for r in df.mapInArrow(task, spark_schema(STATS)).collect()]
        read, rejected = sum(s["read"] for s in stats), sum(s["rejected"] for s in stats)
        written = count_rows(stage.uri)
        if written != sum(s["written"] for s in stats) or read != written + rejected:
            raise RuntimeError("rows reported by the tasks differ from the rows in the prediction files")
        write_table_json(stage.uri, {"table": "sfr_predictions", "model_uri": cfg.model_uri,
                                     "model_version": ref.model_version, "model_name": ref.model_name,
                                     "image_px": ref.image_px, "quality_level": ref.quality_level,
                                     "input": str(cfg.input), "producer": "skysift predict-sfr", "config": to_dict(cfg)})
    return {"read": int(read), "written": int(written), "rejected": int(rejected), "output": stage.output,
            "model_uri": cfg.model_uri, "model_version": ref.model_version, "model_name": ref.model_name,
            "tasks": len(stats), "resumed_tasks": resumed_count(stats), "devices": sorted({s["device"] for s in stats}),
            "executor_seconds": round(sum(s["seconds"] for s in stats), 3)}

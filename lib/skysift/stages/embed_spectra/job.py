"""`skysift embed-spectra` driver: spectra table -> embeddings table with a registered encoder, on executors.

The driver resolves the model once (a missing model, alias or version, or a
table on another wavelength grid, fails here with a message naming what was
expected). Executors receive only ``EmbedBatch`` (URI, version, a few numbers),
load the encoder once per Python worker (cached by URI and device), stack each
Arrow batch's flux lists into one tensor and run the encoder on the task's
device. Rows with non-finite or wrong-length flux go to ``OUTPUT/_rejects``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from skysift.config import ConfigError
from skysift.stages.embed_spectra.config import EmbedConfig
from skysift.stages.embed_spectra.tasks import REASON_COL, SOURCE_COL, EmbedBatch, output_arrow_schema

STAGE = "embed"
CONFIG = EmbedConfig


def prepare(cfg: EmbedConfig, table_grids: list[str] | None = None) -> EmbedBatch:
    """Resolve the model on the driver and check the table's grid; raise ConfigError naming what was expected."""
    from skysift.runtime import tracking

    uri = tracking.tracking_uri() if cfg.model_uri.startswith(("models:", "runs:")) else None
    info = tracking.resolve_model(cfg.model_uri, uri)
    meta = info["meta"]
    model_grid = meta["model"]["grid_id"]
    if table_grids is not None:
        other = sorted(set(table_grids) - {model_grid})
        if other:
            raise ConfigError(
                f"grid mismatch: model {cfg.model_uri} expects grid {model_grid!r}, "
                f"table {cfg.input} holds {other}; re-ingest the spectra on the model's grid: run ingest-spectra "
                f"with --set processing.grid.from_model={cfg.model_uri}"
            )
    return EmbedBatch(
        model_uri=cfg.model_uri,
        model_version=None if info["version"] is None else str(info["version"]),
        model_dir=info["dir"],
        tracking_uri=uri,
        n_points=int(meta["model"]["n_points"]),
        pooling=meta.get("pooling", "mean") if cfg.pooling == "model" else cfg.pooling,
        batch_size=cfg.batch_size,
        device=cfg.device,
        torch_threads=cfg.torch_threads,
        cpu_batch_size=cfg.cpu_batch_size,
        precision=cfg.precision,
    )


def run(spark, cfg: EmbedConfig) -> dict[str, Any]:
    """Embed every spectrum of cfg.input into cfg.output (atomic), rejects into cfg.output/_rejects."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from skysift.io.tables import write_table_json
    from skysift.runtime.output import exists, staged
    from skysift.runtime.rejects import spark_rejects, write_spark_rejects
    from skysift.schema import EMBEDDINGS, spark_schema

    if not exists(cfg.input):
        raise ConfigError(f"input {cfg.input}: no such spectra table")
    df = spark.read.parquet(cfg.input)
    missing = {"spec_id", "flux", "grid_id"} - set(df.columns)
    if missing:
        raise ConfigError(f"input {cfg.input}: not a spectra table, missing columns {sorted(missing)}")
    grids = [r[0] for r in df.select("grid_id").distinct().collect()]
    fn = prepare(cfg, grids)
    cols = ["spec_id", "flux"] + ([SOURCE_COL] if SOURCE_COL in df.columns else [])
    src = df.select(*cols)
    if cfg.partitions:
        src = src.repartition(cfg.partitions)
    out = src.mapInPandas(fn.map_partitions, spark_schema(output_arrow_schema())).persist(
        StorageLevel.MEMORY_AND_DISK)
    try:
        with staged(cfg.output) as stage:
            out.filter(F.col(REASON_COL).isNull()).select(*EMBEDDINGS.names).write.mode("overwrite").parquet(
                stage.uri)
            bad = spark_rejects(out.filter(F.col(REASON_COL).isNotNull()), stage=STAGE, reason=REASON_COL,
                                source_file=SOURCE_COL, spec_id="spec_id")
            n_rejected = bad.count()
            if n_rejected:
                write_spark_rejects(bad, stage.uri)
            n_read = out.count()
            write_table_json(stage.uri, {"table": "embeddings", "model_uri": cfg.model_uri,
                                         "model_version": fn.model_version, "pooling": fn.pooling,
                                         "input": str(cfg.input)})
    finally:
        out.unpersist()
    return {"read": n_read, "written": n_read - n_rejected, "rejected": n_rejected, "output": stage.output,
            "model_uri": cfg.model_uri, "model_version": fn.model_version}

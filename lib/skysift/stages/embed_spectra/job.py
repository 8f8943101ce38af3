"""`skysift embed-spectra` driver: spectra table -> embeddings table with a registered encoder, on executors.

The driver resolves the model once (a missing model, alias or version, or a
table on another wavelength grid, fails here with a message naming what was
expected and how to re-ingest) and lists the input's row groups, the work items
(``runtime.resume``), cut into tasks (``runtime.tasks.run_tasks``). Executors
receive only ``EmbedBatch`` (URI, version, a few numbers) and their items, load
the encoder once per Python worker (cached by URI and device), read their row
groups with pyarrow, view each batch's flux lists as one flat float32 buffer (no
pandas object arrays), run the encoder on the task's device and write their own
Parquet files into the staging folder (``tasks.embed_task``); one stats row per
task back. Rows with non-finite or wrong-length flux go to ``OUTPUT/_rejects``.

Resume (RELIABILITY.md): every task writes a completion marker after its files;
a rerun after a kill (``resume=true``, the default) with the same config, input
files, model and task count runs only the tasks without one.
"""
from __future__ import annotations

import functools
from typing import Any

from skysift.config import ConfigError
from skysift.stages.embed_spectra.config import EmbedConfig
from skysift.stages.embed_spectra.tasks import SOURCE_COL, EmbedBatch, embed_task

STAGE = "embed"
CONFIG = EmbedConfig


def grid_refusal(model_uri: str, model_grid: str, table: str, other: list[str]) -> str:
    """The one-line refusal of a table on another grid than the model's, saying how to get the right one."""
    return (f"grid mismatch: model {model_uri} expects grid {model_grid!r}, table {table} holds {other}; "
            f"re-ingest the spectra on the model's grid: run ingest-spectra with "
            f"--set processing.grid.from_model={model_uri}")


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
            raise ConfigError(grid_refusal(cfg.model_uri, model_grid, cfg.input, other))
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
        grid_id=str(model_grid),
    )


def run(spark, cfg: EmbedConfig) -> dict[str, Any]:
    """Embed every spectrum of cfg.input into cfg.output (atomic), rejects into cfg.output/_rejects;
    spark=None runs the tasks one after the other in this process (the sequential twin)."""
    import pyarrow.parquet as pq

    from skysift.io.tables import read_table_json, write_table_json
    from skysift.runtime.filesystem import resolve
    from skysift.runtime.output import count_rows, exists, staged
    from skysift.runtime.resume import files_fingerprint, model_fingerprint, resume_key, resumed_count
    from skysift.runtime.row_groups import row_group_tasks, row_groups, table_file_uris
    from skysift.runtime.tasks import run_tasks

    if not exists(cfg.input):
        raise ConfigError(f"input {cfg.input}: no such spectra table")
    # the table's own grid_id (_table.json of ingest-spectra / synth-survey) refuses a wrong table before any
    # Spark work; the tasks check every row's grid_id as well, for tables without or with a stale _table.json
    declared = read_table_json(cfg.input).get("grid_id")
    fn = prepare(cfg, [declared] if declared else None)
    files = table_file_uris(cfg.input)
    fs, first_file = resolve(files[0])
    names = pq.read_schema(first_file, filesystem=fs).names
    missing = {"spec_id", "flux", "grid_id"} - set(names)
    if missing:
        raise ConfigError(f"input {cfg.input}: not a spectra table, missing columns {sorted(missing)}")
    columns = ["spec_id", "flux", "grid_id"] + ([SOURCE_COL] if SOURCE_COL in names else [])
    # work items: the input's row groups, fixed by the files alone, so a rerun cuts the same tasks
    items = row_groups(files)
    parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
    n_tasks = (min(cfg.partitions, len(items)) if cfg.partitions
               else row_group_tasks(items, cfg.rows_per_task, parallelism))
    key = resume_key(cfg, inputs=files_fingerprint(files), n_tasks=n_tasks, registry=fn.tracking_uri,
                     model_version=fn.model_version,
                     model=model_fingerprint(cfg.model_uri, fn.model_dir))
    with staged(cfg.output, resume=cfg.resume, resume_key=key) as stage:
        task = functools.partial(embed_task, stage.uri, fn, columns)
        stats = run_tasks(task, items, n_tasks, spark, markers=stage.markers())
        other = sorted({g for row in stats for g in row["other_grids"] or []})
        if other:
            raise ConfigError(grid_refusal(cfg.model_uri, fn.grid_id, cfg.input, other))
        n_read, n_rejected = sum(r["read"] for r in stats), sum(r["rejected"] for r in stats)
        written = sum(r["written"] for r in stats)
        if written != count_rows(stage.uri) or n_read != written + n_rejected:
            raise RuntimeError("rows reported by the tasks differ from the rows in the table files")
        write_table_json(stage.uri, {"table": "embeddings", "model_uri": cfg.model_uri,
                                     "model_version": fn.model_version, "pooling": fn.pooling,
                                     "precision": cfg.precision, "input": str(cfg.input)})
    return {"read": n_read, "written": written, "rejected": n_rejected, "output": stage.output,
            "model_uri": cfg.model_uri, "model_version": fn.model_version, "tasks": len(stats),
            "resumed_tasks": resumed_count(stats),
            "executor_seconds": round(sum(r["seconds"] for r in stats), 3)}

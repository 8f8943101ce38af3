"""`skysift ingest-spectra` driver: survey FITS files -> the `spectra` Parquet table (+ `_rejects`).

Only the list of file paths goes through the driver: it is cut into tasks (``runtime.tasks``), each executor
reads its files, resamples and normalises them in batches and writes its rows with pyarrow into the staging
folder, partitioned by coarse HEALPix pixel (``healpix_part=P/part-<first file index>.parquet``), and its
rejected rows into ``_rejects/``; one line of counts per task comes back. Spark's own Parquet writer converts
list<float> columns row by row and measured 3-4x slower than the whole ingest work here. The driver then
checks that every input file is either written or rejected. The output may be any ``runtime.filesystem`` URI
(``s3://`` too: the executors write their files straight under the staging prefix); the FITS inputs are
local paths, the same on the driver and every executor (a shared disk).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os

from skysift.config import ConfigError, to_dict
from skysift.io.tables import write_table_json
from skysift.runtime.output import count_rows, open_dataset, staged
from skysift.runtime.rejects import read_rejects
from skysift.runtime.tasks import run_tasks, task_count
from skysift.spectra.grid import resolve_grid
from skysift.stages.ingest_spectra.config import IngestConfig
from skysift.stages.ingest_spectra.tasks import FITS_SUFFIXES, ingest_task, list_input_files

CONFIG = IngestConfig


def run(spark, cfg: IngestConfig) -> dict:
    """Ingest every FITS file under cfg.input into the spectra table at cfg.output (spark=None: in-process)."""
    # processing.grid.from_model: the registry is asked here, once, before any Spark work; tasks get a plain grid
    grid, grid_source = resolve_grid(cfg.processing.grid)
    cfg = dataclasses.replace(cfg, processing=dataclasses.replace(cfg.processing, grid=grid))
    uris = [p.strip() for p in cfg.input.split(",") if "://" in p]
    if uris:
        raise ConfigError(f"input {uris[0]!r}: ingest-spectra reads FITS files from plain local paths (a disk "
                          "mounted at the same path on the driver and every executor), not URIs; --output may be s3://")
    files = list_input_files(cfg.input)
    if not files:
        raise ConfigError(f"input {cfg.input!r}: no FITS files found (looked for {', '.join(FITS_SUFFIXES)})")
    parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
    n_tasks = task_count(len(files), cfg.files_per_task, parallelism)
    with staged(cfg.output, resume=cfg.resume, resume_key=resume_key(cfg, files, n_tasks)) as stage:
        stats = run_tasks(functools.partial(ingest_task, stage.uri, cfg), files, n_tasks, spark,
                          markers=stage.markers())
        summary = finalize(stage.uri, files, cfg, grid_source)
        if sum(r["written"] for r in stats) != summary["written"]:
            raise RuntimeError("rows reported by the tasks differ from the rows in the table files")
    extra = {"grid_from_model": grid_source} if grid_source else {}
    return {**summary, "executor_seconds": round(sum(r["seconds"] for r in stats), 3), "output": stage.output,
            "tasks": len(stats), "resumed_tasks": sum(bool(r.get("_resumed")) for r in stats),
            "grid_id": grid.grid_id, **extra}


def resume_key(cfg: IngestConfig, files: list[str], n_tasks: int) -> dict:
    """What the staged files depend on: the config, every input file's name, size and time, the task count."""
    digest = hashlib.sha256()
    for path in files:  # a digest: a million paths would make a 100 MB key
        st = os.stat(path)
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"config": {k: v for k, v in to_dict(cfg).items() if k != "resume"}, "n_tasks": n_tasks,
            "n_files": len(files), "files_sha256": digest.hexdigest()}


def finalize(staging: str, files: list[str], cfg: IngestConfig, grid_source: dict | None = None) -> dict:
    """Count rows and rejects, check every input file is accounted for, write the table properties."""
    rej = read_rejects(staging)
    rejected_files = set(rej.column("source_file").to_pylist())
    written = count_rows(staging)
    written_files: set[str] = set()
    if written:
        written_files = set(open_dataset(staging).to_table(columns=["source_file"])
                            .column("source_file").unique().to_pylist())
    missing = sorted(set(files) - written_files - rejected_files)
    if missing:
        # Should be impossible; if a file vanished, say so loudly rather than report a false balance.
        raise RuntimeError(f"{len(missing)} input file(s) neither written nor rejected, e.g. {missing[:3]}")
    write_table_json(staging, {"table": "spectra", "grid_id": cfg.processing.grid.grid_id,
                               "partition_column": "healpix_part",
                               "partition_order": cfg.processing.partition_order,
                               "producer": "skysift ingest-spectra", "config": to_dict(cfg),
                               **({"grid_from_model": grid_source} if grid_source else {})})
    return {"read": written + rej.num_rows, "written": written, "rejected": rej.num_rows, "files": len(files),
            "files_with_rejects": len(rejected_files)}

"""`skysift ingest-spectra`: survey FITS files -> the `spectra` Parquet table (+ `_rejects`).

Only the list of file paths goes through the driver: it is split over tasks,
each executor reads its files (``io.readers``), resamples and normalises them in
batches (``ingest.transform``) and returns Arrow batches. One Spark write puts
good rows and rejected rows side by side (partitioned by an ``is_reject`` flag),
then the driver moves them into place: the table partitioned by coarse HEALPix
pixel, the rejects as ``_rejects``. Every input file is accounted for.
"""
from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.dataset as pads

from ..config import ConfigError, require, to_dict
from ..io.tables import (
    commit_staging,
    count_rows,
    discard_staging,
    staging_path,
    write_rejects,
    write_table_json,
)
from ..schema import REJECTS, SPECTRA
from .transform import ProcessingConfig, process_spectra_arrow

FITS_SUFFIXES = (".fits", ".fits.gz", ".fits.bz2", ".fit", ".fts")

# Good and rejected rows travel in one Arrow schema so that one Spark write stores both.
COMBINED = pa.schema(
    [f.with_nullable(True) for f in SPECTRA]
    + [
        pa.field("row_index", pa.int64()),
        pa.field("reject_stage", pa.string()),
        pa.field("reject_reason", pa.string()),
        pa.field("is_reject", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class IngestConfig:
    """Configuration of `skysift ingest-spectra`."""

    input: str = ""
    """FITS files: a folder (searched recursively), a glob, or several of these separated by commas."""
    output: str = ""
    """Output folder of the spectra table (replaced as a whole on success)."""
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    """Grid, resampling, normalisation, coverage threshold, partition order."""
    files_per_task: int = 64
    """Files per Spark task; more tasks balance better, fewer have less overhead."""
    batch_spectra: int = 256
    """Spectra resampled together in one kernel call (bounds executor memory)."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input FOLDER_OR_GLOB)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(self.files_per_task >= 1, "files_per_task must be >= 1")
        require(self.batch_spectra >= 1, "batch_spectra must be >= 1")


CONFIG = IngestConfig


def list_input_files(spec: str) -> list[str]:
    """Expand folders (recursively) and globs into a sorted, de-duplicated list of FITS paths."""
    found: set[str] = set()
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        if os.path.isdir(part):
            for root, _dirs, files in os.walk(part):
                found.update(os.path.join(root, f) for f in files if f.lower().endswith(FITS_SUFFIXES))
        else:
            matches = glob.glob(part, recursive=True)
            found.update(m for m in matches if os.path.isfile(m))
    return sorted(os.path.abspath(p) for p in found)


def ingest_batch(paths: list[str], cfg: IngestConfig) -> Iterator[pa.RecordBatch]:
    """Read, resample and normalise the files in ``paths``: the per-task worker (Spark or sequential)."""
    from ..io.spectra_fits import read_spectra_file
    from ..spectra.native import NativeSpectrum, Reject

    pending: list[NativeSpectrum] = []
    rejects: list[Reject] = []
    for path in paths:
        try:
            items = read_spectra_file(path)
        except Exception as exc:  # noqa: BLE001 - a reader bug on one file must not kill the task
            items = [Reject(source_file=path, stage="read", reason=f"{path}: {type(exc).__name__}: {exc}")]
        if not items:
            items = [Reject(source_file=path, stage="read", reason=f"{path}: no spectrum found in file")]
        for item in items:
            (rejects if isinstance(item, Reject) else pending).append(item)
        if len(pending) >= cfg.batch_spectra:
            yield from _emit(pending, rejects, cfg)
            pending, rejects = [], []
    if pending or rejects:
        yield from _emit(pending, rejects, cfg)


def _emit(pending, rejects, cfg: IngestConfig) -> Iterator[pa.RecordBatch]:
    table, more = process_spectra_arrow(pending, cfg.processing)
    all_rejects = list(rejects) + list(more)
    if table.num_rows:
        good = table.append_column("row_index", pa.nulls(table.num_rows, pa.int64()))
        good = good.append_column("reject_stage", pa.nulls(table.num_rows, pa.string()))
        good = good.append_column("reject_reason", pa.nulls(table.num_rows, pa.string()))
        good = good.append_column("is_reject", pa.array([False] * table.num_rows))
        yield from good.cast(COMBINED).to_batches()
    if all_rejects:
        rows = [r.as_row() for r in all_rejects]
        n = len(rows)
        bad = {name: pa.nulls(n, COMBINED.field(name).type) for name in COMBINED.names}
        bad["source_file"] = pa.array([r["source_file"] for r in rows], pa.string())
        bad["spec_id"] = pa.array([r["spec_id"] for r in rows], pa.string())
        bad["row_index"] = pa.array([r["row_index"] for r in rows], pa.int64())
        bad["reject_stage"] = pa.array([r["stage"] for r in rows], pa.string())
        bad["reject_reason"] = pa.array([r["reason"] for r in rows], pa.string())
        bad["is_reject"] = pa.array([True] * n)
        yield from pa.table(bad, schema=COMBINED).to_batches()


def run(spark, cfg: IngestConfig) -> dict:
    """Ingest every FITS file under cfg.input into the spectra table at cfg.output."""
    from ..schema import spark_schema

    files = list_input_files(cfg.input)
    if not files:
        raise ConfigError(f"input {cfg.input!r}: no FITS files found (looked for {', '.join(FITS_SUFFIXES)})")
    n_tasks = max(1, -(-len(files) // cfg.files_per_task))
    staging = staging_path(cfg.output)
    try:
        paths_df = spark.createDataFrame([(p,) for p in files], "source_file string").repartition(n_tasks)

        def worker(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                yield from ingest_batch(batch.column(0).to_pylist(), cfg)

        out = paths_df.mapInArrow(worker, spark_schema(COMBINED))
        combined_dir = staging / ".combined"
        out.write.mode("overwrite").partitionBy("is_reject", "healpix_part").parquet(str(combined_dir))
        summary = finalize_combined(staging, combined_dir, files, cfg)
        commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    return {**summary, "output": str(Path(cfg.output).absolute()), "tasks": n_tasks}


def finalize_combined(staging: Path, combined_dir: Path, files: list[str], cfg: IngestConfig) -> dict:
    """Move good rows into the table layout, write `_rejects`, check every input file is accounted for."""
    good_dir = combined_dir / "is_reject=false"
    if good_dir.exists():
        for part in sorted(good_dir.iterdir()):
            os.replace(part, staging / part.name)
    reject_dir = combined_dir / "is_reject=true"
    rejected_files: set[str] = set()
    n_rejected = 0
    if reject_dir.exists():
        cols = ["source_file", "row_index", "spec_id", "reject_stage", "reject_reason"]
        rej = pads.dataset(str(reject_dir), format="parquet").to_table(columns=cols)
        rej = rej.rename_columns(["source_file", "row_index", "spec_id", "stage", "reason"]).cast(REJECTS)
        n_rejected = write_rejects(staging, rej)
        rejected_files = set(rej.column("source_file").to_pylist())
    shutil.rmtree(combined_dir, ignore_errors=True)
    written = count_rows(staging)
    written_files: set[str] = set()
    if written:
        written_files = set(
            pads.dataset(str(staging), format="parquet", partitioning="hive")
            .to_table(columns=["source_file"])
            .column("source_file")
            .unique()
            .to_pylist()
        )
    missing = sorted(set(files) - written_files - rejected_files)
    if missing:
        # Should be impossible; if a file vanished, say so loudly rather than report a false balance.
        raise RuntimeError(f"{len(missing)} input file(s) neither written nor rejected, e.g. {missing[:3]}")
    write_table_json(
        staging,
        {
            "table": "spectra",
            "grid_id": cfg.processing.grid.grid_id,
            "partition_column": "healpix_part",
            "partition_order": cfg.processing.partition_order,
            "producer": "skysift ingest-spectra",
            "config": to_dict(cfg),
        },
    )
    (staging / "_SUCCESS").touch()
    return {
        "read": written + n_rejected,
        "written": written,
        "rejected": n_rejected,
        "files": len(files),
        "files_with_rejects": len(rejected_files),
    }

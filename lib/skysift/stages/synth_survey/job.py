"""`skysift synth-survey`: the built-in synthetic survey, generated on Spark executors.

The rows 0..n_spectra-1 are cut into partitions of ``rows_per_partition``;
``spark.range(n_partitions)`` gives each task one partition index through
``mapInPandas`` and the task generates its rows in
chunks of ``batch_rows`` (``model.generate``), writes its own output files into
the staging folder and returns one line of counts. Only those counts reach the
driver. Output (committed atomically with io.tables staging):

* format=fits:    OUTPUT/spectra/<plate>/spec-*.fits (SDSS/BOSS/LAMOST layouts),
                  OUTPUT/truth/part-<first row>.parquet (TRUTH schema)
* format=parquet: OUTPUT/spectra/healpix_part=<p>/part-<first row>.parquet (SPECTRA
                  schema, via the lead's ingest.transform.process_spectra_arrow: the
                  same resampling/normalisation as ingest-spectra), OUTPUT/truth/...,
                  OUTPUT/_rejects/ for spectra the processing refused.

Every task writes files named by its first row with pyarrow/fitsio, so the same
seed and config give the same bytes. Executors write straight into OUTPUT's
staging folder: OUTPUT must be on a file system all executors see (local disk in
local mode, NFS/shared disk on a cluster).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.config import require, to_dict
from skysift.spectra.processing import ProcessingConfig, process_spectra_arrow
from skysift.runtime.output import PartitionedParquetWriter, commit_staging, discard_staging, staging_path
from skysift.io.tables import write_table_json
from skysift.schema import REJECTS, SPECTRA, TRUTH
from skysift.synth.model import SynthModelConfig, generate

STATS_SCHEMA = "first_row long, rows long, written long, rejected long, files long, seconds double"


@dataclass(frozen=True)
class SynthSurveyConfig:
    """Configuration of `skysift synth-survey`."""

    output: str = ""
    """Output folder (replaced as a whole on success)."""
    n_spectra: int = 1000
    """Number of spectra (rows 0 .. n_spectra-1)."""
    seed: int = 42
    """Survey seed: spectrum r is drawn from numpy default_rng([seed, r])."""
    format: Literal["fits", "parquet"] = "fits"
    """'fits': real-format FITS files + truth; 'parquet': the spectra table directly (million-row runs)."""
    rows_per_partition: int = 2000
    """Row numbers per Spark task."""
    batch_rows: int = 256
    """Spectra generated together in one numpy call (bounds executor memory: ~0.6 MB per row)."""
    fits_backend: Literal["auto", "fitsio", "astropy"] = "auto"
    """FITS writer: fitsio (cfitsio; ~5x faster here) or astropy; auto = fitsio when installed."""
    model: SynthModelConfig = field(default_factory=SynthModelConfig)
    """What the survey contains: class and layout mixes, S/N range, BPT margin, masks, plates."""
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    """format=parquet only: grid, resampling, normalisation, coverage, partition order (as ingest-spectra)."""

    def __post_init__(self):
        require(bool(self.output), "output is required (--output FOLDER)")
        require(self.n_spectra >= 1, f"n_spectra must be >= 1, got {self.n_spectra}")
        require(0 <= self.seed < 2**63, f"seed must be in [0, 2^63), got {self.seed}")
        require(self.rows_per_partition >= 1, f"rows_per_partition must be >= 1, got {self.rows_per_partition}")
        require(self.batch_rows >= 1, f"batch_rows must be >= 1, got {self.batch_rows}")


CONFIG = SynthSurveyConfig


def source_label(seed: int) -> str:
    """source_file of spectra generated straight into the table (format=parquet)."""
    return f"synth-survey:seed={seed}"


class PartitionWriter:
    """Generates and writes the rows of one task; ``write_chunk`` per batch, ``close`` at the end."""

    def __init__(self, cfg: SynthSurveyConfig, root: str | Path, first_row: int):
        self.cfg = cfg
        self.root = Path(root)
        self.part = f"part-{first_row:010d}.parquet"
        self.first_row = first_row
        self.truth: list[pa.Table] = []
        self.rejects: list[dict] = []
        self.spectra = PartitionedParquetWriter(self.root / "spectra", "healpix_part", self.part, SPECTRA)
        self.rows = self.written = self.files = 0
        self.started = time.perf_counter()

    def write_chunk(self, rows: np.ndarray) -> None:
        from skysift.synth.fits_writers import write_batch

        cfg = self.cfg
        batch = generate(rows, cfg.seed, cfg.model)
        truth = batch.truth
        if cfg.format == "fits":
            self.files += len(write_batch(batch, self.root, cfg.seed, cfg.fits_backend))
            self.written += len(batch)
        else:
            label = source_label(cfg.seed)
            truth = truth.assign(source_file=label)
            table, rejects = process_spectra_arrow(batch.native_spectra(label), cfg.processing)
            self.rejects.extend(r.as_row() for r in rejects)
            self.written += table.num_rows
            self.spectra.write(table)
        self.truth.append(pa.Table.from_pandas(truth, schema=TRUTH, preserve_index=False))
        self.rows += len(batch)

    def close(self) -> dict:
        self.spectra.close()
        if self.truth:
            (self.root / "truth").mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(self.truth), self.root / "truth" / self.part)
        if self.rejects:
            (self.root / "_rejects").mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(self.rejects, schema=REJECTS), self.root / "_rejects" / self.part)
        return {
            "first_row": self.first_row,
            "rows": self.rows,
            "written": self.written,
            "rejected": len(self.rejects),
            "files": self.files,
            "seconds": time.perf_counter() - self.started,
        }


def synth_partition(batches: Iterable[pd.DataFrame], cfg: SynthSurveyConfig, root: str) -> Iterator[pd.DataFrame]:
    """mapInPandas body: partition indices (column ``part``) -> one stats row per partition.

    Partition p holds rows [p * rows_per_partition, (p + 1) * rows_per_partition) whatever
    Spark does with the indices, so file contents depend only on the config. Also the
    sequential runner's worker (``run_sequential``): both drivers share it.
    """
    for pdf in batches:
        for p in pdf["part"].to_numpy(dtype=np.int64):
            start = int(p) * cfg.rows_per_partition
            stop = min(start + cfg.rows_per_partition, cfg.n_spectra)
            writer = PartitionWriter(cfg, root, start)
            for a in range(start, stop, cfg.batch_rows):
                writer.write_chunk(np.arange(a, min(a + cfg.batch_rows, stop), dtype=np.int64))
            yield pd.DataFrame([writer.close()])


def _partition_bounds(cfg: SynthSurveyConfig) -> list[tuple[int, int]]:
    step = cfg.rows_per_partition
    return [(a, min(a + step, cfg.n_spectra)) for a in range(0, cfg.n_spectra, step)]


def _finish(staging: Path, cfg: SynthSurveyConfig, stats: pd.DataFrame, started: float) -> dict:
    written, rejected, files = (int(stats[c].sum()) for c in ("written", "rejected", "files"))
    rows = int(stats["rows"].sum())
    if rows != cfg.n_spectra:
        raise RuntimeError(f"synth-survey generated {rows} rows, expected {cfg.n_spectra}")
    props = {"table": "truth", "producer": "skysift synth-survey", "seed": cfg.seed, "config": to_dict(cfg)}
    write_table_json(staging / "truth", props)
    if cfg.format == "parquet":
        (staging / "spectra").mkdir(exist_ok=True)
        write_table_json(
            staging / "spectra",
            {
                "table": "spectra",
                "grid_id": cfg.processing.grid.grid_id,
                "partition_column": "healpix_part",
                "partition_order": cfg.processing.partition_order,
                "producer": "skysift synth-survey",
                "config": to_dict(cfg),
            },
        )
    write_table_json(staging, {"producer": "skysift synth-survey", "format": cfg.format, "config": to_dict(cfg)})
    seconds = time.perf_counter() - started
    task_seconds = float(stats["seconds"].sum())
    return {
        "read": cfg.n_spectra,
        "written": written,
        "rejected": rejected,
        "files_written": files,
        "format": cfg.format,
        "partitions": len(stats),
        "spectra_per_second": round(cfg.n_spectra / seconds, 1) if seconds > 0 else None,
        "spectra_per_task_second": round(rows / task_seconds, 1) if task_seconds > 0 else None,
    }


def run(spark, cfg: SynthSurveyConfig) -> dict:
    """Generate cfg.n_spectra spectra on the executors into cfg.output."""
    started = time.perf_counter()
    staging = staging_path(cfg.output)
    staging.mkdir(parents=True)
    try:
        n_parts = len(_partition_bounds(cfg))
        root = str(staging)
        # One index per partition and one partition per task: only these integers leave the driver.
        parts = spark.range(0, n_parts, 1, n_parts).withColumnRenamed("id", "part")
        stats = parts.mapInPandas(lambda it: synth_partition(it, cfg, root), STATS_SCHEMA).toPandas()
        summary = _finish(staging, cfg, stats, started)
        out = commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    return {**summary, "output": str(out)}


def run_sequential(cfg: SynthSurveyConfig) -> dict:
    """The same job without Spark: one process, partition after partition (tests, benchmark baseline)."""
    started = time.perf_counter()
    staging = staging_path(cfg.output)
    staging.mkdir(parents=True)
    try:
        stats = []
        for p in range(len(_partition_bounds(cfg))):
            stats.extend(synth_partition([pd.DataFrame({"part": [p]})], cfg, str(staging)))
        summary = _finish(staging, cfg, pd.concat(stats, ignore_index=True), started)
        out = commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    return {**summary, "output": str(out)}


def read_truth(output: str | Path) -> pd.DataFrame:
    """The truth table of a synth-survey output, sorted by row number."""
    import pyarrow.dataset as pads

    table = pads.dataset(str(Path(output) / "truth"), format="parquet").to_table()
    return table.to_pandas().sort_values("row_number", kind="stable").reset_index(drop=True)


__all__ = ["CONFIG", "SynthSurveyConfig", "run", "run_sequential", "synth_partition", "read_truth"]

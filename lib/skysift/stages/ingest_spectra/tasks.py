"""Per-task work of `skysift ingest-spectra`: read, resample and normalise a slice of the file list and write
its rows and rejects (no Spark here: ``runtime.tasks`` runs ``ingest_task`` on executors or sequentially)."""
from __future__ import annotations

import glob
import os
import time
from typing import Iterator

import pyarrow as pa

from skysift.runtime.output import PartitionedParquetWriter
from skysift.runtime.rejects import Reject, write_rejects
from skysift.schema import SPECTRA
from skysift.spectra.processing import process_spectra_arrow
from skysift.stages.ingest_spectra.config import IngestConfig

FITS_SUFFIXES = (".fits", ".fits.gz", ".fits.bz2", ".fit", ".fts")


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


def ingest_batch(paths: list[str], cfg: IngestConfig, rejects_out: list) -> Iterator[pa.RecordBatch]:
    """Read, resample and normalise the files in ``paths``; yields SPECTRA batches, appends Rejects."""
    from skysift.io.spectra_fits import read_spectra_file

    pending: list = []
    for path in paths:
        try:
            items = read_spectra_file(path)
        except Exception as exc:  # noqa: BLE001 - a reader bug on one file must not kill the task
            items = [Reject(source_file=path, stage="read", reason=f"{path}: {type(exc).__name__}: {exc}")]
        if not items:
            items = [Reject(source_file=path, stage="read", reason=f"{path}: no spectrum found in file")]
        for item in items:
            (rejects_out if isinstance(item, Reject) else pending).append(item)
        if len(pending) >= cfg.batch_spectra:
            yield from _process(pending, cfg, rejects_out)
            pending = []
    if pending:
        yield from _process(pending, cfg, rejects_out)


def _process(pending, cfg: IngestConfig, rejects_out: list) -> Iterator[pa.RecordBatch]:
    table, more = process_spectra_arrow(pending, cfg.processing)
    rejects_out.extend(more)
    yield from table.to_batches()


def ingest_task(staging: str, cfg: IngestConfig, first_index: int, paths: list[str]) -> dict:
    """One task: ingest ``paths`` into ``staging`` (table files + rejects named by the first file index)."""
    started = time.perf_counter()
    name = f"part-{first_index:010d}.parquet"
    writer = PartitionedParquetWriter(staging, "healpix_part", name, SPECTRA)
    rejects: list = []
    for batch in ingest_batch(paths, cfg, rejects):
        writer.write(batch)
    written = writer.close()
    write_rejects(staging, rejects, name=name)
    return {"first_index": first_index, "files": len(paths), "written": written, "rejected": len(rejects),
            "seconds": time.perf_counter() - started}

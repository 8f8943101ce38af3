"""Writing job outputs safely: staging directories, rejects tables, table properties.

A job writes everything under ``staging_path(output)`` and calls
``commit_staging`` at the end: the old output (if any) is swapped out and the new
one renamed into place, so a failed run never leaves a half table and a re-run
replaces the previous result as a whole. Side tables live inside the output
folder under names starting with ``_`` (``_rejects``, ``_table.json``), which
Spark and pyarrow readers of the main table skip.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from skysift.schema import REJECTS

REJECTS_DIR = "_rejects"
TABLE_JSON = "_table.json"


def staging_path(output: str | os.PathLike) -> Path:
    """A fresh sibling folder of ``output`` to write into before the final rename."""
    out = Path(output).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:12]}"


def commit_staging(staging: str | os.PathLike, output: str | os.PathLike) -> Path:
    """Move ``staging`` to ``output``, replacing an existing output as a whole."""
    staging, out = Path(staging), Path(output).absolute()
    trash = None
    if out.exists():
        trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(out, trash)
    os.replace(staging, out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return out


def discard_staging(staging: str | os.PathLike) -> None:
    """Remove a staging folder after a failure."""
    shutil.rmtree(staging, ignore_errors=True)


def count_rows(path: str | os.PathLike) -> int:
    """Rows in a Parquet table folder (from footers; hidden `_`/`.` entries skipped)."""
    path = Path(path)
    if not path.exists():
        return 0
    files = [p for p in path.rglob("*.parquet") if not _hidden(p, path)]
    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


def _hidden(p: Path, root: Path) -> bool:
    return any(part.startswith(("_", ".")) and "=" not in part for part in p.relative_to(root).parts)


def write_rejects(
    folder: str | os.PathLike, rows: pa.Table | Iterable[dict[str, Any]], name: str | None = None
) -> int:
    """Write reject rows (source_file, row_index, spec_id, stage, reason) to ``folder/_rejects``.

    ``name`` gives the file a deterministic name (written under a hidden temporary name, then renamed),
    so an executor task that is retried replaces its file; without it the name is random.
    """
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema=REJECTS)
    table = table.select(REJECTS.names).cast(REJECTS)
    target = Path(folder) / REJECTS_DIR
    target.mkdir(parents=True, exist_ok=True)
    final = target / (name or f"part-{uuid.uuid4().hex[:8]}.parquet")
    tmp = target / f".{final.name}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return table.num_rows


def read_rejects(output: str | os.PathLike) -> pa.Table:
    """All reject rows of a job output (empty table when none)."""
    target = Path(output) / REJECTS_DIR
    if not target.exists() or not any(target.rglob("*.parquet")):
        return REJECTS.empty_table()
    return pads.dataset(str(target), format="parquet").to_table()


def write_table_json(folder: str | os.PathLike, properties: dict[str, Any]) -> None:
    """Table properties readers need (grid, partition order, producing job, config)."""
    Path(folder, TABLE_JSON).write_text(json.dumps(properties, indent=2, sort_keys=True, default=str))


def read_table_json(folder: str | os.PathLike) -> dict[str, Any]:
    """Properties written by ``write_table_json`` ({} when absent)."""
    path = Path(folder, TABLE_JSON)
    return json.loads(path.read_text()) if path.exists() else {}


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet table folder written by a skysift job (hive partitions restored)."""
    ds = pads.dataset(str(path), format="parquet", partitioning="hive")
    return ds.to_table(columns=columns)


def write_batches_atomic(path: str | os.PathLike, batches: Iterable[pa.RecordBatch],
                         schema: pa.Schema | None = None) -> int:
    """Stream ``batches`` into the Parquet file ``path``; returns the rows written.

    The file is written under a hidden temporary name unique to this call and renamed at the end, so an
    executor task that is retried (or run twice speculatively) replaces its file whole. Empty batches are
    skipped and no file is made when there are no rows. ``schema``: the file's schema (default: the
    first non-empty batch's).
    """
    final = Path(path)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    writer = None
    rows = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                writer = pq.ParquetWriter(tmp, schema or batch.schema)
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        os.replace(tmp, final)
    return rows


class PartitionedParquetWriter:
    """Write one task's rows into ``root/<column>=<value>/<name>`` files with pyarrow, one per value.

    Executors write their own files (Spark's row-by-row Parquet writer is several times slower on
    list<float> columns). Files get a deterministic name chosen by the caller (e.g. from the task's
    first input index), are written under a hidden temporary name and renamed on ``close``, so a
    retried or speculative task replaces rather than duplicates its output.
    """

    def __init__(self, root: str | os.PathLike, column: str, name: str, schema: pa.Schema):
        self.root = Path(root)
        self.column = column
        self.name = name
        self.schema = schema.remove(schema.get_field_index(column))
        self.writers: dict[int, tuple[pq.ParquetWriter, Path, Path]] = {}
        self.rows = 0

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows == 0:
            return
        values = table.column(self.column).to_numpy()
        data = table.drop_columns([self.column]).cast(self.schema)
        import numpy as np

        for value in np.unique(values):  # sorted: the same files in the same order every run
            entry = self.writers.get(int(value))
            if entry is None:
                folder = self.root / f"{self.column}={int(value)}"
                folder.mkdir(parents=True, exist_ok=True)
                final, tmp = folder / self.name, folder / f".{self.name}.tmp"
                entry = (pq.ParquetWriter(tmp, self.schema), tmp, final)
                self.writers[int(value)] = entry
            entry[0].write_table(data.filter(pa.array(values == value)))
        self.rows += table.num_rows

    def close(self) -> int:
        """Finish every file (rename into place); returns the rows written."""
        for writer, tmp, final in self.writers.values():
            writer.close()
            os.replace(tmp, final)
        self.writers = {}
        return self.rows

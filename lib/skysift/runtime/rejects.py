"""Rejects: what a job read but could not use, with the step and a one-line reason, never dropped silently.

Every job that reads outside data writes these rows to ``OUTPUT/_rejects`` (schema ``schema.REJECTS``:
source_file, row_index, spec_id, stage, reason). Three ways in, one table out:

- ``Reject`` records, made by readers and per-batch functions (executor or driver side), written by
  ``write_rejects`` under a deterministic name so a retried task replaces its file;
- ``spark_rejects``: the same five columns from a Spark DataFrame of bad rows, when the rows never leave the JVM;
- ``read_rejects`` reads them all back (an empty table when there are none).
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from skysift.runtime.filesystem import join, makedirs, resolve
from skysift.runtime.output import table_files
from skysift.schema import REJECTS

REJECTS_DIR = "_rejects"


@dataclass
class Reject:
    """A file or row that could not be used, with the step and a one-line reason."""

    source_file: str
    """Path of the offending file."""
    stage: str
    """read | validate | resample | normalise | ..."""
    reason: str
    """One line saying what is wrong."""
    row_index: int | None = None
    """Row inside the file, when known."""
    spec_id: str | None = None
    """Row id (a spectrum's, a source's), when it could be read."""

    def as_row(self) -> dict[str, Any]:
        """The REJECTS row."""
        return {"source_file": self.source_file, "row_index": self.row_index, "spec_id": self.spec_id,
                "stage": self.stage, "reason": self.reason}


def rejects_table(rows: pa.Table | Iterable[dict[str, Any] | Reject]) -> pa.Table:
    """Reject records, REJECTS-shaped dicts or a table as one table in the REJECTS schema."""
    if isinstance(rows, pa.Table):
        return rows.select(REJECTS.names).cast(REJECTS)
    return pa.Table.from_pylist([r.as_row() if isinstance(r, Reject) else r for r in rows], schema=REJECTS)


def write_rejects(folder: str | os.PathLike, rows: pa.Table | Iterable[dict[str, Any] | Reject],
                  name: str | None = None) -> int:
    """Write reject rows to ``folder/_rejects``; returns how many. Writes nothing when there are none.

    ``name`` gives the file a deterministic name (written under a hidden temporary name, then renamed), so an
    executor task that is retried replaces its file; without it the name is random.
    """
    table = rejects_table(rows)
    if table.num_rows == 0:
        return 0
    fs, target = resolve(join(str(folder), REJECTS_DIR))
    makedirs(join(str(folder), REJECTS_DIR))
    final = f"{target}/{name or f'part-{uuid.uuid4().hex[:8]}.parquet'}"
    tmp = f"{target}/.{final.rsplit('/', 1)[1]}.tmp-{uuid.uuid4().hex[:8]}"
    pq.write_table(table, tmp, filesystem=fs)
    fs.move(tmp, final)
    return table.num_rows


def read_rejects(output: str | os.PathLike) -> pa.Table:
    """All reject rows of a job output (empty table when none)."""
    files = table_files(str(output), under=REJECTS_DIR)
    if not files:
        return REJECTS.empty_table()
    fs, _ = resolve(str(output))
    return pa.concat_tables([pq.read_table(resolve(f)[1], filesystem=fs).cast(REJECTS) for f in files])


def spark_rejects(bad_rows, *, stage: str, reason, source_file=None, spec_id=None, row_index=None):
    """A Spark DataFrame of bad rows as the five REJECTS columns.

    ``reason`` / ``source_file`` / ``spec_id`` / ``row_index``: Spark columns or column names (F.lit for a
    constant; None: null);
    ``source_file`` defaults to the row's input file.
    """
    from pyspark.sql import functions as F

    def col(value, kind):
        if value is None:
            return F.lit(None).cast(kind)
        return (F.col(value) if isinstance(value, str) else value).cast(kind)

    return bad_rows.select(
        (F.input_file_name() if source_file is None else col(source_file, "string")).alias("source_file"),
        col(row_index, "long").alias("row_index"),
        col(spec_id, "string").alias("spec_id"),
        F.lit(stage).alias("stage"),
        col(reason, "string").alias("reason"),
    )


def write_spark_rejects(frame, folder: str | os.PathLike) -> None:
    """Write a ``spark_rejects`` frame to ``folder/_rejects`` (one file: rejects are few)."""
    frame.repartition(1).write.mode("overwrite").parquet(join(str(folder), REJECTS_DIR))

"""Parquet row groups as work items: tasks that read their rows with pyarrow in the Python worker.

A job whose rows are large lists (tiles, cutouts, spectra) loses most of its time when Spark's JVM reads the
Parquet and converts the lists to Arrow for the Python worker: 204 tiles of 320 x 320 x 3 floats took 1.9 s
through ``mapInArrow`` (3 tasks) and 0.4 s read by pyarrow in one process, on 2 quiet cores (BENCHMARKS.md,
issue 15), and Spark's 3 file splits left one of the two workers idle for a third of the pass. Listing the row
groups on the driver (footers only) and handing ``runtime.tasks.run_tasks`` slices of them gives balanced
tasks whose rows never enter the JVM. predict-sfr, embed-images and detect-sources use it.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import pyarrow as pa

__all__ = ["RowGroup", "row_groups", "row_group_tasks", "read_row_groups"]


class RowGroup(NamedTuple):
    """One row group of one Parquet file."""

    file: str
    """The file's URI."""
    group: int
    """Row group index in the file."""
    rows: int
    """Rows in the group."""
    first_row: int
    """Row index of the group's first row in the file."""


def row_groups(files: list[str]) -> list[RowGroup]:
    """Every row group of ``files`` (URIs), in file order, from the footers only."""
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import resolve

    items: list[RowGroup] = []
    for f in files:
        fs, path = resolve(f)
        with fs.open_input_file(path) as fh:
            meta = pq.ParquetFile(fh).metadata
        first = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            items.append(RowGroup(f, g, n, first))
            first += n
    return items


def row_group_tasks(items: list[RowGroup], rows_per_task: int, parallelism: int) -> int:
    """Tasks for ``items``: about ``rows_per_task`` rows each, at least two per core (``runtime.tasks.task_count``)."""
    from skysift.runtime.tasks import task_count

    per_group = max(1, sum(i.rows for i in items) // max(1, len(items)))
    return task_count(len(items), max(1, rows_per_task // per_group), parallelism)


def read_row_groups(items: list[RowGroup], columns: list[str] | None = None, batch_rows: int = 65_536
                    ) -> Iterator[tuple[RowGroup, pa.RecordBatch]]:
    """(item, batch) for the rows of ``items``, ``batch_rows`` at a time, read with pyarrow in this process;
    ``columns`` absent from a file are left out (the caller decides whether that is an error)."""
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import resolve

    for item in items:
        fs, path = resolve(item.file)
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            present = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[item.group], columns=present):
                yield item, batch

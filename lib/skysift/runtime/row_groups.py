"""Parquet row groups as work items: tasks that read their rows with pyarrow in the Python worker.

A job whose rows are large lists (tiles, cutouts, spectra) loses most of its time when Spark's JVM reads the
Parquet and converts the lists to Arrow for the Python worker: 204 tiles of 320 x 320 x 3 floats took 1.9 s
through ``mapInArrow`` (3 tasks) and 0.4 s read by pyarrow in one process, on 2 quiet cores (BENCHMARKS.md,
issue 15), and Spark's 3 file splits left one of the two workers idle for a third of the pass. Listing the row
groups on the driver (footers only) and handing ``runtime.tasks.run_tasks`` slices of them gives balanced
tasks whose rows never enter the JVM. The items depend on the files alone (never on Spark's file packing or
the cluster's parallelism), so they are also the stable unit of resume (``runtime.resume``). embed-spectra,
predict-sfr, embed-images and detect-sources use them.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import pyarrow as pa

__all__ = ["RowGroup", "read_row_group", "read_row_groups", "row_group_tasks", "row_groups", "table_file_uris"]


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


def table_file_uris(uri: str) -> list[str]:
    """The Parquet files of table ``uri`` (``output.table_files``: the manifest's list, else a sorted listing);
    a single Parquet file stands for itself. OutputError when there is none."""
    import pyarrow.fs as pafs

    from skysift.runtime.filesystem import OutputError, resolve
    from skysift.runtime.output import table_files

    fs, path = resolve(uri)
    if fs.get_file_info(path).type == pafs.FileType.File:
        return [str(uri)]
    files = table_files(uri)
    if not files:
        raise OutputError(f"{uri}: no Parquet files there")
    return files


def row_groups(files: list[str]) -> list[RowGroup]:
    """Every row group of ``files`` (URIs), in file order then row-group order, from the footers only (read
    16 at a time: an object store answers each in tens of milliseconds)."""
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import resolve
    from skysift.runtime.output import _parallel

    def groups(uri: str) -> list[RowGroup]:
        fs, path = resolve(uri)
        meta = pq.read_metadata(path, filesystem=fs)
        out, first = [], 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            out.append(RowGroup(uri, g, n, first))
            first += n
        return out

    return [item for per_file in _parallel(groups, list(files)) for item in per_file]


def row_group_tasks(items: list[RowGroup], rows_per_task: int, parallelism: int, per_core: int = 2) -> int:
    """Tasks for ``items``: about ``rows_per_task`` rows each, at least ``per_core`` per core
    (``runtime.tasks.task_count``)."""
    from skysift.runtime.tasks import task_count

    if not items:
        return 1
    mean_rows = max(1.0, sum(i.rows for i in items) / len(items))
    return task_count(len(items), max(1, int(rows_per_task / mean_rows)), parallelism, per_core)


def read_row_group(item: RowGroup, columns: list[str] | None = None) -> pa.Table:
    """The rows of one row group as a table (for tasks that need a group whole, e.g. to number its rows from
    ``item.first_row``)."""
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import resolve

    fs, path = resolve(item.file)
    with fs.open_input_file(path) as fh:
        return pq.ParquetFile(fh).read_row_group(item.group, columns=columns)


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

"""A file exchange of Arrow rows between two Spark stages, keyed by an integer group.

Why not Spark's shuffle: for the cross-match, rows leave Python as Arrow, Spark turns every one into a
JVM row to shuffle it, and the next stage turns it back into Arrow for Python again; at 10M x 10M those
conversions and the 0.8 GB shuffle cost more than the match itself. Here the producing task writes its
rows once, as one Arrow IPC file sorted by group (one record batch per group and input batch), and
tells the driver which batches hold which group; a consuming task memory-maps the files and takes the
batches of its groups without a copy. One file per producing task, not per (task, group), so the file
count stays the task count at any scale.

The folder must be visible to every executor (the same shared filesystem the jobs' outputs live on).
Files are written under a temporary name and renamed, so a retried or speculative task replaces its file
whole and the driver reads the index of the attempt that succeeded.
"""
from __future__ import annotations

import os
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

INDEX_SCHEMA = pa.schema([("file", pa.string()), ("group", pa.int64()), ("batch", pa.int64()), ("rows", pa.int64())])
"""What a producing task returns: for each record batch of its file, the group it holds and its rows."""


def split_by_group(batch: pa.RecordBatch, key: str) -> Iterable[tuple[int, pa.RecordBatch]]:
    """(group, rows of that group) for every group in ``batch``, in group order (stable within a group)."""
    g = batch.column(key).to_numpy()
    if g.size == 0:
        return
    if g.size == 1 or bool(np.all(g[1:] >= g[:-1])):
        order = None
        gs = g
    else:
        order = np.argsort(g, kind="stable")
        gs = g[order]
        batch = batch.take(pa.array(order))
    cuts = np.flatnonzero(gs[1:] != gs[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [gs.size]])
    for a, z in zip(starts.tolist(), stops.tolist()):
        yield int(gs[a]), batch.slice(a, z - a)


def write_grouped(path: str | os.PathLike, batches: Iterable[pa.RecordBatch], key: str,
                  schema: pa.Schema) -> pa.RecordBatch:
    """Write ``batches`` to the IPC file ``path`` split by the integer column ``key``; returns the index
    (INDEX_SCHEMA rows). No file is made when there are no rows."""
    final = Path(path)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    groups: list[int] = []
    rows: list[int] = []
    sink = writer = None
    try:
        for batch in batches:
            for group, part in split_by_group(batch, key):
                if writer is None:
                    sink = pa.OSFile(str(tmp), "wb")
                    writer = ipc.new_file(sink, schema)
                writer.write_batch(part)
                groups.append(group)
                rows.append(part.num_rows)
    finally:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
    if writer is not None:
        os.replace(tmp, final)
    n = len(groups)
    return pa.RecordBatch.from_arrays(
        [pa.array([str(final)] * n, pa.string()), pa.array(groups, pa.int64()), pa.array(np.arange(n), pa.int64()),
         pa.array(rows, pa.int64())], schema=INDEX_SCHEMA)


def group_index(index: pa.Table) -> dict[int, list[tuple[str, int]]]:
    """group -> [(file, batch number), ...] from the producing tasks' index rows."""
    out: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for f, g, b in zip(index.column("file").to_pylist(), index.column("group").to_pylist(),
                       index.column("batch").to_pylist()):
        out[int(g)].append((f, int(b)))
    return dict(out)


def read_group(entries: list[tuple[str, int]], schema: pa.Schema) -> pa.Table:
    """The rows of one group: its record batches from every file, memory-mapped (no copy)."""
    readers: dict[str, ipc.RecordBatchFileReader] = {}
    batches = []
    for f, b in entries:
        if f not in readers:
            readers[f] = ipc.open_file(pa.memory_map(f, "r"))
        batches.append(readers[f].get_batch(b))
    return pa.Table.from_batches(batches, schema=schema)

"""Per-shard work of `skysift build-kb` (no Spark import at module level): add one shard's vectors to a copy of
the trained empty index and write the shard's index file, ID map and entries part; only counts go back."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from skysift.kb import embeddings as emb
from skysift.kb.store import write_shard
from skysift.runtime.filesystem import with_s3_settings
from skysift.schema import KB_ENTRIES

ENTRY_COLUMNS = [f.name for f in KB_ENTRIES if f.name not in ("shard", "local_id")]
SHARD_STATS = "shard int, rows long, labels array<string>, index_bytes long"
"""Spark DDL of the one row each shard task returns to the driver."""


def add_shard(pdf: pd.DataFrame, trained: bytes, shard: int, kb: str, threads: int = 1) -> dict:
    """Add one shard's rows to a copy of the trained empty index; write its index file, its ID map and its
    part of the entries table (the same KB_ENTRIES rows) under ``kb`` (``kb.store.write_shard``); return the
    shard's counts (SHARD_STATS: shard, rows, distinct labels, index bytes)."""
    out = pdf.reindex(columns=ENTRY_COLUMNS).reset_index(drop=True)
    out["shard"] = np.int32(shard)
    out["local_id"] = np.arange(len(out), dtype=np.int64)
    table = pa.Table.from_pandas(out, schema=KB_ENTRIES, preserve_index=False)
    index_bytes = write_shard(kb, shard, trained, emb.stack(pdf["embedding"]), table, threads)
    labels = sorted(set(table.column("label").to_pylist()))
    return {"shard": shard, "rows": table.num_rows, "labels": labels, "index_bytes": index_bytes}


def shard_builder(kb: str, trained_bc, threads: int, markers: str | None = None, n_shards: int = 1,
                  done: frozenset[int] = frozenset()):
    """The mapInPandas function of the shard stage: partition i becomes shard i; one SHARD_STATS row each,
    shipped with the driver's S3 settings (the KB may be on ``s3://``).

    Resume (``runtime.resume``): after its files, a shard writes its completion marker under ``markers``
    (the test-only fault switch acts just before); the shards of ``done`` had one, and the driver filtered
    their rows out before the shuffle, so their partitions must arrive empty."""

    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import TaskContext

        from skysift.runtime.resume import finish_item

        parts = [b for b in batches if len(b)]
        if not parts:
            return
        ctx = TaskContext.get()
        shard = ctx.partitionId() if ctx is not None else 0
        if shard in done:
            raise RuntimeError(f"build-kb resume: shard {shard} is complete, yet its partition got rows "
                               "(the filter before the shuffle and Spark's hash partitioning disagree)")
        stats = add_shard(pd.concat(parts, ignore_index=True), trained_bc.value, shard, kb, threads)
        finish_item(markers, shard, n_shards, stats)
        yield pd.DataFrame({name: [value] for name, value in stats.items()})

    return with_s3_settings(build)

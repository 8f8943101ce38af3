"""The per-partition function of `skysift search-kb` (no Spark import at module level): pool the small Arrow
batches into faiss-sized query blocks, answer them with ``kb.search.search_batch`` and write the predictions
with pyarrow (``runtime.output``), so that the KB and the output may both be on ``s3://``."""
from __future__ import annotations

from typing import Iterator

import pandas as pd
import pyarrow as pa

from skysift.kb.faiss_index import IndexSpec
from skysift.kb.search import load_shard_set, search_batch
from skysift.kb.store import KbMeta
from skysift.runtime.filesystem import join, with_s3_settings
from skysift.runtime.tasks import inject_partition_fault
from skysift.schema import PREDICTIONS

TASK_STATS = "part int, rows long"
"""Spark DDL of the one row each search task returns to the driver."""


def search_blocks(batches: Iterator[pd.DataFrame], kb: str, meta: KbMeta, spec: IndexSpec, k: int,
                  block_rows: int) -> Iterator[pa.Table]:
    """PREDICTIONS tables for the query frames ``batches`` (spec_id, embedding), ``block_rows`` per faiss call."""
    shard_set = load_shard_set(kb, meta, spec, k)

    def answer(frames: list[pd.DataFrame]) -> pa.Table:
        pdf = search_batch(pd.concat(frames, ignore_index=True), shard_set, k, meta.kb_version)
        return pa.Table.from_pandas(pdf, schema=PREDICTIONS, preserve_index=False)

    # Arrow batches are small (spark.sql.execution.arrow.maxRecordsPerBatch); faiss's flat search runs
    # BLAS over query blocks of up to 4096 rows and is ~1.6x slower on 512-row calls, so pool them first
    pending, n_pending = [], 0
    for pdf in batches:
        if len(pdf):
            pending.append(pdf)
            n_pending += len(pdf)
        if n_pending >= block_rows:
            yield answer(pending)
            pending, n_pending = [], 0
    if pending:
        yield answer(pending)


def searcher(kb: str, meta: KbMeta, spec: IndexSpec, k: int, threads: int, block_rows: int, output: str):
    """The mapInPandas function of `search-kb`: task i writes ``output/part-<i:05d>.parquet`` (a retried
    task replaces it; no file for a task without queries) and returns one TASK_STATS row. Shipped with the
    driver's S3 settings."""

    def run_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import faiss
        from pyspark import TaskContext

        from skysift.runtime.output import write_parquet_atomic

        inject_partition_fault()  # test-only switch (runtime.tasks)
        if threads > 0:
            faiss.omp_set_num_threads(threads)
        part = TaskContext.get().partitionId()
        tables = (t.to_batches() for t in search_blocks(batches, kb, meta, spec, k, block_rows))
        rows = write_parquet_atomic(join(output, f"part-{part:05d}.parquet"),
                                    (b for batch_list in tables for b in batch_list), schema=PREDICTIONS)
        yield pd.DataFrame({"part": [part], "rows": [rows]})

    return with_s3_settings(run_batches)

"""The per-partition function of `skysift search-kb` (no Spark import at module level): pool the small Arrow
batches into faiss-sized query blocks and answer them with ``kb.search.search_batch``."""
from __future__ import annotations

from typing import Iterator

import pandas as pd

from skysift.kb.faiss_index import IndexSpec
from skysift.kb.search import load_shard_set, search_batch
from skysift.kb.store import KbMeta


def searcher(kb: str, meta: KbMeta, spec: IndexSpec, k: int, threads: int, block_rows: int):
    def run_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import faiss

        if threads > 0:
            faiss.omp_set_num_threads(threads)
        shard_set = load_shard_set(kb, meta, spec, k)
        # Arrow batches are small (spark.sql.execution.arrow.maxRecordsPerBatch); faiss's flat search runs
        # BLAS over query blocks of up to 4096 rows and is ~1.6x slower on 512-row calls, so pool them first
        pending, n_pending = [], 0
        for pdf in batches:
            if len(pdf):
                pending.append(pdf)
                n_pending += len(pdf)
            if n_pending >= block_rows:
                yield search_batch(pd.concat(pending, ignore_index=True), shard_set, k, meta.kb_version)
                pending, n_pending = [], 0
        if pending:
            yield search_batch(pd.concat(pending, ignore_index=True), shard_set, k, meta.kb_version)

    return run_batches



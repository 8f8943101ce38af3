"""Per-shard work of `skysift build-kb` (no Spark import at module level): add one shard's vectors to a copy of
the trained empty index and write the shard's index file and ID map."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from skysift.kb import embeddings as emb
from skysift.kb.faiss_index import serialize
from skysift.kb.store import shard_file, shard_ids_file, write_bytes, write_id_map
from skysift.schema import KB_ENTRIES

ENTRY_COLUMNS = [f.name for f in KB_ENTRIES if f.name not in ("shard", "local_id")]


def add_shard(pdf: pd.DataFrame, trained: bytes, shard: int, kb: str, threads: int = 1) -> pd.DataFrame:
    """Add one shard's rows to a copy of the trained empty index; write index + ID map; return entries."""
    import faiss

    from skysift.kb.faiss_index import deserialize

    if threads > 0:
        faiss.omp_set_num_threads(threads)
    index = deserialize(trained)
    x = emb.stack(pdf["embedding"])
    index.add(x)
    write_bytes(shard_file(kb, shard), serialize(index))
    out = pdf.reindex(columns=ENTRY_COLUMNS).reset_index(drop=True)
    out["shard"] = np.int32(shard)
    out["local_id"] = np.arange(len(out), dtype=np.int64)
    table = pa.Table.from_pandas(out, schema=KB_ENTRIES, preserve_index=False)
    write_id_map(shard_ids_file(kb, shard), table)
    return emb.object_strings(out)


def shard_builder(kb: str, trained_bc, threads: int):
    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import TaskContext

        parts = [b for b in batches if len(b)]
        if not parts:
            return
        ctx = TaskContext.get()
        shard = ctx.partitionId() if ctx is not None else 0
        yield add_shard(pd.concat(parts, ignore_index=True), trained_bc.value, shard, kb, threads)

    return build



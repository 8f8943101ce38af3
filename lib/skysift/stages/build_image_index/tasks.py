"""The per-shard task of `skysift build-image-index` (no Spark here): read a slice of the image_vectors
files, check each row's vector, add the good ones to a copy of the trained empty index and write the shard
with ``kb.store.write_shard`` (index file, ID map = IMAGE_INDEX_ENTRIES rows, entries part)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from skysift.kb import embeddings as emb
from skysift.kb.store import write_shard
from skysift.schema import IMAGE_INDEX_ENTRIES

STAGE = "build-image-index"
COLUMNS = ["image_id", "ra_deg", "dec_deg", "embedding", "model_version", "features_file", "features_row", "source_file"]


def vector_reasons(table: pa.Table, dim: int) -> np.ndarray:
    """(N,) object: why a row's pooled vector cannot enter the index (None when it can)."""
    col = table.column("embedding").combine_chunks()
    lengths = col.value_lengths().fill_null(-1).to_numpy(zero_copy_only=False)
    out = np.full(table.num_rows, None, dtype=object)
    out[lengths < 0] = "embedding is null"
    wrong = (lengths >= 0) & (lengths != dim)
    out[wrong] = [f"embedding has {n} values, the index has dimension {dim}" for n in lengths[wrong]]
    ok = np.flatnonzero(lengths == dim)
    if len(ok):
        x = emb.stack(col.take(pa.array(ok)))
        bad = ~np.isfinite(x).all(axis=1)
        out[ok[bad]] = "embedding has non-finite values"
    ids = table.column("image_id").to_pylist()
    out[[i for i, v in enumerate(ids) if v is None and out[i] is None]] = "image_id is null"
    return out


def shard_task(index_uri: str, vectors_uri: str, trained: bytes, dim: int, threads: int, first: int,
               files: list[str]) -> dict:
    """Build shard ``first`` from the vector files ``files``; returns {shard, rows, rejected, index_bytes}."""
    from skysift.runtime.filesystem import join
    from skysift.runtime.rejects import Reject, write_rejects

    parts, rejects = [], []
    for f in files:
        t = read_file(f)
        reasons = vector_reasons(t, dim)
        ids = t.column("image_id").to_pylist()
        rejects += [Reject(f, STAGE, r, row_index=i, spec_id=ids[i]) for i, r in enumerate(reasons) if r is not None]
        keep = np.flatnonzero(reasons == None)  # noqa: E711 - elementwise on an object array
        if len(keep):
            parts.append(t.take(pa.array(keep)))
    n_rejected = write_rejects(index_uri, rejects, name=f"part-{first:010d}.parquet")
    if not parts:
        return {"shard": first, "rows": 0, "rejected": n_rejected, "index_bytes": 0}
    t = pa.concat_tables(parts)
    n = t.num_rows
    id_map = pa.Table.from_pydict({
        "image_id": t.column("image_id"), "ra_deg": t.column("ra_deg"), "dec_deg": t.column("dec_deg"),
        "features_uri": [join(vectors_uri, p) for p in t.column("features_file").to_pylist()],
        "features_row": t.column("features_row"), "model_version": t.column("model_version"),
        "source_file": t.column("source_file"),
        "shard": np.full(n, first, np.int32), "local_id": np.arange(n, dtype=np.int64),
    }, schema=IMAGE_INDEX_ENTRIES)
    size = write_shard(index_uri, first, trained, emb.stack(t.column("embedding")), id_map, threads)
    return {"shard": first, "rows": n, "rejected": n_rejected, "index_bytes": size}


def read_file(uri: str, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file of the vectors table (any runtime.filesystem URI)."""
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import resolve

    fs, path = resolve(uri)
    return pq.read_table(path, filesystem=fs, columns=columns or COLUMNS)

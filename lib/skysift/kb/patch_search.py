"""Image search over a sharded faiss index: patch-feature files, candidates re-ranked by Friberg's combined
score, and the paper's exhaustive combined-score scan.

Friberg (section 3.6) compares the query's (P, F) patch features with those of every database image: an
exhaustive scan, O(N P F) per query (196 x 2048 values per image in the paper). skysift adds a faiss
index over each image's pooled, L2-normalised vector (``kb.store`` shards: ``build-image-index``): the
index proposes ``candidates`` images per query and only those are scored with the combined similarity
(``rerank``). ``exhaustive_scan`` is the paper's way, kept as a mode and as the reference the faiss
path's recall@k is measured against.

Patch features live beside the pooled vectors (``embed-images``): one ``.npy`` file (n, P, F) per task,
float16 by default, read by row. Local files are memory-mapped (only the rows asked for are read);
files behind other URIs (s3://) are read whole once. They are cached with the index's shards, in the same
``runtime.cache`` group, so loading one never evicts the other.
"""
from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import pyarrow as pa

from skysift.runtime import filesystem as fsx

FEATURES_DIR = "features"


def features_name(first_index: int) -> str:
    """Relative path of the patch-feature file of the task that starts at ``first_index``."""
    return f"{FEATURES_DIR}/part-{first_index:010d}.npy"


def write_features(uri: str, features: np.ndarray) -> int:
    """Write (n, P, F) patch features as one .npy file (any runtime.filesystem URI); returns its bytes."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(features), allow_pickle=False)
    data = buf.getvalue()
    fsx.write_bytes(uri, data)
    return len(data)


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://"):]
    return uri if "://" not in uri else None


def read_features(uri: str) -> np.ndarray:
    """The (n, P, F) array of a patch-feature file: memory-mapped when local, else read whole."""
    local = _local_path(uri)
    if local is not None and os.path.exists(local):
        return np.load(local, mmap_mode="r", allow_pickle=False)
    return np.load(io.BytesIO(fsx.read_bytes(uri)), allow_pickle=False)


def cached_features(uri: str, group: Any) -> np.ndarray:
    """``read_features`` once per worker, cached in ``group`` (the index's cache group)."""
    from skysift.runtime.cache import cached

    return cached(group, ("features", uri), lambda: read_features(uri))


def gather(uris: np.ndarray, rows: np.ndarray, group: Any = None) -> np.ndarray:
    """(n, P, F) features of entries (features_uri[i], features_row[i]), in the stored dtype."""
    uris = np.asarray(uris, dtype=object)
    rows = np.asarray(rows, dtype=np.int64)
    if len(uris) == 0:
        raise ValueError("gather needs at least one entry")
    out = None
    for uri in dict.fromkeys(uris.tolist()):
        sel = np.flatnonzero(uris == uri)
        arr = cached_features(uri, group) if group is not None else read_features(uri)
        if out is None:
            out = np.empty((len(uris),) + arr.shape[1:], dtype=arr.dtype)
        order = np.argsort(rows[sel], kind="stable")  # ascending rows: sequential reads of a memory map
        out[sel[order]] = arr[rows[sel][order]]
    return out


class EntryFeatures:
    """Where each global id's patch features are: features_uri and features_row in global-id order."""

    def __init__(self, uris: np.ndarray, rows: np.ndarray, group: Any = None):
        self.uris = np.asarray(uris, dtype=object)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.group = group

    def __len__(self) -> int:
        return len(self.uris)

    def of(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids), P, F) features of global ids ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        return gather(self.uris[ids], self.rows[ids], self.group)

    def by_file(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """[(features_uri, rows, global ids)] per file, rows ascending: the exhaustive scan's work items."""
        out = []
        for uri in dict.fromkeys(self.uris.tolist()):
            gid = np.flatnonzero(self.uris == uri)
            order = np.argsort(self.rows[gid], kind="stable")
            out.append((uri, self.rows[gid][order], gid[order]))
        return out


def index_entries(kb: str, meta, columns: list[str] | None = None) -> pa.Table:
    """The ID maps of every shard of ``kb``, concatenated in global-id order (shard order, local_id)."""
    from skysift.kb.store import read_id_map, shard_ids_file

    parts = [read_id_map(shard_ids_file(kb, s), columns=columns) for s in meta.shards]
    return pa.concat_tables(parts) if parts else pa.table({})


def entry_features(kb: str, meta) -> EntryFeatures:
    """``EntryFeatures`` of an image index, cached with its shards (group ('kb', kb, kb_version))."""
    from skysift.runtime.cache import cached

    group = ("kb", str(kb), meta.kb_version)

    def load() -> EntryFeatures:
        t = index_entries(kb, meta, ["features_uri", "features_row"])
        return EntryFeatures(t.column("features_uri").to_numpy(zero_copy_only=False),
                             t.column("features_row").to_numpy(zero_copy_only=False), group)

    return cached(group, ("entry_features",), load)


def _as_tensor(x):
    import torch

    return x if torch.is_tensor(x) else torch.from_numpy(np.ascontiguousarray(x))


def best_over_symmetries(terms, n_queries: int) -> tuple[np.ndarray, ...]:
    """(sim, cos, L2, L3) arrays of shape (Q * S, n), the S rows of a query consecutive -> each (Q, n): the
    terms of the symmetry with the highest combined similarity (the first on ties)."""
    sim = np.asarray(terms[0])
    n_sym = sim.shape[0] // n_queries
    if n_sym == 1:
        return tuple(np.asarray(t) for t in terms)
    best = np.argmax(sim.reshape(n_queries, n_sym, -1), axis=1)[:, None, :]
    return tuple(np.take_along_axis(np.asarray(t).reshape(n_queries, n_sym, -1), best, axis=1)[:, 0] for t in terms)


def _flat_queries(q):
    """(Q, P, F) or (Q, S, P, F) query features -> ((Q * S, P, F), Q)."""
    return (q.reshape(-1, *q.shape[2:]), q.shape[0]) if q.dim() == 4 else (q, q.shape[0])


def rerank(query_features, candidates: np.ndarray, entries: EntryFeatures, k: int, weights,
           device: str = "cpu") -> dict[str, np.ndarray]:
    """Re-rank each query's candidate ids (Q, C; -1 = none) by the combined similarity of the patch features
    (computed on ``device``); {'ids', 'similarity', 'cos', 'l2', 'l3'}, each (Q, k), best first (-1 / NaN
    past the candidates). Query features (Q, S, P, F) are S versions of each query (its symmetries): a
    candidate scores its best over them."""
    from skysift.models.image_similarity import similarity_matrix

    q = _as_tensor(query_features).to(device)
    n_q = len(candidates)
    out = {"ids": np.full((n_q, k), -1, np.int64), **{t: np.full((n_q, k), np.nan, np.float32)
                                                     for t in ("similarity", "cos", "l2", "l3")}}
    for i in range(n_q):
        cand = np.unique(candidates[i][candidates[i] >= 0])  # unique + sorted: ties go to the lower id
        if len(cand) == 0:
            continue
        qi = q[i] if q.dim() == 4 else q[i:i + 1]
        sim, cos, l2, l3 = (t[0] for t in best_over_symmetries([t.cpu().numpy() for t in similarity_matrix(
            qi, _as_tensor(entries.of(cand)), weights, return_terms=True)], 1))
        order = np.lexsort((cand, -sim))[:k]
        m = len(order)
        out["ids"][i, :m] = cand[order]
        for name, val in (("similarity", sim), ("cos", cos), ("l2", l2), ("l3", l3)):
            out[name][i, :m] = val[order]
    return out


def merge_best(parts: list[dict[str, np.ndarray]], k: int) -> dict[str, np.ndarray]:
    """Merge per-part top-k dicts (as ``rerank`` returns) into the global top-k by similarity (ties: lower id)."""
    ids = np.concatenate([p["ids"] for p in parts], axis=1)
    sim = np.concatenate([p["similarity"] for p in parts], axis=1)
    key = np.where(ids < 0, -np.inf, sim)
    tie = np.where(ids < 0, np.iinfo(np.int64).max, ids)
    order = np.lexsort((tie, -key), axis=1)[:, :k]
    out = {"ids": np.take_along_axis(ids, order, axis=1)}
    for name in ("similarity", "cos", "l2", "l3"):
        out[name] = np.take_along_axis(np.concatenate([p[name] for p in parts], axis=1), order, axis=1)
    return out


def scan_file(query_features, uri: str, rows: np.ndarray, gids: np.ndarray, k: int, weights,
              group: Any = None, block_rows: int = 512, device: str = "cpu") -> dict[str, np.ndarray]:
    """Top-k of every query among the entries (rows, gids) of one patch-feature file (exhaustive), the
    scores computed on ``device``; (Q, S, P, F) queries score their best symmetry (as ``rerank``)."""
    from skysift.models.image_similarity import similarity_matrix

    q, n_q = _flat_queries(_as_tensor(query_features).to(device))
    arr = cached_features(uri, group) if group is not None else read_features(uri)
    best = None
    for start in range(0, len(rows), block_rows):
        r, g = rows[start:start + block_rows], gids[start:start + block_rows]
        sim, cos, l2, l3 = best_over_symmetries([t.cpu().numpy() for t in similarity_matrix(
            q, _as_tensor(np.asarray(arr[r])), weights, return_terms=True)], n_q)
        part = {"ids": np.broadcast_to(g, sim.shape).astype(np.int64), "similarity": sim, "cos": cos,
                "l2": l2, "l3": l3}
        best = merge_best([part] if best is None else [best, part], k)
    return best


def exhaustive_scan(query_features, entries: EntryFeatures, k: int, weights, device: str = "cpu") -> dict[str, np.ndarray]:
    """Friberg's search: the combined similarity of every query against every entry, top-k (in-process)."""
    parts = [scan_file(query_features, uri, rows, gids, k, weights, entries.group, device=device)
             for uri, rows, gids in entries.by_file()]
    return merge_best(parts, k)

"""Search a sharded KB: every query batch is answered by every shard, the partial top-K lists merged into the
global top-K (``vote.merge_topk``) and the K neighbours vote (``vote.vote``). For ``flat`` KBs the result equals
one ``faiss.IndexFlatL2`` over all entries. Shards load once per Python worker (``store.load_shard``).
``search_batch`` is plain pandas -> pandas: called per Spark batch by `search-kb` and by ``search_local``.

IVF shards share their coarse quantizer: build-kb trains one index and every shard is a copy of it with its own
entries added. Assigning the queries to their nprobe cells is then done once per batch, not once per shard
(``SharedCoarse``), and each shard scans its lists for those cells (``IndexIVF.search_preassigned``) and re-ranks
its candidates exactly as ``IndexRefineFlat`` does; the result is faiss's own per-shard search bit for bit
(tested). Why: at the benchmark's 768-d, IVF2000 shards, the coarse step (a 2,000-centroid flat search) was about
half of a shard's query cost (0.15 of 0.275 ms a query, one thread, 250k entries), so four shards paid it four times.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skysift.kb import embeddings as emb
from skysift.kb.faiss_index import IndexSpec
from skysift.kb.store import KbError, KbMeta, LoadedShard, load_shard, read_meta
from skysift.kb.vote import MISSING, merge_topk, vote


def search_spec(meta: KbMeta, nprobe: int = 0, ef_search: int = 0, refine_k_factor: float = 0.0) -> IndexSpec:
    """The KB's index spec with the query-time overrides applied (0 keeps the build setting)."""
    changes = {k: v for k, v in (("nprobe", nprobe), ("ef_search", ef_search),
                                 ("refine_k_factor", refine_k_factor)) if v}
    return dataclasses.replace(meta.index, **changes)


@dataclass
class SharedCoarse:
    """The one coarse quantizer of a set of IVF shards and the cells each query visits."""

    quantizer: object
    """The first shard's quantizer (every shard's holds the same centroids)."""
    nprobe: int
    """Cells visited per query (the shards' nprobe)."""


def _ivf_parts(index):
    """(IVF index, refine factor, flat refine index or None) of an ``IVF...`` or ``IVF...,RFlat`` index; None when
    the index is neither (flat, HNSW) or its refine step is not a flat L2 index."""
    import faiss

    top = faiss.downcast_index(index)
    if isinstance(top, faiss.IndexRefine):
        refine = faiss.downcast_index(top.refine_index)
        base = faiss.downcast_index(top.base_index)
        if not isinstance(refine, faiss.IndexFlatL2):
            return None
        return (base, float(top.k_factor), refine) if isinstance(base, faiss.IndexIVF) else None
    return (top, 1.0, None) if isinstance(top, faiss.IndexIVF) else None


def _flat_vectors(index) -> np.ndarray:
    """The vectors of a flat index (a view, no copy)."""
    import faiss

    return faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)


def shared_coarse(shards: list[LoadedShard]) -> SharedCoarse | None:
    """The shards' common coarse quantizer, or None unless every shard is IVF with the same flat L2 quantizer
    (same centroids, same nprobe and refine factor) and nprobe <= nlist (above it faiss's own search clamps nprobe
    while ``search_preassigned`` wants nprobe cells a query: small KBs, where sharing gains nothing, search as
    before)."""
    import faiss

    parts = [_ivf_parts(s.index) for s in shards]
    if len(shards) < 2 or any(p is None for p in parts):
        return None
    first, k_factor, _ = parts[0]
    quantizer = faiss.downcast_index(first.quantizer)
    if not isinstance(quantizer, faiss.IndexFlatL2) or first.nprobe > first.nlist:
        return None
    centroids = _flat_vectors(quantizer)
    for ivf, factor, _ in parts[1:]:
        q = faiss.downcast_index(ivf.quantizer)
        if (not isinstance(q, faiss.IndexFlatL2) or ivf.nprobe != first.nprobe or factor != k_factor
                or q.ntotal != quantizer.ntotal or not np.array_equal(_flat_vectors(q), centroids)):
            return None
    return SharedCoarse(quantizer=quantizer, nprobe=int(first.nprobe))


@dataclass
class ShardSet:
    """All shards of a KB as one searchable unit: global id = offset of its shard + local id."""

    shards: list[LoadedShard]
    offsets: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    coarse: SharedCoarse | None = None
    """Set when the shards are IVF copies of one trained index: the coarse step runs once per batch."""

    @property
    def spec_ids(self) -> np.ndarray:
        """``ids`` under the name of the spectra KBs' id column."""
        return self.ids

    @classmethod
    def of(cls, shards: list[LoadedShard]) -> "ShardSet":
        sizes = np.array([len(s.spec_ids) for s in shards], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(
            shards=shards,
            offsets=offsets,
            ids=np.concatenate([s.ids for s in shards]) if shards else np.array([], dtype=object),
            labels=np.concatenate([s.labels for s in shards]) if shards else np.array([], dtype=object),
            coarse=shared_coarse(shards),
        )


def load_shard_set(kb: str, meta: KbMeta, spec: IndexSpec, k: int) -> ShardSet:
    """Every shard of ``kb`` (cached per worker)."""
    return ShardSet.of([load_shard(kb, s, spec, meta.kb_version, k, meta.id_column) for s in meta.shards])


def search_shards(queries: np.ndarray, shard_set: ShardSet, k: int,
                  share_coarse: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Global top-``k`` (squared L2 distances, global ids) of ``queries`` over all shards; ``share_coarse=False``
    lets every shard assign the queries itself (faiss's own search, the reference of the tests)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    coarse = shard_set.coarse if share_coarse else None
    cells = coarse.quantizer.search(queries, coarse.nprobe) if coarse is not None else None
    parts_d, parts_i = [], []
    for shard, off in zip(shard_set.shards, shard_set.offsets):
        d, i = shard.index.search(queries, k) if cells is None else preassigned_search(shard.index, queries, k, cells)
        parts_d.append(d)
        parts_i.append(np.where(i == MISSING, MISSING, i + off))
    return merge_topk(parts_d, parts_i, k)


def preassigned_search(index, queries: np.ndarray, k: int, cells: tuple[np.ndarray, np.ndarray]):
    """faiss's search of one IVF (or IVF + RFlat) shard with the coarse assignment ``cells`` = (distances,
    cell ids) given: the IVF lists of those cells are scanned for k x k_factor candidates, which the flat refine
    index re-ranks by their exact distance (what ``IndexRefineFlat.search`` does)."""
    ivf, k_factor, refine = _ivf_parts(index)
    cell_d, cell_i = cells
    if refine is None:
        return ivf.search_preassigned(queries, k, cell_i, cell_d)
    import faiss

    k_base = int(k * k_factor)
    _, cand = ivf.search_preassigned(queries, k_base, cell_i, cell_d)
    missing = cand < 0
    exact = np.empty(cand.shape, dtype=np.float32)
    safe = np.ascontiguousarray(np.where(missing, 0, cand), dtype=np.int64)
    refine.compute_distance_subset(len(queries), faiss.swig_ptr(queries), k_base, faiss.swig_ptr(exact),
                                   faiss.swig_ptr(safe))
    exact[missing] = np.inf
    # k_base >= k (refine_k_factor >= 1 is validated); faiss reports a missing neighbour as (FLT_MAX, -1)
    order = np.argsort(exact, axis=1, kind="stable")[:, :k]
    d, i = np.take_along_axis(exact, order, axis=1), np.take_along_axis(cand, order, axis=1)
    return np.where(np.isinf(d), np.float32(np.finfo(np.float32).max), d), i


def _rows_to_lists(values: np.ndarray, valid: np.ndarray) -> list:
    if valid.all():
        return list(values)
    return [row[m] for row, m in zip(values, valid)]


def search_batch(pdf: pd.DataFrame, shard_set: ShardSet, k: int, kb_version: str) -> pd.DataFrame:
    """One batch of queries (spec_id, embedding) -> predictions rows (PREDICTIONS columns)."""
    x = emb.stack(pdf["embedding"])
    d2, gid = search_shards(x, shard_set, k)
    valid = gid != MISSING
    # faiss L2 distances are squared; the vote (and the paper's statistics) use the Euclidean distance
    dist = np.sqrt(np.maximum(d2, 0.0), dtype=np.float32)
    safe = np.where(valid, gid, 0)
    ids = shard_set.spec_ids[safe]
    labs = shard_set.labels[safe]
    label, score, _, _ = vote(dist, np.where(valid, labs, None), valid)
    return emb.object_strings(pd.DataFrame(
        {
            "spec_id": pdf["spec_id"].to_numpy(),
            "label": label,
            "score": score,
            "neighbor_ids": _rows_to_lists(ids, valid),
            "neighbor_labels": _rows_to_lists(labs, valid),
            "neighbor_distances": _rows_to_lists(dist, valid),
            "kb_version": kb_version,
        }
    ))


def search_local(queries: pd.DataFrame, kb: str, k: int = 3, **overrides) -> pd.DataFrame:
    """Sequential runner: the same per-batch function without Spark (tests, notebooks, debugging);
    ``overrides``: nprobe / ef_search / refine_k_factor as in ``search_spec``."""
    meta = read_meta(kb)
    check_kb(meta, kb)
    spec = search_spec(meta, **overrides)
    shard_set = load_shard_set(kb, meta, spec, k)
    return search_batch(queries, shard_set, k, meta.kb_version)


def check_kb(meta: KbMeta, kb: str) -> None:
    """Fail clearly on a KB that cannot answer anything."""
    if meta.n_entries == 0 or not meta.shards:
        raise KbError(f"{kb}: the KB is empty (0 entries); rebuild it with labelled embeddings")


def check_queries(meta: KbMeta, kb: str, path: str, dims: list[int], versions: list[str], check_version: bool):
    """Fail clearly on a dimension or model-version mismatch between queries and KB."""
    bad = sorted(d for d in dims if d != meta.dim)
    if bad:
        raise KbError(
            f"{path}: query embeddings have dimension {bad[0] if len(set(bad)) == 1 else sorted(set(bad))}, "
            f"but the KB {kb} was built from dimension {meta.dim} embeddings"
        )
    if check_version and meta.model_version is not None and versions:
        other = sorted(set(versions) - {meta.model_version})
        if other:
            raise KbError(
                f"{path}: query embeddings come from model_version {other} but the KB {kb} was built with "
                f"model_version {meta.model_version!r} ({meta.model_uri}); re-embed the queries or rebuild the KB "
                "(or --set check_model_version=false)"
            )



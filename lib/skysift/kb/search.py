"""Search a sharded KB: every query batch is answered by every shard, the partial top-K lists merged into the
global top-K (``vote.merge_topk``) and the K neighbours vote (``vote.vote``). For ``flat`` KBs the result equals
one ``faiss.IndexFlatL2`` over all entries. Shards load once per Python worker (``store.load_shard``).
``search_batch`` is plain pandas -> pandas: called per Spark batch by `search-kb` and by ``search_local``.
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
class ShardSet:
    """All shards of a KB as one searchable unit: global id = offset of its shard + local id."""

    shards: list[LoadedShard]
    offsets: np.ndarray
    ids: np.ndarray
    labels: np.ndarray

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
        )


def load_shard_set(kb: str, meta: KbMeta, spec: IndexSpec, k: int) -> ShardSet:
    """Every shard of ``kb`` (cached per worker)."""
    return ShardSet.of([load_shard(kb, s, spec, meta.kb_version, k, meta.id_column) for s in meta.shards])


def search_shards(queries: np.ndarray, shard_set: ShardSet, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Global top-``k`` (squared L2 distances, global ids) of ``queries`` over all shards."""
    parts_d, parts_i = [], []
    for shard, off in zip(shard_set.shards, shard_set.offsets):
        d, i = shard.index.search(queries, k)
        parts_d.append(d)
        parts_i.append(np.where(i == MISSING, MISSING, i + off))
    return merge_topk(parts_d, parts_i, k)


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



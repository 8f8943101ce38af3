"""The IVF shards of one KB share their coarse quantizer (kb.search.SharedCoarse): assigning the queries once per
batch and scanning each shard with the given cells must return faiss's own per-shard search, ids and distances
bit for bit, with and without the exact re-ranking; shards that are not copies of one trained IVF index search
as before."""
from __future__ import annotations

import dataclasses

import faiss
import numpy as np
import pytest

from skysift.kb.faiss_index import IndexSpec, apply_search_params, deserialize, new_index, serialize, train_index
from skysift.kb.search import ShardSet, search_shards
from skysift.kb.store import LoadedShard

DIM, N, SHARDS, K = 32, 8_000, 4, 5


def _clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((40, DIM)).astype(np.float32) * 3
    return (centres[rng.integers(0, 40, n)] + rng.standard_normal((n, DIM))).astype(np.float32)


def _shards(spec: IndexSpec, x: np.ndarray, trained: bytes | None = None) -> list[LoadedShard]:
    if trained is None:
        trained = serialize(train_index(new_index(spec, DIM, len(x)), x[:4_000]))
    out = []
    for part in np.array_split(np.arange(len(x)), SHARDS):
        index = deserialize(trained)
        index.add(x[part])
        apply_search_params(index, spec, K)
        out.append(LoadedShard(index=index, ids=np.array([f"e{i}" for i in part], dtype=object),
                               labels=np.full(len(part), None, dtype=object)))
    return out


@pytest.fixture(scope="module")
def data():
    return _clustered(N, 1), _clustered(300, 2)


@pytest.mark.parametrize("refine,nprobe,k_factor", [(True, 3, 8.0), (True, 32, 2.0), (False, 4, 1.0)])
def test_shared_coarse_search_equals_faiss_per_shard_search(data, refine, nprobe, k_factor):
    x, q = data
    spec = IndexSpec(kind="ivfpq", nlist=32, pq_m=8, pq_nbits=6, refine=refine, nprobe=nprobe, refine_k_factor=k_factor)
    shard_set = ShardSet.of(_shards(spec, x))
    assert shard_set.coarse is not None and shard_set.coarse.nprobe == nprobe
    d_shared, i_shared = search_shards(q, shard_set, K)
    d_faiss, i_faiss = search_shards(q, shard_set, K, share_coarse=False)
    np.testing.assert_array_equal(i_shared, i_faiss)
    np.testing.assert_array_equal(d_shared, d_faiss)
    assert (i_shared >= 0).all()
    if refine:  # the re-ranked distances are exact squared L2
        exact = ((q[:, None, :] - x[i_shared]) ** 2).sum(-1)
        np.testing.assert_allclose(d_shared, exact, rtol=1e-4, atol=1e-3)


def test_fewer_candidates_than_k_give_missing_slots_like_faiss(data):
    x, q = data
    spec = IndexSpec(kind="ivfpq", nlist=32, pq_m=8, pq_nbits=6, nprobe=1, refine_k_factor=1.0)
    small = x[:200]  # 50 entries a shard over 32 cells: one cell holds fewer than k
    shard_set = ShardSet.of(_shards(spec, small, serialize(train_index(new_index(spec, DIM, N), x[:4_000]))))
    d_shared, i_shared = search_shards(q, shard_set, K)
    d_faiss, i_faiss = search_shards(q, shard_set, K, share_coarse=False)
    np.testing.assert_array_equal(i_shared, i_faiss)
    np.testing.assert_array_equal(d_shared, d_faiss)


def test_shards_of_different_trainings_or_kinds_do_not_share(data):
    x, _ = data
    spec = IndexSpec(kind="ivfpq", nlist=32, pq_m=8, pq_nbits=6)
    a, b = _shards(spec, x), _shards(spec, x[::-1].copy())  # two trainings: other centroids
    assert ShardSet.of(a[:2] + b[2:]).coarse is None
    assert ShardSet.of(_shards(dataclasses.replace(spec, nprobe=5), x)[:2] + a[2:]).coarse is None
    assert ShardSet.of(_shards(IndexSpec(kind="flat"), x)).coarse is None
    assert ShardSet.of(_shards(IndexSpec(kind="hnsw"), x)).coarse is None
    assert ShardSet.of(a[:1]).coarse is None  # one shard: nothing to share
    assert ShardSet.of(_shards(dataclasses.replace(spec, nprobe=33), x)).coarse is None  # nprobe > nlist

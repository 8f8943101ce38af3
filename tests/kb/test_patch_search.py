"""Patch-feature store, combined-score re-ranking and the exhaustive scan against brute force; the kb
engine's generic id column (defaults keep spectra KBs as they were)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import torch

from skysift.kb import patch_search as ps
from skysift.kb.faiss_index import IndexSpec, new_index, serialize
from skysift.kb.store import KbMeta, load_shard, write_shard
from skysift.models.image_similarity import SimilarityWeights, combined_similarity_numpy


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("feats")
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(30, 4, 8)).astype(np.float32)
    uris, rows = [], []
    for k, (a, b) in enumerate(((0, 12), (12, 30))):
        uri = str(root / f"part-{k}.npy")
        ps.write_features(uri, feats[a:b])
        uris += [uri] * (b - a)
        rows += list(range(b - a))
    return feats, ps.EntryFeatures(np.array(uris, dtype=object), np.array(rows))


def _brute(q, feats, k):
    sims = np.array([[combined_similarity_numpy(qi, f) for f in feats] for qi in q])
    return np.argsort(-sims, axis=1, kind="stable")[:, :k], sims


def test_gather_reads_the_right_rows(store):
    feats, entries = store
    ids = np.array([29, 0, 13, 11, 12])
    assert np.array_equal(entries.of(ids), feats[ids])
    assert isinstance(ps.read_features(entries.uris[0]), np.memmap)  # local files are memory-mapped


def test_exhaustive_scan_equals_brute_force(store):
    feats, entries = store
    q = np.random.default_rng(1).normal(size=(3, 4, 8)).astype(np.float32)
    best = ps.exhaustive_scan(torch.from_numpy(q), entries, 5, SimilarityWeights())
    ids, sims = _brute(q, feats, 5)
    assert np.array_equal(best["ids"], ids)
    assert np.allclose(best["similarity"], np.take_along_axis(sims, ids, 1), atol=1e-5)
    assert np.allclose(best["similarity"], (best["cos"] + 1 / (1 + best["l2"]) + 1 / (1 + best["l3"])) / 3, atol=1e-6)


def test_rerank_orders_candidates_and_pads(store):
    feats, entries = store
    q = feats[[3, 17]] + 0.01
    cand = np.array([[5, 3, 9, -1], [17, 2, -1, -1]])
    out = ps.rerank(torch.from_numpy(q), cand, entries, 3, SimilarityWeights())
    assert out["ids"][0, 0] == 3 and out["ids"][1].tolist()[:2] == [17, 2] and out["ids"][1, 2] == -1
    assert np.isnan(out["similarity"][1, 2])
    ref = sorted([5, 3, 9], key=lambda j: -combined_similarity_numpy(q[0], feats[j]))
    assert out["ids"][0].tolist() == ref


def test_merge_best_keeps_global_order():
    a = {"ids": np.array([[1, 4]]), "similarity": np.array([[0.9, 0.5]])}
    b = {"ids": np.array([[7, -1]]), "similarity": np.array([[0.7, np.nan]])}
    for p in (a, b):
        for t in ("cos", "l2", "l3"):
            p[t] = p["similarity"]
    assert ps.merge_best([a, b], 3)["ids"].tolist() == [[1, 7, 4]]


def test_generic_id_column_and_old_kb_json(tmp_path):
    index = new_index(IndexSpec(), 4, 3)
    id_map = pa.table({"image_id": ["a", "b", "c"], "shard": pa.array([0, 0, 0], pa.int32()),
                       "local_id": pa.array([0, 1, 2], pa.int64())})
    write_shard(str(tmp_path), 0, serialize(index), np.eye(3, 4, dtype=np.float32), id_map)
    shard = load_shard(str(tmp_path), 0, IndexSpec(), "v", 2, id_column="image_id")
    assert shard.ids.tolist() == ["a", "b", "c"] and shard.labels.tolist() == [None] * 3  # no label column
    d, i = shard.index.search(np.eye(3, 4, dtype=np.float32)[1:2], 1)
    assert i[0, 0] == 1
    # a _kb.json written before the field existed reads as a spectra KB
    old = json.loads(KbMeta(index=IndexSpec(), factory="Flat", dim=4, n_entries=3, shards=(0,),
                            shard_sizes=(3,)).to_json())
    old.pop("id_column")
    assert KbMeta.from_json(json.dumps(old)).id_column == "spec_id"


def test_best_over_symmetries_takes_each_entrys_best_version():
    from skysift.kb.patch_search import best_over_symmetries

    rng = np.random.default_rng(0)
    sim = rng.uniform(size=(3 * 4, 5))  # 3 queries x 4 versions, 5 entries
    other = sim * 10
    best_sim, best_other = best_over_symmetries([sim, other], 3)
    assert best_sim.shape == (3, 5)
    assert np.array_equal(best_sim, sim.reshape(3, 4, 5).max(axis=1))
    assert np.array_equal(best_other, best_sim * 10)  # the other terms follow the winning version
    assert best_over_symmetries([sim], 12)[0] is not None and np.array_equal(best_over_symmetries([sim], 12)[0], sim)

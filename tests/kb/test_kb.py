"""Knowledge base: vote arithmetic, top-K merge, sharded build + distributed search vs one faiss.IndexFlatL2."""
from __future__ import annotations

import math
import json

import faiss
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.stages.build_kb import job as build
from skysift.stages.search_kb import job as search
from skysift.kb.search import search_local
from skysift.kb.faiss_index import IndexSpec, factory_string
from skysift.kb.store import KbError, read_meta
from skysift.kb.vote import merge_topk, softmax_weights, vote
from skysift.runtime.rejects import read_rejects
from skysift.runtime.output import read_table

DIM = 16


# ---------------------------------------------------------------- numpy kernels
def test_vote_matches_hand_computed_case():
    # d = (1, 2, 3), labels (A, B, B):
    # w = e^-d = (0.3678794, 0.1353353, 0.0497871)
    # softmax: e^w = (1.4446679, 1.1449228, 1.0510474), sum = 3.6406381
    # p = (0.3968175, 0.3144848, 0.2886977); score(B) = 0.6031825 > score(A) = 0.3968175
    label, score, classes, scores = vote(np.array([[1.0, 2.0, 3.0]]), np.array([["A", "B", "B"]], dtype=object))
    assert label[0] == "B"
    assert score[0] == pytest.approx(0.6031825, abs=1e-6)
    assert dict(zip(classes, scores[0])) == pytest.approx({"A": 0.3968175, "B": 0.6031825}, abs=1e-6)


def test_vote_single_nearest_wins_when_distances_far_apart():
    # d = (0, 10, 10), labels (A, B, C): e^w = (e, 1.0000454, 1.0000454) -> A = e / (e + 2.0000908)
    label, score, _, _ = vote(np.array([[0.0, 10.0, 10.0]]), np.array([["A", "B", "C"]], dtype=object))
    assert label[0] == "A"
    assert score[0] == pytest.approx(math.e / (math.e + 2 * math.exp(math.exp(-10))), rel=1e-9)


def test_vote_tie_goes_to_nearest_and_empty_slots_ignored():
    d = np.array([[1.0, 1.0, np.inf], [np.inf, np.inf, np.inf]])
    labels = np.array([["B", "A", None], [None, None, None]], dtype=object)
    valid = np.array([[True, True, False], [False, False, False]])
    label, score, _, _ = vote(d, labels, valid)
    assert label[0] == "B" and score[0] == pytest.approx(0.5)
    assert label[1] is None and np.isnan(score[1])
    assert softmax_weights(d, valid)[0].tolist() == [0.5, 0.5, 0.0]


def test_merge_topk_orders_by_distance_then_id_and_pads():
    d1, i1 = np.array([[0.5, 2.0]]), np.array([[7, 3]])
    d2, i2 = np.array([[0.5, 1.0]]), np.array([[2, -1]])
    d, i = merge_topk([d1, d2], [i1, i2], 4)
    assert i.tolist() == [[2, 7, 3, -1]]
    assert d[0, :3].tolist() == [0.5, 0.5, 2.0] and np.isinf(d[0, 3])
    d, i = merge_topk([d1], [i1], 3)
    assert i.tolist() == [[7, 3, -1]]


def test_factory_strings():
    assert factory_string(IndexSpec("flat"), 768, 10**6) == "Flat"
    assert factory_string(IndexSpec("ivfpq"), 768, 10**6) == "IVF4000,PQ96x8np,RFlat"
    assert factory_string(IndexSpec("hnsw", hnsw_m=16), 64, 10) == "HNSW16"
    import faiss

    ivfpq = faiss.downcast_index(faiss.index_factory(768, factory_string(IndexSpec("ivfpq", refine=False), 768, 10**6)))
    assert not ivfpq.do_polysemous_training  # slow and useless without Hamming-filtered search
    assert factory_string(IndexSpec("pq", pq_m=8, refine=False), 64, 10) == "PQ8x8np"
    with pytest.raises(ValueError, match="does not divide"):
        factory_string(IndexSpec("pq", pq_m=7), 64, 10)


# ---------------------------------------------------------------- Spark build + search
def clusters(n, seed, centers, labels=("a", "b", "c"), spread=0.6):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, len(labels), n)
    x = centers[lab] + spread * rng.standard_normal((n, centers.shape[1]))
    return x.astype(np.float32), np.array(labels, dtype=object)[lab]


def write_embeddings(path, ids, x, model_version="1"):
    t = pa.table(
        {
            "spec_id": pa.array(ids),
            "embedding": pa.array(list(x), type=pa.list_(pa.float32())),
            "model_uri": pa.array(["models:/test@champion"] * len(ids)),
            "model_version": pa.array([model_version] * len(ids)),
        }
    )
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path / "part-0.parquet")
    return str(path)


def write_labels(path, ids, labels, task="toy"):
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"spec_id": ids, "label": labels, "task": [task] * len(ids), "catalog": ["unit"] * len(ids)}),
        path / "part-0.parquet",
    )
    return str(path)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("kb")
    rng = np.random.default_rng(42)
    centers = 3.0 * rng.standard_normal((3, DIM))
    n_kb, n_q = 3000, 300
    x, lab = clusters(n_kb, 1, centers)
    q, qlab = clusters(n_q, 2, centers)
    kb_ids = [f"kb-{i}" for i in range(n_kb)]
    # 20 extra label rows without embeddings + 1 embedding row with NaN -> rejected, not dropped
    lab_ids = kb_ids + [f"missing-{i}" for i in range(20)]
    lab_all = list(lab) + ["a"] * 20
    xbad = np.vstack([x, np.full((1, DIM), np.nan, dtype=np.float32)])
    emb = write_embeddings(root / "emb", kb_ids + ["nan-row"], xbad)
    labels = write_labels(root / "labels", lab_ids + ["nan-row"], lab_all + ["b"])
    queries = write_embeddings(root / "queries", [f"q-{i}" for i in range(n_q)], q)
    return dict(root=root, x=x, lab=lab, ids=np.array(kb_ids, dtype=object), q=q, qlab=qlab,
                emb=emb, labels=labels, queries=queries)


def build_kb(spark, toy, kind, name, **index):
    cfg = build.BuildKbConfig(
        embeddings=toy["emb"], labels=toy["labels"], output=str(toy["root"] / name),
        index=IndexSpec(kind=kind, **index), n_shards=3, diagnostics_sample=200 if kind == "flat" else 0,
    )
    return build.run(spark, cfg)


@pytest.fixture(scope="module")
def flat_kb(spark, toy):
    summary = build_kb(spark, toy, "flat", "kb_flat")
    return summary


def test_build_counts_and_layout(flat_kb, toy):
    s = flat_kb
    assert s["read"] == 3000 + 20 + 1 and s["written"] == 3000 and s["rejected"] == 21
    assert s["read"] == s["written"] + s["rejected"]
    meta = read_meta(s["output"])
    assert meta.dim == DIM and meta.n_entries == 3000 and len(meta.shards) == 3
    assert sum(meta.shard_sizes) == 3000 and meta.model_version == "1" and meta.task == "toy"
    reasons = read_rejects(s["output"]).column("reason").to_pylist()
    assert reasons.count("no embedding for this spec_id") == 20
    assert reasons.count("embedding has non-finite values") == 1
    diag = json.loads((toy["root"] / "kb_flat" / "diagnostics" / "kb_diagnostics.json").read_text())
    assert diag["pairwise_l2"]["n"] == 200 * 199 // 2
    assert (toy["root"] / "kb_flat" / "diagnostics" / "kb_distances.png").exists()


def test_sharded_flat_search_equals_single_index_flat_l2(spark, flat_kb, toy):
    out = str(toy["root"] / "pred_flat")
    s = search.run(spark, search.SearchKbConfig(kb=flat_kb["output"], input=toy["queries"], output=out, k=5))
    assert s["read"] == s["written"] == 300 and s["rejected"] == 0
    pred = read_table(out).to_pandas().sort_values("spec_id", key=lambda c: c.str[2:].astype(int))
    ref = faiss.IndexFlatL2(DIM)
    ref.add(toy["x"])
    d_ref, i_ref = ref.search(toy["q"], 5)
    ids = np.stack(pred["neighbor_ids"].to_numpy())
    dist = np.stack(pred["neighbor_distances"].to_numpy())
    assert (ids == toy["ids"][i_ref]).all()
    # same neighbours; distances equal up to float32 rounding: faiss's BLAS path blocks the database by 1024
    # rows, and a pair placed elsewhere in its block may round its last bit differently (bit-equal here)
    np.testing.assert_allclose(dist, np.sqrt(d_ref), rtol=2e-6, atol=0)
    assert (pred["kb_version"] == flat_kb["kb_version"]).all()
    # the vote recomputed from the reference neighbours gives the same labels and scores
    lab_ref, score_ref, _, _ = vote(np.sqrt(d_ref), toy["lab"][i_ref])
    assert pred["label"].tolist() == list(lab_ref)
    assert np.allclose(pred["score"].to_numpy(), score_ref)
    assert (pred["label"].to_numpy() == toy["qlab"]).mean() > 0.95


def test_sequential_runner_matches_single_index(flat_kb, toy):
    qdf = pd.DataFrame({"spec_id": [f"q-{i}" for i in range(300)], "embedding": list(toy["q"])})
    local = search_local(qdf, flat_kb["output"], k=3)
    ref = faiss.IndexFlatL2(DIM)
    ref.add(toy["x"])
    _, i_ref = ref.search(toy["q"], 3)
    assert (np.stack(local["neighbor_ids"].to_numpy()) == toy["ids"][i_ref]).all()


def test_worker_cache_holds_one_kb_at_a_time(spark, flat_kb, toy):
    """Searching a second KB drops the first one's shards from the worker cache (memory bound at 1M)."""
    from skysift.runtime.cache import CACHE

    qdf = pd.DataFrame({"spec_id": ["q-0"], "embedding": [toy["q"][0]]})
    search_local(qdf, flat_kb["output"], k=3)
    assert [g[1] for g in CACHE.groups()] == [str(flat_kb["output"])]
    other = build_kb(spark, toy, "flat", "kb_flat_other")
    search_local(qdf, other["output"], k=3)
    assert [g[1] for g in CACHE.groups()] == [str(other["output"])]
    assert len(CACHE._groups[CACHE.groups()[0]]) == 3  # its three shards


@pytest.mark.parametrize(
    "kind,index,min_recall",
    [("ivfpq", dict(nlist=16, nprobe=4, pq_m=4, pq_nbits=6), 0.9), ("hnsw", dict(hnsw_m=16, ef_search=64), 0.95)],
)
def test_ann_recall_at_3_vs_flat(spark, toy, kind, index, min_recall):
    s = build_kb(spark, toy, kind, f"kb_{kind}", **index)
    qdf = pd.DataFrame({"spec_id": [f"q-{i}" for i in range(300)], "embedding": list(toy["q"])})
    got = search_local(qdf, s["output"], k=3)
    ref = faiss.IndexFlatL2(DIM)
    ref.add(toy["x"])
    _, i_ref = ref.search(toy["q"], 3)
    truth = toy["ids"][i_ref]
    ids = np.stack(got["neighbor_ids"].to_numpy())
    recall = np.mean([len(set(a) & set(b)) / 3 for a, b in zip(ids, truth)])
    print(f"{kind} {s['index']} recall@3 vs flat = {recall:.4f}")
    assert recall >= min_recall


def test_wrong_dimension_fails_clearly(spark, flat_kb, toy):
    q = write_embeddings(toy["root"] / "q_dim", ["x1", "x2"], np.zeros((2, DIM + 3), np.float32))
    with pytest.raises(KbError, match=rf"dimension {DIM + 3}.*dimension {DIM}"):
        search.run(spark, search.SearchKbConfig(kb=flat_kb["output"], input=q, output=str(toy["root"] / "p_dim")))


def test_model_version_mismatch_fails_clearly(spark, flat_kb, toy):
    q = write_embeddings(toy["root"] / "q_ver", ["x1"], np.zeros((1, DIM), np.float32), model_version="2")
    with pytest.raises(KbError, match=r"model_version \['2'\].*model_version '1'"):
        search.run(spark, search.SearchKbConfig(kb=flat_kb["output"], input=q, output=str(toy["root"] / "p_ver")))


def test_empty_kb_fails_clearly(spark, toy):
    labels = write_labels(toy["root"] / "labels_none", ["nobody"], ["a"])
    cfg = build.BuildKbConfig(embeddings=toy["emb"], labels=labels, output=str(toy["root"] / "kb_empty"))
    with pytest.raises(KbError, match="empty KB"):
        build.run(spark, cfg)
    with pytest.raises(KbError, match="not a knowledge base"):
        search.run(spark, search.SearchKbConfig(kb=str(toy["root"] / "kb_empty"), input=toy["queries"],
                                                output=str(toy["root"] / "p_empty")))


def test_kb_from_two_label_tables(spark, toy):
    """A survey's labels plus a reference catalog without a task column: one KB, provenance per entry."""
    import pyarrow.dataset as pads

    first = write_labels(toy["root"] / "labels_a", list(toy["ids"][:100]), list(toy["lab"][:100]))
    other = toy["root"] / "labels_b"
    other.mkdir()
    pq.write_table(pa.table({"spec_id": list(toy["ids"][100:130]), "label": list(toy["lab"][100:130]),
                             "catalog": ["reference"] * 30, "z": [0.1] * 30}), other / "part-0.parquet")
    cfg = build.BuildKbConfig(embeddings=toy["emb"], labels=f"{first},{other}", output=str(toy["root"] / "kb_two"),
                              task="toy", diagnostics_sample=0)
    s = build.run(spark, cfg)
    assert s["read"] == s["written"] == 130 and s["rejected"] == 0
    entries = pads.dataset(str(toy["root"] / "kb_two" / "entries"), format="parquet").to_table(
        columns=["spec_id", "label", "catalog", "z"]).to_pandas().set_index("spec_id")
    assert (entries.loc[list(toy["ids"][100:130]), "catalog"] == "reference").all()
    assert (entries.loc[list(toy["ids"][:100]), "catalog"] == "unit").all()
    assert list(entries.loc[list(toy["ids"][:130]), "label"]) == list(toy["lab"][:130])


@pytest.mark.slow
def test_search_bench_small(spark, tmp_path, capsys):
    from skysift.bench.job import _line
    from skysift.bench.search_bench import run_search_bench

    r = run_search_bench(spark, tmp_path, _line, n_kb=3000, n_queries=200, dim=32, n_shards=2,
                         kinds=("flat", "hnsw"))
    out = capsys.readouterr().out
    assert "search: ours=" in out and "baseline=" in out and "ratio=" in out and "search-hnsw:" in out
    flat = r["kinds"]["flat"]
    assert flat["exact"] is True and flat["exact_ids"] is True and flat["recall@3"] == 1.0
    assert r["kinds"]["hnsw"]["recall@3"] >= 0.95

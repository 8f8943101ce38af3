"""build-kb with --output s3:// and search-kb with --kb s3:// (moto's S3 server on 127.0.0.1): every KB file is
written by skysift's own code on the executors and the driver, the shards are loaded from the store by the
search tasks, and KB and predictions equal those of a local run (and faiss brute force)."""
from __future__ import annotations

import json
import uuid

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.kb.faiss_index import IndexSpec
from skysift.kb.store import read_meta
from skysift.runtime import filesystem as fsx
from skysift.runtime.output import MANIFEST, SUCCESS, read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.build_kb import job as build
from skysift.stages.search_kb import job as search

DIM, N_KB, N_Q = 8, 400, 60


def _toy(root):
    """Three Gaussian clusters (synthetic truth), 5 label rows without an embedding (rejects), queries."""
    rng = np.random.default_rng(3)
    centers = 3.0 * rng.standard_normal((3, DIM))
    lab = rng.integers(0, 3, N_KB + N_Q)
    x = (centers[lab] + 0.6 * rng.standard_normal((N_KB + N_Q, DIM))).astype(np.float32)
    names = np.array(["a", "b", "c"], dtype=object)[lab]
    ids = [f"kb-{i}" for i in range(N_KB)]
    root.joinpath("emb").mkdir()
    root.joinpath("labels").mkdir()
    root.joinpath("queries").mkdir()
    pq.write_table(pa.table({"spec_id": ids, "embedding": pa.array(list(x[:N_KB]), pa.list_(pa.float32())),
                             "model_version": ["1"] * N_KB}), root / "emb" / "part-0.parquet")
    pq.write_table(pa.table({"spec_id": ids + [f"missing-{i}" for i in range(5)],
                             "label": list(names[:N_KB]) + ["a"] * 5, "task": ["toy"] * (N_KB + 5)}),
                   root / "labels" / "part-0.parquet")
    pq.write_table(pa.table({"spec_id": [f"q-{i}" for i in range(N_Q)],
                             "embedding": pa.array(list(x[N_KB:]), pa.list_(pa.float32()))}),
                   root / "queries" / "part-0.parquet")
    return x[:N_KB], x[N_KB:], np.array(ids, dtype=object)


@pytest.fixture(scope="module")
def kbs(spark, s3_env_module, s3_bucket, tmp_path_factory):
    root = tmp_path_factory.mktemp("kb_s3")
    x, q, ids = _toy(root)
    area = f"s3://{s3_bucket}/kb-{uuid.uuid4().hex[:8]}"
    out = {"root": root, "x": x, "q": q, "ids": ids, "area": area}
    for where, base in (("local", str(root)), ("s3", area)):
        cfg = build.BuildKbConfig(embeddings=str(root / "emb"), labels=str(root / "labels"),
                                  output=fsx.join(base, "kb"), index=IndexSpec(kind="flat"), n_shards=2,
                                  diagnostics_sample=100)
        out[f"build_{where}"] = build.run(spark, cfg)
        out[f"search_{where}"] = search.run(spark, search.SearchKbConfig(
            kb=fsx.join(base, "kb"), input=str(root / "queries"), output=fsx.join(base, "pred"), k=3))
    return out


def test_build_summary_and_meta_equal_the_local_kb(kbs):
    a, b = kbs["build_local"], kbs["build_s3"]
    assert b["output"] == fsx.join(kbs["area"], "kb")
    assert b["read"] == N_KB + 5 and b["written"] == N_KB and b["rejected"] == 5
    for key in ("read", "written", "rejected", "shards", "dim", "labels", "kb_version", "pairwise_l2_mean"):
        assert a[key] == b[key], key
    meta_a, meta_b = read_meta(a["output"]), read_meta(b["output"])
    assert meta_b.shards == meta_a.shards and meta_b.shard_sizes == meta_a.shard_sizes and len(meta_b.shards) == 2
    # kb_version hashes the shard indexes and ID maps read back from the store: the same bytes
    assert meta_b.kb_version == meta_a.kb_version and meta_b.n_entries == N_KB


def test_every_kb_file_is_on_the_store(kbs):
    local = fsx.file_sizes(kbs["build_local"]["output"], include_hidden=True)
    remote = fsx.file_sizes(kbs["build_s3"]["output"], include_hidden=True)
    assert sorted(remote) == sorted(local)
    for rel in ("_kb.json", "trained.faiss", "shards/shard-00000.faiss", "shards/shard-00001.ids.parquet",
                "entries/part-00000.parquet", "diagnostics/kb_diagnostics.json", "diagnostics/kb_distances.png",
                MANIFEST, SUCCESS):
        assert rel in remote, rel
    assert not any(rel.startswith("_sample") for rel in remote)  # the training / diagnostics scratch is gone
    for rel in remote:  # byte sizes equal, except the files that name the output path
        if rel.endswith((".faiss", ".parquet")):
            assert remote[rel] == local[rel], rel
    diag = [json.loads(fsx.read_text(fsx.join(kbs[f"build_{w}"]["output"], "diagnostics/kb_diagnostics.json")))
            for w in ("local", "s3")]
    assert diag[1] == diag[0] and diag[1]["pairwise_l2"]["n"] == 100 * 99 // 2


def test_entries_and_rejects_equal_the_local_kb(kbs):
    keys = [("spec_id", "ascending")]
    local = read_table(fsx.join(kbs["build_local"]["output"], "entries")).sort_by(keys)
    remote = read_table(fsx.join(kbs["build_s3"]["output"], "entries")).sort_by(keys)
    assert remote.num_rows == N_KB and remote.equals(local)
    assert set(remote.column("spec_id").to_pylist()) == set(kbs["ids"])
    rej = read_rejects(kbs["build_s3"]["output"]).sort_by(keys)
    assert rej.column("spec_id").to_pylist() == [f"missing-{i}" for i in range(5)]
    assert rej.equals(read_rejects(kbs["build_local"]["output"]).sort_by(keys))


def test_search_from_the_s3_kb_equals_local_and_brute_force(kbs):
    s = kbs["search_s3"]
    assert s["read"] == s["written"] == N_Q and s["rejected"] == 0 and s["output"] == fsx.join(kbs["area"], "pred")
    keys = [("spec_id", "ascending")]
    remote = read_table(s["output"]).sort_by(keys)
    local = read_table(kbs["search_local"]["output"]).sort_by(keys)
    assert remote.equals(local)
    pred = remote.to_pandas().sort_values("spec_id", key=lambda c: c.str[2:].astype(int))
    ref = faiss.IndexFlatL2(DIM)
    ref.add(kbs["x"])
    d_ref, i_ref = ref.search(kbs["q"], 3)
    assert (np.stack(pred["neighbor_ids"].to_numpy()) == kbs["ids"][i_ref]).all()
    np.testing.assert_allclose(np.stack(pred["neighbor_distances"].to_numpy()), np.sqrt(d_ref), rtol=2e-6)
    assert fsx.exists(fsx.join(s["output"], SUCCESS))

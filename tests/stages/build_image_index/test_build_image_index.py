"""build-image-index: the kb engine's sharded faiss index over pooled image vectors, keyed by image_id."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.config import ConfigError, load_config
from skysift.kb.patch_search import index_entries
from skysift.kb.search import load_shard_set, search_shards, search_spec
from skysift.kb.store import read_meta
from skysift.runtime.output import read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.build_image_index import job as build
from skysift.stages.embed_images import job as embed
from skysift.testing.images import checkpoint, small_stamps


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    root = tmp_path_factory.mktemp("bii")
    (root / "stamps").mkdir()  # three row groups of 16: three embed tasks, three vector files
    pq.write_table(read_table(small_stamps(48)[0]), root / "stamps" / "part-0.parquet", row_group_size=16)
    cfg = load_config(embed.CONFIG, None, [f"input={root / 'stamps'}", f"output={root / 'vec'}",
                                           f"model_uri={checkpoint(str(root / 'm.pt'), seed=4)}", "torch_threads=1",
                                           "rows_per_task=16"])
    embed.run(None, cfg)
    # one more file with a NaN vector and a wrong-length vector: rejected by the index build
    t = read_table(root / "vec").slice(0, 2).to_pylist()
    t[0]["image_id"], t[0]["embedding"] = "bad-nan", [float("nan")] * 128
    t[1]["image_id"], t[1]["embedding"] = "bad-dim", [0.1] * 7
    from skysift.schema import IMAGE_VECTORS

    pq.write_table(pa.Table.from_pylist(t, schema=IMAGE_VECTORS), root / "vec" / "part-9999999999.parquet")
    os.remove(root / "vec" / "_manifest.json")  # the extra file is not in the committed manifest
    return root


def _build(vectors, name, spark=None, *extra):
    cfg = load_config(build.CONFIG, None, [f"input={vectors / 'vec'}", f"output={vectors / name}", *extra])
    return build.run(spark, cfg)


def test_index_counts_meta_and_rejects(vectors):
    s = _build(vectors, "idx", None, "n_shards=2")
    assert (s["read"], s["written"], s["rejected"]) == (50, 48, 2) and s["read"] == s["written"] + s["rejected"]
    meta = read_meta(str(vectors / "idx"))
    assert meta.id_column == "image_id" and meta.dim == 128 and meta.n_entries == 48 and len(meta.shards) == 2
    assert meta.build["kind"] == "image-index" and meta.build["images"] == str(vectors / "stamps")
    reasons = dict(zip(*(read_rejects(vectors / "idx").to_pydict()[c] for c in ("spec_id", "reason"))))
    assert reasons == {"bad-nan": "embedding has non-finite values",
                       "bad-dim": "embedding has 7 values, the index has dimension 128"}
    ids = index_entries(str(vectors / "idx"), meta)
    assert all(os.path.exists(u) for u in ids.column("features_uri").to_pylist())


def test_sharded_search_equals_brute_force(vectors):
    index = str(vectors / "idx")
    meta = read_meta(index)
    vec = read_table(vectors / "vec").to_pandas()
    vec = vec[~vec.image_id.str.startswith("bad")]
    x = np.stack(vec["embedding"].to_numpy()).astype(np.float32)
    shard_set = load_shard_set(index, meta, search_spec(meta), 5)
    d2, gid = search_shards(x[:10], shard_set, 5)
    found = shard_set.ids[gid]
    ref = vec["image_id"].to_numpy()[np.argsort(-(x[:10] @ x.T), axis=1, kind="stable")[:, :5]]
    assert (found[:, 0] == vec["image_id"].to_numpy()[:10]).all()  # each vector finds itself
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found, ref)]) >= 0.98  # float ties aside


@pytest.mark.slow
def test_spark_build_equals_in_process(spark, vectors):
    s = _build(vectors, "idx-spark", spark, "n_shards=2")
    assert (s["written"], s["rejected"]) == (48, 2)
    a = index_entries(str(vectors / "idx"), read_meta(str(vectors / "idx"))).column("image_id").to_pylist()
    b = index_entries(str(vectors / "idx-spark"), read_meta(str(vectors / "idx-spark"))).column("image_id").to_pylist()
    assert a == b and read_meta(str(vectors / "idx")).kb_version == read_meta(str(vectors / "idx-spark")).kb_version


def test_mixed_model_versions_are_refused(vectors, tmp_path):
    t = read_table(vectors / "vec").slice(0, 4)
    versions = pa.array(["1", "1", "2", "2"], pa.string())
    (tmp_path / "v").mkdir()
    pq.write_table(t.set_column(t.schema.get_field_index("model_version"), "model_version", versions),
                   tmp_path / "v" / "part-0.parquet")
    with pytest.raises(ConfigError, match=r"several model versions \['1', '2'\]"):
        build.run(None, load_config(build.CONFIG, None, [f"input={tmp_path / 'v'}", f"output={tmp_path / 'o'}"]))

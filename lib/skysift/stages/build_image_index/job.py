"""`skysift build-image-index` driver: embed-images' pooled vectors -> a sharded faiss index (kb engine).

Friberg scans every image's patch features for every query (section 3.6); this index is the skysift
addition that proposes candidates for the combined-score re-ranking (`search-images`). The driver checks
the table (one model version, one dimension), trains the index once on a sample when its type needs it
(IVF / PQ) and cuts the vector files into shard tasks (``runtime.tasks``); each task adds its vectors to
a copy of the trained index and writes the shard (``kb.store.write_shard``), its ID map holding each
image's id, position and patch-feature location. The layout, ``_kb.json`` (``KbMeta`` with
``id_column = image_id``) and the shard loading are those of `build-kb` / `search-kb`.

Resume (RELIABILITY.md): the trained index is a file of the staging folder and the shards are the tasks of
``runtime.tasks`` over the vector files (sorted, ``table_files``); every shard task writes a completion
marker after its index, ID map, entries and rejects files. A rerun after a kill (``resume=true``, the
default) with the same config, input files and shard count loads the kept trained index instead of training
again (the kept shards were added to that one) and builds only the shards without a marker.
"""
from __future__ import annotations

import functools
import math
import os
import time

import numpy as np

from skysift.config import ConfigError
from skysift.stages.build_image_index.config import BuildImageIndexConfig
from skysift.stages.build_image_index.tasks import read_file, shard_task

CONFIG = BuildImageIndexConfig


def _footer_rows(files: list[str]) -> list[int]:
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import resolve

    out = []
    for f in files:
        fs, path = resolve(f)
        with fs.open_input_file(path) as fh:
            out.append(pq.ParquetFile(fh).metadata.num_rows)
    return out


def _sample(files: list[str], n: int, seed: int) -> np.ndarray:
    """About ``n`` finite pooled vectors from a seeded random order of the files."""
    from skysift.kb import embeddings as emb

    parts, have = [], 0
    for i in np.random.default_rng(seed).permutation(len(files)):
        x = emb.stack(read_file(files[i], ["embedding"]).column("embedding").drop_null())
        x = x[np.isfinite(x).all(axis=1)] if x.size else x
        parts.append(x)
        have += len(x)
        if have >= n:
            break
    return np.concatenate(parts)[:n] if parts else np.zeros((0, 0), np.float32)


def run(spark, cfg: BuildImageIndexConfig) -> dict:
    """Build the image index; read = written (index entries) + rejected (unusable vectors)."""
    from skysift.config import to_dict
    from skysift.io.tables import read_table_json
    from skysift.kb.faiss_index import factory_string, min_training_points, new_index, serialize, train_index
    from skysift.kb.store import TRAINED_FILE, KbMeta, content_version, read_bytes, write_bytes, write_meta
    from skysift.runtime.output import exists, read_table, staged, table_files
    from skysift.runtime.resume import files_fingerprint, resume_key, resumed_count
    from skysift.runtime.rejects import read_rejects
    from skysift.runtime.tasks import run_tasks

    t0 = time.perf_counter()
    vectors = cfg.input if "://" in cfg.input else os.path.abspath(cfg.input)
    if not exists(vectors):
        raise ConfigError(f"input {cfg.input}: no such image_vectors table (run `skysift embed-images` first)")
    files = table_files(vectors)
    if not files:
        raise ConfigError(f"input {cfg.input}: the image_vectors table is empty")
    head = read_table(vectors, columns=["model_uri", "model_version"])
    versions = sorted({v for v in head.column("model_version").to_pylist()}, key=str)
    if len(versions) > 1:
        raise ConfigError(f"input {cfg.input}: vectors come from several model versions {versions}; re-embed "
                          "them with one model")
    props = {}
    try:
        props = read_table_json(vectors)
    except (FileNotFoundError, OSError, ValueError):
        pass
    first = [v for v in read_file(files[0], ["embedding"]).column("embedding").to_pylist() if v is not None]
    if not first:
        raise ConfigError(f"{files[0]}: no embedding to take the index dimension from")
    dim = len(first[0])
    n_total = sum(_footer_rows(files))
    n_shards = min(len(files), cfg.n_shards or max(1, math.ceil(n_total / cfg.max_shard_entries)))
    per_shard = max(1, n_total // n_shards)
    spec = cfg.index
    factory = factory_string(spec, dim, per_shard)
    index = new_index(spec, dim, per_shard)
    key = resume_key(cfg, inputs=files_fingerprint(files), n_shards=n_shards)
    with staged(cfg.output, resume=cfg.resume, resume_key=key) as stage:
        t_train = time.perf_counter()
        trained_kept = stage.resumed and exists(f"{stage.uri}/{TRAINED_FILE}")
        if trained_kept:  # the killed run's trained index: the kept shards were added to this one
            trained = read_bytes(f"{stage.uri}/{TRAINED_FILE}")
            train_s = time.perf_counter() - t_train
        else:
            if not index.is_trained:
                need = min_training_points(spec, dim, per_shard)
                sample = _sample(files, max(cfg.train_sample_size, need), cfg.seed)
                if len(sample) < need:
                    raise ConfigError(f"index {factory} needs at least {need} training vectors, the table has "
                                      f"{len(sample)} usable ones: use index.kind=flat or a smaller index.nlist / "
                                      "index.pq_nbits")
                train_index(index, sample)
            train_s = time.perf_counter() - t_train
            trained = serialize(index)
            write_bytes(f"{stage.uri}/{TRAINED_FILE}", trained)
        t_add = time.perf_counter()
        task = functools.partial(shard_task, stage.uri, vectors, trained, dim, cfg.faiss_threads_per_task)
        stats = sorted(run_tasks(task, files, n_shards, spark, markers=stage.markers()), key=lambda s: s["shard"])
        add_s = time.perf_counter() - t_add
        built = [s for s in stats if s["rows"]]
        if not built:
            raise ConfigError(f"input {cfg.input}: no usable vectors ({sum(s['rejected'] for s in stats)} rejected)")
        shards = tuple(int(s["shard"]) for s in built)
        sizes = tuple(int(s["rows"]) for s in built)
        n_rejected = read_rejects(stage.uri).num_rows
        meta = KbMeta(
            index=spec, factory=factory, dim=dim, n_entries=sum(sizes), shards=shards, shard_sizes=sizes,
            task=None, labels=(), model_uri=head.column("model_uri")[0].as_py(),
            model_version=versions[0] if versions else None, kb_version=content_version(stage.uri, shards),
            id_column="image_id",
            build={"kind": "image-index", "vectors": vectors, "images": props.get("input"),
                   "feature_dtype": props.get("feature_dtype"), "train_seconds": round(train_s, 3),
                   "add_seconds": round(add_s, 3), "trained_index_bytes": len(trained), "config": to_dict(cfg)},
        )
        write_meta(stage.uri, meta)
    return {"read": int(n_total), "written": meta.n_entries, "rejected": int(n_rejected), "output": stage.output,
            "index": factory, "dim": dim, "shards": len(shards), "tasks": len(stats),
            "resumed_tasks": resumed_count(stats), "trained_index_kept": bool(trained_kept),
            "kb_version": meta.kb_version,
            "model_version": meta.model_version, "train_seconds": round(train_s, 3), "add_seconds": round(add_s, 3),
            "build_seconds": round(time.perf_counter() - t0, 3)}

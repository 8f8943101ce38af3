"""`skysift build-kb`: embeddings + labels -> a sharded faiss knowledge base (autofaiss-style).

Driver: join, validate, train the index once on a sample when its type needs
training (IVF / PQ), broadcast the trained empty index. Executors: each shard
partition deserialises it, adds its vectors and writes its index file, ID map
and part of the entries table with skysift's own writers (``add_shard``, the
per-partition function, also callable without Spark); only one row of counts
per shard comes back. Every KB file goes through ``runtime.filesystem``, so
``--output`` may be ``s3://`` (the inputs are read by Spark: local paths, or
``s3a://`` with hadoop-aws, docs/cluster.md).

Resume (RELIABILITY.md): the trained index is a file of the staging folder and every shard writes a
completion marker after its files (``runtime.resume``); a rerun after a kill with the same config and input
files loads that index instead of training and filters the complete shards' rows out before the shuffle.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pyarrow as pa

from skysift.stages.build_kb.config import BuildKbConfig
from skysift.stages.build_kb.tasks import ENTRY_COLUMNS, SHARD_STATS, shard_builder
from skysift.kb.faiss_index import factory_string, min_training_points, new_index, serialize, train_index
from skysift.kb.store import ENTRIES_DIR, TRAINED_FILE, KbError, KbMeta, content_version, write_bytes, write_meta
from skysift.kb import embeddings as emb
from skysift.runtime.filesystem import for_spark, with_s3_settings
from skysift.runtime.tasks import inject_partition_fault


CONFIG = BuildKbConfig



def _sample_vectors(df, n: int, total: int, seed: int, scratch: str) -> np.ndarray:
    """About ``n`` embeddings drawn at random (Spark's sample), as one (n, dim) float32 array.

    The tasks write their sampled rows with pyarrow into the folder ``scratch`` (any URI) and the driver
    reads the files (then removes them): sent back as task results, 100k x 768 float32 (300 MB) went
    through the driver JVM's heap twice and ran it out of memory at 1M entries.
    """
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import remove_tree, resolve
    from skysift.runtime.output import table_files, write_parquet_atomic

    if total == 0 or n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    remove_tree(scratch)  # a sample of a killed run, kept with its staging folder for resume
    frac = min(1.0, 1.2 * n / total)
    part = df.select("embedding") if frac >= 1.0 else df.select("embedding").sample(False, frac, seed)
    target = scratch

    def writer(batches):
        from pyspark import TaskContext

        inject_partition_fault()  # test-only switch (runtime.tasks), before a row is read or a file written
        rows = write_parquet_atomic(f"{target}/part-{TaskContext.get().partitionId():06d}.parquet", batches)
        yield pa.RecordBatch.from_pydict({"rows": [rows]})

    try:
        part.mapInArrow(with_s3_settings(writer), "rows long").collect()
        files = table_files(target)
        if not files:
            return np.zeros((0, 0), dtype=np.float32)
        fs = resolve(target)[0]
        table = pa.concat_tables([pq.read_table(resolve(f)[1], filesystem=fs) for f in files])
        return emb.stack(table.slice(0, n).column("embedding"))
    finally:
        remove_tree(target)


def _labels_for_task(spark, cfg: BuildKbConfig):
    from pyspark.sql import functions as F

    labels = None
    for path in [p.strip() for p in cfg.labels.split(",") if p.strip()]:
        part = spark.read.parquet(for_spark(path))
        for c in ("spec_id", "label"):
            if c not in part.columns:
                raise KbError(f"{path}: labels table needs spec_id and label; has {part.columns}")
        if "task" not in part.columns and cfg.task:
            part = part.withColumn("task", F.lit(cfg.task))
        labels = part if labels is None else labels.unionByName(part, allowMissingColumns=True)
    task = cfg.task or None
    if "task" in labels.columns:
        tasks = sorted(r[0] for r in labels.select("task").distinct().collect() if r[0] is not None)
        if task is None and len(tasks) > 1:
            raise KbError(f"{cfg.labels} holds several tasks {tasks}; pick one with --set task=NAME")
        if task is not None and task not in tasks:
            raise KbError(f"{cfg.labels}: no labels for task {task!r}; tasks present: {tasks}")
        task = task or (tasks[0] if tasks else None)
        if task is not None:
            labels = labels.filter(F.col("task") == task)
    for c in ENTRY_COLUMNS:
        if c not in labels.columns and c != "model_version":
            labels = labels.withColumn(c, F.lit(None).cast("double" if c in ("ra_deg", "dec_deg", "z") else "string"))
    return labels.select("spec_id", "label", "task", "catalog", "ra_deg", "dec_deg", "z"), task


def run(spark, cfg: BuildKbConfig) -> dict:
    """Build the KB; summary counts label rows: read = written (KB entries) + rejected."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skysift.kb.faiss_index import deserialize
    from skysift.kb.store import read_bytes
    from skysift.runtime.filesystem import exists
    from skysift.runtime.output import count_rows, staged
    from skysift.runtime.rejects import spark_rejects, write_rejects
    from skysift.runtime.resume import completed_items, files_fingerprint, resume_key
    from skysift.runtime.row_groups import table_file_uris

    t0 = time.perf_counter()
    embs = spark.read.parquet(for_spark(cfg.embeddings))
    emb.check_columns(embs.columns, cfg.embeddings)
    has_model = "model_version" in embs.columns
    embs = embs.select(
        "spec_id",
        "embedding",
        (F.col("model_version").cast("string") if has_model else F.lit(None).cast("string")).alias("model_version"),
        (F.col("model_uri").cast("string") if "model_uri" in embs.columns else F.lit(None).cast("string")).alias(
            "model_uri"
        ),
    )
    # an embeddings table holds one vector per spectrum; a repeated spec_id must not become two KB entries
    embs = embs.dropDuplicates(["spec_id"])
    labels, task = _labels_for_task(spark, cfg)

    # one label row per spec_id: the first by (label, catalog); the others are rejects, not dropped
    w = Window.partitionBy("spec_id").orderBy(F.col("label").asc_nulls_last(), F.col("catalog").asc_nulls_last())
    labels = labels.withColumn("_rank", F.row_number().over(w))
    joined = labels.join(embs, on="spec_id", how="left")
    reason = (
        F.when(F.col("label").isNull() | (F.trim("label") == ""), F.lit("label is empty"))
        .when(F.col("_rank") > 1, F.lit("duplicate spec_id in labels (first by label kept)"))
        .when(F.col("embedding").isNull(), F.lit("no embedding for this spec_id"))
        .otherwise(emb.invalid_embedding_reason())
    )
    joined = joined.withColumn("_reason", reason).drop("_rank").cache()
    # Resume: the shards are partitions by a stable key (spec_id's hash), the trained index is a file of the
    # staging folder; both depend only on the config and the input files (shard rows are sorted by spec_id).
    key = resume_key(cfg, embeddings=files_fingerprint(table_file_uris(cfg.embeddings)),
                     labels=[files_fingerprint(table_file_uris(p.strip())) for p in cfg.labels.split(",") if p.strip()])
    try:
        with staged(cfg.output, resume=cfg.resume, resume_key=key) as stage:
            kb = stage.uri
            stats = joined.groupBy(F.col("_reason").isNull().alias("ok")).agg(
                F.count(F.lit(1)).alias("n"),
                F.min(F.size("embedding")).alias("dmin"),
                F.max(F.size("embedding")).alias("dmax"),
                F.collect_set("model_version").alias("versions"),
                F.first("model_uri", ignorenulls=True).alias("uri"),
            ).collect()
            by_ok = {r["ok"]: r for r in stats}
            read = sum(r["n"] for r in stats)
            good = by_ok.get(True)
            n = good["n"] if good else 0
            if n == 0:
                raise KbError(
                    f"empty KB: no usable labelled embeddings ({read} label rows"
                    f"{' for task ' + repr(task) if task else ''} in {cfg.labels}; none matched a valid embedding "
                    f"in {cfg.embeddings} by spec_id)"
                )
            if good["dmin"] != good["dmax"]:
                raise KbError(
                    f"{cfg.embeddings}: embeddings have mixed dimensions {good['dmin']}..{good['dmax']}; "
                    "a KB needs one dimension"
                )
            dim = int(good["dmin"])
            versions = sorted(good["versions"])
            if len(versions) > 1:
                raise KbError(f"{cfg.embeddings}: embeddings come from several model versions {versions}")
            model_version = versions[0] if versions else None
            valid = joined.filter(F.col("_reason").isNull())

            n_shards = cfg.n_shards or max(1, math.ceil(n / cfg.max_shard_entries))
            spec = cfg.index
            factory = factory_string(spec, dim, n // n_shards)
            index = new_index(spec, dim, n // n_shards)
            t_train = time.perf_counter()
            trained_kept = stage.resumed and exists(f"{kb}/{TRAINED_FILE}")
            if trained_kept:  # the killed run's trained index: the kept shards were added to this one
                index = deserialize(read_bytes(f"{kb}/{TRAINED_FILE}"))
            elif not index.is_trained:
                need = min_training_points(spec, dim, n // n_shards)
                sample = _sample_vectors(valid, max(cfg.train_sample_size, need), n, cfg.seed, f"{kb}/_sample")
                if len(sample) < need:
                    raise KbError(
                        f"index {factory} needs at least {need} training vectors, only {len(sample)} labelled "
                        "embeddings: use index.kind=flat or a smaller index.nlist / index.pq_nbits"
                    )
                train_index(index, sample)
            train_s = time.perf_counter() - t_train

            trained = serialize(index)
            if not trained_kept:
                write_bytes(f"{kb}/{TRAINED_FILE}", trained)
            markers = stage.markers("shards")
            done = completed_items(markers, n_shards) if stage.resumed else {}
            todo = valid
            if done:  # repartition(n, col) sends a row to pmod(murmur3(col), n): Spark's F.hash, same seed
                todo = valid.where(~F.pmod(F.hash("spec_id"), F.lit(n_shards)).isin(sorted(done)))
            bc = spark.sparkContext.broadcast(trained)
            t_add = time.perf_counter()
            shard_stats = (
                todo.select("spec_id", "embedding", *[c for c in ENTRY_COLUMNS if c != "spec_id"])
                .repartition(n_shards, "spec_id")
                .sortWithinPartitions("spec_id")
                .mapInPandas(shard_builder(kb, bc, cfg.faiss_threads_per_task, markers, n_shards,
                                           frozenset(done)), SHARD_STATS)
                .collect()
            ) + list(done.values())
            add_s = time.perf_counter() - t_add
            bc.unpersist()

            rejects = spark_rejects(joined.filter(F.col("_reason").isNotNull()), stage="build-kb",
                                    reason="_reason", source_file=F.lit(cfg.labels), spec_id="spec_id")
            n_rejected = write_rejects(kb, rejects.toArrow(), name="part-00000.parquet")

            shard_stats = sorted(shard_stats, key=lambda r: r["shard"])
            shard_t = tuple(int(r["shard"]) for r in shard_stats)
            sizes = tuple(int(r["rows"]) for r in shard_stats)
            labels_present = sorted({lab for r in shard_stats for lab in r["labels"]})
            if count_rows(f"{kb}/{ENTRIES_DIR}") != sum(sizes):
                raise RuntimeError("rows reported by the shard tasks differ from the rows in the entries files")
            diag = {}
            if cfg.diagnostics_sample:
                from skysift.kb.diagnostics import kb_diagnostics, write_diagnostics

                sample = _sample_vectors(valid, cfg.diagnostics_sample, n, cfg.seed + 1, f"{kb}/_sample")
                diag = kb_diagnostics(sample)
                write_diagnostics(f"{kb}/diagnostics", diag)
            meta = KbMeta(
                index=spec,
                factory=factory,
                dim=dim,
                n_entries=sum(sizes),
                shards=shard_t,
                shard_sizes=sizes,
                task=task,
                labels=tuple(labels_present),
                model_uri=good["uri"],
                model_version=model_version,
                kb_version=content_version(kb, shard_t),
                build={
                    "embeddings": cfg.embeddings,
                    "labels": cfg.labels,
                    "train_seconds": round(train_s, 3),
                    "add_seconds": round(add_s, 3),
                    "trained_index_bytes": len(trained),
                    "n_shards_requested": n_shards,
                },
            )
            write_meta(kb, meta)
    finally:
        joined.unpersist()
    summary = {
        "read": int(read),
        "written": meta.n_entries,
        "rejected": int(n_rejected),
        "output": stage.output,
        "task": task,
        "index": factory,
        "dim": dim,
        "shards": len(shard_t),
        "kb_version": meta.kb_version,
        "labels": list(meta.labels),
        "train_seconds": round(train_s, 3),
        "add_seconds": round(add_s, 3),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "resumed_tasks": len(done),
        "trained_index_kept": bool(trained_kept),
    }
    if diag.get("pairwise_l2", {}).get("n"):
        summary["pairwise_l2_mean"] = round(diag["pairwise_l2"]["mean"], 4)
        summary["pairwise_l2_median"] = round(diag["pairwise_l2"]["median"], 4)
        summary["pairwise_l2_std"] = round(diag["pairwise_l2"]["std"], 4)
    return summary

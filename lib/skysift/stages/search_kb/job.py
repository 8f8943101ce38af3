"""`skysift search-kb` driver: distributed top-K search of a sharded KB and the weighted vote.

The queries are dealt round-robin over the tasks; each task loads every shard once (``kb.store``, cached
per Python worker), answers its queries with ``kb.search.search_batch`` and writes its predictions file with
pyarrow (``tasks.searcher``); one row of counts per task comes back. The KB and the output go through
``runtime.filesystem`` (local, ``s3://``, ...); the queries are read by Spark (local, or ``s3a://`` with
hadoop-aws, docs/cluster.md).
"""
from __future__ import annotations

from skysift.kb import embeddings as emb
from skysift.kb.search import check_kb, check_queries, search_spec
from skysift.kb.store import read_meta
from skysift.runtime.filesystem import for_spark
from skysift.stages.search_kb.config import SearchKbConfig
from skysift.stages.search_kb.tasks import TASK_STATS, searcher

CONFIG = SearchKbConfig


def run(spark, cfg: SearchKbConfig) -> dict:
    """Search every query row; summary: read = written (predictions) + rejected (unusable embeddings)."""
    from pyspark.sql import functions as F

    from skysift.config import to_dict
    from skysift.io.tables import write_table_json
    from skysift.runtime.output import count_rows, staged
    from skysift.runtime.rejects import spark_rejects, write_rejects

    meta = read_meta(cfg.kb)
    check_kb(meta, cfg.kb)
    q = spark.read.parquet(for_spark(cfg.input))
    emb.check_columns(q.columns, cfg.input, role="query embeddings")
    version_col = (
        F.col("model_version").cast("string") if "model_version" in q.columns else F.lit(None).cast("string")
    )
    q = q.select("spec_id", "embedding", version_col.alias("model_version")).withColumn(
        "_reason", emb.invalid_embedding_reason()
    )
    stats = q.groupBy(F.col("_reason").isNull().alias("ok")).agg(
        F.count(F.lit(1)).alias("n"),
        F.collect_set(F.size("embedding")).alias("dims"),
        F.collect_set("model_version").alias("versions"),
    ).collect()
    read = sum(r["n"] for r in stats)
    good = next((r for r in stats if r["ok"]), None)
    if good is not None:
        check_queries(meta, cfg.kb, cfg.input, list(good["dims"]), list(good["versions"]), cfg.check_model_version)
    spec = search_spec(meta, cfg.nprobe, cfg.ef_search, cfg.refine_k_factor)
    with staged(cfg.output) as stage:
        queries = q.filter(F.col("_reason").isNull()).select("spec_id", "embedding")
        # every core should search an equal share: file splits are not (a 10k-query file of one row group
        # read as two splits gave one task every query, and the search took twice as long), so the rows
        # are always dealt round-robin; the shuffle moves the queries only, a small cost next to the search
        n_parts = cfg.query_partitions or max(queries.rdd.getNumPartitions(), spark.sparkContext.defaultParallelism)
        queries = queries.repartition(n_parts)
        stats = queries.mapInPandas(
            searcher(str(cfg.kb), meta, spec, cfg.k, cfg.faiss_threads_per_task, cfg.query_block_rows, stage.uri),
            TASK_STATS,
        ).collect()
        rejects = spark_rejects(q.filter(F.col("_reason").isNotNull()), stage="search-kb", reason="_reason",
                                source_file=F.lit(cfg.input), spec_id="spec_id")
        n_rejected = write_rejects(stage.uri, rejects.toArrow(), name="part-00000.parquet")
        write_table_json(stage.uri, {"job": "search-kb", "kb": str(cfg.kb), "kb_version": meta.kb_version,
                                     "k": cfg.k, "index": meta.factory, "task": meta.task, "config": to_dict(cfg)})
        written = count_rows(stage.uri)
        if written != sum(r["rows"] for r in stats):
            raise RuntimeError("rows reported by the search tasks differ from the rows in the predictions files")
    return {
        "read": int(read),
        "written": int(written),
        "rejected": int(n_rejected),
        "output": stage.output,
        "kb_version": meta.kb_version,
        "k": cfg.k,
        "index": meta.factory,
        "shards": len(meta.shards),
    }

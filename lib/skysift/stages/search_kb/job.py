"""`skysift search-kb`: distributed top-K search of a sharded KB and the weighted vote.

Every query batch is answered by every shard (``search_shards``): each shard
returns its own top-K, the partial lists are merged into the global top-K
(``vote.merge_topk``) and the K neighbours vote (``vote.vote``). For ``flat`` KBs
the result equals one ``faiss.IndexFlatL2`` over all entries. Shards load once per
Python worker (``kb.load_shard``); the per-batch function ``search_batch`` is plain
pandas -> pandas, called by ``mapInPandas`` and by the sequential runner
``search_local``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from skysift.config import require
from skysift.schema import PREDICTIONS, spark_schema
from skysift.kb import embeddings as emb
from skysift.kb.faiss_index import IndexSpec
from skysift.kb.store import KbError, KbMeta, LoadedShard, load_shard, read_meta
from skysift.kb.vote import MISSING, merge_topk, vote


@dataclass(frozen=True)
class SearchKbConfig:
    """Configuration of `skysift search-kb`."""

    kb: str = ""
    """KB folder written by build-kb."""
    input: str = ""
    """Query embeddings table (spec_id + embedding float list [+ model_version])."""
    output: str = ""
    """Predictions table folder to write."""
    k: int = 3
    """Neighbours that vote (Tang et al. 2025: K = 3)."""
    nprobe: int = 0
    """IVF lists visited per query; 0 = the KB's build setting."""
    ef_search: int = 0
    """HNSW efSearch; 0 = the KB's build setting."""
    refine_k_factor: float = 0.0
    """Exact re-ranking factor for refined PQ indexes; 0 = the KB's build setting."""
    faiss_threads_per_task: int = 1
    """OpenMP threads faiss uses inside one Spark task (0 = faiss default: all cores)."""
    check_model_version: bool = True
    """Fail when the queries' model_version differs from the KB's (when both tables carry one)."""
    query_block_rows: int = 4096
    """Queries pooled per faiss call inside a task (faiss's BLAS query block is 4096 rows)."""
    query_partitions: int = 0
    """Repartition the queries into this many tasks; 0 = at least Spark's default parallelism."""

    def __post_init__(self):
        require(bool(self.kb), "search-kb needs --kb DIR")
        require(bool(self.input), "search-kb needs --input EMBEDDINGS")
        require(bool(self.output), "search-kb needs --output DIR")
        require(self.k >= 1, f"k must be >= 1, got {self.k}")
        require(self.nprobe >= 0 and self.ef_search >= 0, "nprobe / ef_search must be >= 0")
        require(self.refine_k_factor == 0 or self.refine_k_factor >= 1, "refine_k_factor must be 0 or >= 1")
        require(self.faiss_threads_per_task >= 0, "faiss_threads_per_task must be >= 0")
        require(self.query_partitions >= 0, "query_partitions must be >= 0")
        require(self.query_block_rows >= 1, "query_block_rows must be >= 1")


CONFIG = SearchKbConfig


def search_spec(meta: KbMeta, cfg: SearchKbConfig) -> IndexSpec:
    """The KB's index spec with the query-time overrides of ``cfg`` applied."""
    changes = {}
    if cfg.nprobe:
        changes["nprobe"] = cfg.nprobe
    if cfg.ef_search:
        changes["ef_search"] = cfg.ef_search
    if cfg.refine_k_factor:
        changes["refine_k_factor"] = cfg.refine_k_factor
    return dataclasses.replace(meta.index, **changes)


@dataclass
class ShardSet:
    """All shards of a KB as one searchable unit: global id = offset of its shard + local id."""

    shards: list[LoadedShard]
    offsets: np.ndarray
    spec_ids: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, shards: list[LoadedShard]) -> "ShardSet":
        sizes = np.array([len(s.spec_ids) for s in shards], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(
            shards=shards,
            offsets=offsets,
            spec_ids=np.concatenate([s.spec_ids for s in shards]) if shards else np.array([], dtype=object),
            labels=np.concatenate([s.labels for s in shards]) if shards else np.array([], dtype=object),
        )


def load_shard_set(kb: str, meta: KbMeta, spec: IndexSpec, k: int) -> ShardSet:
    """Every shard of ``kb`` (cached per worker)."""
    return ShardSet.of([load_shard(kb, s, spec, meta.kb_version, k) for s in meta.shards])


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


def _searcher(kb: str, meta: KbMeta, spec: IndexSpec, k: int, threads: int, block_rows: int):
    def run_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import faiss

        if threads > 0:
            faiss.omp_set_num_threads(threads)
        shard_set = load_shard_set(kb, meta, spec, k)
        # Arrow batches are small (spark.sql.execution.arrow.maxRecordsPerBatch); faiss's flat search runs
        # BLAS over query blocks of up to 4096 rows and is ~1.6x slower on 512-row calls, so pool them first
        pending, n_pending = [], 0
        for pdf in batches:
            if len(pdf):
                pending.append(pdf)
                n_pending += len(pdf)
            if n_pending >= block_rows:
                yield search_batch(pd.concat(pending, ignore_index=True), shard_set, k, meta.kb_version)
                pending, n_pending = [], 0
        if pending:
            yield search_batch(pd.concat(pending, ignore_index=True), shard_set, k, meta.kb_version)

    return run_batches


def search_local(queries: pd.DataFrame, kb: str, k: int = 3, cfg: SearchKbConfig | None = None) -> pd.DataFrame:
    """Sequential runner: the same per-batch function without Spark (tests, notebooks, debugging)."""
    meta = read_meta(kb)
    check_kb(meta, kb)
    spec = search_spec(meta, cfg) if cfg is not None else meta.index
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


def run(spark, cfg: SearchKbConfig) -> dict:
    """Search every query row; summary: read = written (predictions) + rejected (unusable embeddings)."""
    from pyspark.sql import functions as F

    from skysift.runtime.output import commit_staging, discard_staging, staging_path
    from skysift.runtime.rejects import write_rejects
    from skysift.io.tables import write_table_json

    meta = read_meta(cfg.kb)
    check_kb(meta, cfg.kb)
    q = spark.read.parquet(cfg.input)
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
    spec = search_spec(meta, cfg)
    staging = staging_path(cfg.output)
    try:
        queries = q.filter(F.col("_reason").isNull()).select("spec_id", "embedding")
        # every core should search an equal share: file splits are not (a 10k-query file of one row group
        # read as two splits gave one task every query, and the search took twice as long), so the rows
        # are always dealt round-robin; the shuffle moves the queries only, a small cost next to the search
        n_parts = cfg.query_partitions or max(queries.rdd.getNumPartitions(), spark.sparkContext.defaultParallelism)
        queries = queries.repartition(n_parts)
        preds = queries.mapInPandas(
            _searcher(str(cfg.kb), meta, spec, cfg.k, cfg.faiss_threads_per_task, cfg.query_block_rows),
            spark_schema(PREDICTIONS),
        )
        preds.write.mode("overwrite").parquet(str(staging))
        rejects = (
            q.filter(F.col("_reason").isNotNull())
            .select(
                F.lit(cfg.input).alias("source_file"),
                F.lit(None).cast("long").alias("row_index"),
                "spec_id",
                F.lit("search-kb").alias("stage"),
                F.col("_reason").alias("reason"),
            )
            .toArrow()
        )
        n_rejected = write_rejects(staging, rejects) if rejects.num_rows else 0
        write_table_json(
            staging,
            {"job": "search-kb", "kb": str(cfg.kb), "kb_version": meta.kb_version, "k": cfg.k,
             "index": meta.factory, "task": meta.task, "config": dataclasses.asdict(cfg)},
        )
        out = commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    from skysift.runtime.output import count_rows

    written = count_rows(out)
    return {
        "read": int(read),
        "written": int(written),
        "rejected": int(n_rejected),
        "output": str(out),
        "kb_version": meta.kb_version,
        "k": cfg.k,
        "index": meta.factory,
        "shards": len(meta.shards),
    }

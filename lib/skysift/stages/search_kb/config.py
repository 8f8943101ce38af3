"""Configuration of `skysift search-kb`."""
from __future__ import annotations

from dataclasses import dataclass

from skysift.config import require


@dataclass(frozen=True)
class SearchKbConfig:
    """Configuration of `skysift search-kb`."""

    kb: str = ""
    """KB folder written by build-kb: a local path or a URI (file://, s3://BUCKET/PATH, hdfs://)."""
    input: str = ""
    """Query embeddings table (spec_id + embedding float list [+ model_version])."""
    output: str = ""
    """Predictions table folder to write: a local path or a URI (file://, s3://BUCKET/PATH, hdfs://)."""
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

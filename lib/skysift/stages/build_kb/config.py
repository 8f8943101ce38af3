"""Configuration of `skysift build-kb`."""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require
from skysift.kb.faiss_index import IndexSpec


@dataclass(frozen=True)
class BuildKbConfig:
    """Configuration of `skysift build-kb`."""

    embeddings: str = ""
    """Embeddings table (any Parquet table with spec_id + embedding float list)."""
    labels: str = ""
    """Labels table(s) (spec_id, label[, task, catalog, ra_deg, dec_deg, z]) from load-catalog; several tables
    (comma-separated, e.g. a survey's truth and a reference catalog) are concatenated by column name."""
    output: str = ""
    """KB folder to write: a local path or a URI (file://, s3://BUCKET/PATH, hdfs://; runtime.filesystem)."""
    task: str = ""
    """Task to build the KB for when the labels table holds several (its `task` column)."""
    index: IndexSpec = field(default_factory=IndexSpec)
    """faiss index type and parameters (flat = exact L2, Tang et al. 2025)."""
    n_shards: int = 0
    """Shards (one faiss index each); 0 = ceil(entries / max_shard_entries)."""
    max_shard_entries: int = 500_000
    """Largest shard when n_shards = 0 (768-d float32 flat: 1.5 GB)."""
    train_sample_size: int = 100_000
    """Vectors sampled to the driver to train IVF/PQ (faiss guideline: 30-256 per centroid)."""
    faiss_threads_per_task: int = 1
    """OpenMP threads faiss uses inside one Spark task (0 = faiss default: all cores)."""
    diagnostics_sample: int = 2000
    """KB entries sampled for the pairwise-distance diagnostics (0 = skip)."""
    seed: int = 0
    """Seed of the training and diagnostics samples."""
    resume: bool = True
    """A rerun after a kill keeps the trained index and the shards that finished (their files and completion
    markers in the staging folder) when config and input files are unchanged; false starts afresh."""

    def __post_init__(self):
        require(bool(self.embeddings), "build-kb needs --embeddings DIR")
        require(bool(self.labels), "build-kb needs --labels DIR")
        require(bool(self.output), "build-kb needs --output DIR")
        require(self.n_shards >= 0, f"n_shards must be >= 0, got {self.n_shards}")
        require(self.max_shard_entries >= 1, f"max_shard_entries must be >= 1, got {self.max_shard_entries}")
        require(self.train_sample_size >= 1, f"train_sample_size must be >= 1, got {self.train_sample_size}")
        require(self.faiss_threads_per_task >= 0, "faiss_threads_per_task must be >= 0")
        require(self.diagnostics_sample >= 0, "diagnostics_sample must be >= 0")

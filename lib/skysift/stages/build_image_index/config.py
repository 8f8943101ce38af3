"""Configuration of `skysift build-image-index`."""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require
from skysift.kb.faiss_index import IndexSpec


@dataclass(frozen=True)
class BuildImageIndexConfig:
    """A faiss index over embed-images' pooled vectors (a skysift addition: Friberg scans every image)."""

    input: str = ""
    """The image_vectors table written by embed-images (its features/ folder must stay beside it)."""
    output: str = ""
    """Index folder to write (the kb layout: _kb.json, shards/, entries/, _rejects)."""
    index: IndexSpec = field(default_factory=IndexSpec)
    """faiss index over the L2-normalised pooled vectors (flat = exact L2, i.e. exact cosine ranking:
    not stated in the paper, skysift choice)."""
    n_shards: int = 0
    """Shards (one faiss index each, built by one task each); 0 = ceil(entries / max_shard_entries)."""
    max_shard_entries: int = 250_000
    """Largest shard when n_shards = 0 (2048-d float32 flat: 2 GB)."""
    train_sample_size: int = 100_000
    """Vectors read to train IVF / PQ indexes (faiss guideline: 30-256 per centroid)."""
    faiss_threads_per_task: int = 1
    """OpenMP threads faiss uses inside one task (0 = faiss default)."""
    seed: int = 0
    """Seed of the training sample."""
    resume: bool = True
    """A rerun after a kill keeps the trained index and the shards that finished (their completion markers)
    when the config, the input files (names, sizes, times) and the shard count are unchanged
    (RELIABILITY.md); false trains and builds afresh."""

    def __post_init__(self):
        require(bool(self.input), "build-image-index needs --input VECTORS (the output of embed-images)")
        require(bool(self.output), "build-image-index needs --output DIR")
        require(self.n_shards >= 0 and self.max_shard_entries >= 1, "n_shards >= 0 and max_shard_entries >= 1")
        require(self.train_sample_size >= 1 and self.faiss_threads_per_task >= 0,
                "train_sample_size >= 1 and faiss_threads_per_task >= 0")

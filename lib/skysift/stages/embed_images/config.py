"""Configuration of `skysift embed-images`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require
from skysift.models.precision import PRECISIONS


@dataclass(frozen=True)
class EmbedImagesConfig:
    """Embedding of an images table with a trained image encoder (Friberg's ViT)."""

    input: str = ""
    """Images table: stamps (STAMPS) or cutouts (CUTOUTS of make-cutouts): bands, size_px, pixels + an id
    (image_id, stamp_id or object_id) [+ ra_deg, dec_deg]."""
    output: str = ""
    """Output folder: the image_vectors table, features/*.npy (patch features), _rejects."""
    model_uri: str = "models:/skysift-image-encoder@champion"
    """models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN/model, a logged model folder or a best.pt checkpoint."""
    bands: str = "grz"
    """Bands made into the three colour channels (Galaxy10 DECaLS: g, r, z); rows without them are rejected."""
    min_size_px: int = 16
    """Images smaller than this are rejected (skysift choice)."""
    feature_dtype: Literal["float16", "float32"] = "float16"
    """Stored patch features: float16 halves the store (paper model: 0.8 MB an image instead of 1.6 MB); the
    combined score from float16 features differs from float32 by < 1e-3 and keeps the top-10 (measured:
    tests/stages/embed_images)."""
    batch_size: int = 64
    """Images per forward pass on a GPU."""
    cpu_batch_size: int = 16
    """Images per forward pass on CPU."""
    rows_per_task: int = 512
    """Images per Spark task (whole Parquet row groups; skysift choice)."""
    device: Literal["auto", "cpu"] = "auto"
    """auto = the task's GPU from Spark resources, else CUDA if visible, else CPU."""
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    """Forward precision (models.precision); the features are stored as feature_dtype either way."""
    torch_threads: int = 0
    """CPU threads per Python worker (0 = the task's spark.task.cpus, 1 outside Spark)."""
    resume: bool = True
    """A rerun after a kill keeps the tasks that finished (their files and completion markers in the staging
    folder) when config, input files, model version and files and task count are unchanged; false starts
    afresh."""

    def __post_init__(self):
        require(bool(self.input), "input: the images table is required (--input PATH)")
        require(bool(self.output), "output: the output folder is required (--output PATH)")
        require(bool(self.model_uri), "model_uri is required (e.g. models:/skysift-image-encoder@champion)")
        require(set(self.bands) == set("grz") and len(self.bands) == 3, f"bands must be g, r and z, got {self.bands!r}")
        require(self.min_size_px >= 1, "min_size_px must be >= 1")
        require(self.batch_size >= 1 and self.cpu_batch_size >= 1, "batch sizes must be >= 1")
        require(self.rows_per_task >= 1, "rows_per_task must be >= 1")
        require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        require(self.torch_threads >= 0, "torch_threads must be >= 0")

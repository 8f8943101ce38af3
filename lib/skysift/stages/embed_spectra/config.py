"""Configuration of `skysift embed-spectra`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require
from skysift.models.precision import INFERENCE_PRECISIONS


@dataclass(frozen=True)
class EmbedConfig:
    """Embedding of a spectra table with a trained spectrum encoder."""

    input: str = ""
    """The `spectra` Parquet table to embed."""
    output: str = ""
    """Output folder of the `embeddings` table (rejects in OUTPUT/_rejects)."""
    model_uri: str = "models:/skysift-spec-encoder@champion"
    """models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN/model, a logged model folder or a best.pt checkpoint."""
    pooling: Literal["model", "mean", "max"] = "mean"
    """Pooling of patch tokens: mean (default), max, or `model` = the pooling the model was logged with."""
    batch_size: int = 256
    """Spectra per forward pass on a GPU (each Arrow batch is stacked into one tensor, then run in chunks)."""
    cpu_batch_size: int = 4
    """Spectra per forward pass on CPU: one spectrum already keeps the cores near their FLOP ceiling (735
    tokens make every matrix product large), and bigger chunks push the 735 x 735 attention maps out of
    cache (tiny model, 2 threads: 277/s at 1, 255/s at 4, 160/s at 16, 138/s at 64)."""
    device: Literal["auto", "cpu"] = "auto"
    """auto = the task's GPU from Spark resources, else CUDA if visible, else CPU."""
    precision: Literal["auto", "fp32", "tf32", "bf16"] = "auto"
    """auto (default) = bf16 where the device computes bfloat16 natively (CPUs with AVX-512 BF16 or AMX, CUDA
    GPUs from Ampere on), else fp32 (models.precision.resolve_precision); fp32; tf32 = TF32 tensor-core products
    on NVIDIA GPUs (plain fp32 on CPU); bf16 = bfloat16 autocast for the forward pass: 1.9x (tiny) to 3.5x
    (paper model) faster on this machine's EPYC cores, 5.8x on an H100, embeddings within ~0.3 % relative
    L2 (see BENCHMARKS.md); the output stays float32."""
    torch_threads: int = 0
    """CPU threads per Python worker (0 = the task's spark.task.cpus)."""
    partitions: int = 0
    """Tasks (0 = about ``rows_per_task`` spectra each, at least two per core). A task embeds whole row groups
    of the input (runtime.resume work items), so this many tasks needs at least as many row groups."""
    rows_per_task: int = 8192
    """Spectra per task when ``partitions`` is 0: about one 128 MB input split of 3,688-point spectra (Spark's
    default split size, what one task read before resume), 30 s of tiny-model work on two CPU cores; a kill
    loses at most the tasks then running (skysift choice)."""
    resume: bool = True
    """A rerun after a kill keeps the tasks that finished (their files and completion markers in the staging
    folder) when config, input files, model version and task count are unchanged; false starts afresh."""

    def __post_init__(self):
        require(bool(self.input), "input: the spectra table is required (--input PATH)")
        require(bool(self.output), "output: the embeddings folder is required (--output PATH)")
        require(bool(self.model_uri), "model_uri is required (e.g. models:/skysift-spec-encoder@champion)")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.cpu_batch_size >= 1, f"cpu_batch_size must be >= 1, got {self.cpu_batch_size}")
        require(self.precision in INFERENCE_PRECISIONS,
                f"precision must be one of {INFERENCE_PRECISIONS}, got {self.precision!r}")
        require(self.torch_threads >= 0, "torch_threads must be >= 0")
        require(self.partitions >= 0, "partitions must be >= 0")
        require(self.rows_per_task >= 1, f"rows_per_task must be >= 1, got {self.rows_per_task}")

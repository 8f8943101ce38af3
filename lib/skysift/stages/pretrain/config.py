"""Configuration of `skysift pretrain`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.models.precision import PRECISIONS
from skysift.models.spectrum_encoder import EncoderConfig


@dataclass(frozen=True)
class MlflowConfig:
    """Where and how the run is tracked and registered."""

    enabled: bool = True
    """Log params, metrics and the model to MLflow (rank 0 only)."""
    experiment: str = "skysift-pretrain"
    """MLflow experiment name."""
    log_model: bool = True
    """Log the best checkpoint as an MLflow PyTorch model at the end of a complete run."""
    register: bool = True
    """Register the logged model in the model registry."""
    registered_model: str = "skysift-spec-encoder"
    """Registered model name."""
    alias: str = "champion"
    """Alias moved to the new version only when its validation loss beats the current holder's."""

    def __post_init__(self):
        require(bool(self.experiment), "mlflow.experiment must not be empty")
        require(bool(self.registered_model), "mlflow.registered_model must not be empty")
        require(bool(self.alias) and "@" not in self.alias, f"mlflow.alias must be a plain name, got {self.alias!r}")


@dataclass(frozen=True)
class PretrainConfig:
    """Pre-training of the spectrum encoder (Tang et al. 2025 defaults in conf/pretrain.yaml)."""

    input: str = ""
    """The `spectra` Parquet table (folder) to train on."""
    output: str = "runs/pretrain"
    """Run folder: last.pt (resume), best.pt (best validation loss), train_summary.json."""
    model: EncoderConfig = field(default_factory=EncoderConfig)
    """Encoder shape and masking (see EncoderConfig)."""
    batch_size: int = 32
    """Spectra per step per process (Tang et al. 2025: 32)."""
    lr: float = 1e-5
    """Peak AdamW learning rate (Tang et al. 2025: 1e-5)."""
    weight_decay: float = 0.01
    """AdamW weight decay (not stated in the paper; torch's default)."""
    betas: tuple[float, ...] = (0.9, 0.999)
    """AdamW betas (torch defaults)."""
    warmup_steps: int = 2000
    """Linear warm-up steps (Tang et al. 2025: 2,000)."""
    total_steps: int = 500_000
    """Steps of the whole schedule; cosine decay ends here (Tang et al. 2025: 500,000)."""
    min_lr_ratio: float = 0.0
    """lr at the end of the cosine as a fraction of the peak."""
    stop_after_steps: int | None = None
    """Stop at this step without changing the schedule (a partial run to --resume later; no model registered)."""
    grad_clip: float = 1.0
    """Gradient-norm clip (0 = off)."""
    val_fraction: float = 0.05
    """Fraction of spectra (by a hash of spec_id) held out for validation."""
    val_every: int = 1000
    """Validate (and maybe save best.pt) every this many steps and at the end."""
    val_batches: int = 50
    """Validation batches per evaluation."""
    checkpoint_every: int = 1000
    """Write last.pt every this many steps and at the end."""
    log_every: int = 10
    """Log loss / lr / throughput every this many steps."""
    shuffle_buffer: int = 2048
    """Rows in each reader's block shuffle buffer."""
    loader_workers: int = 0
    """DataLoader worker processes per rank (0 = read in the training process)."""
    seed: int = 0
    """Seed of init, masks, dropout and data order."""
    resume: bool = False
    """Continue from output/last.pt when it exists."""
    pooling: Literal["mean", "max"] = "mean"
    """Pooling of patch tokens in the logged embedding model."""
    num_processes: int = 1
    """Data-parallel processes (one per GPU; >1 on CPU uses gloo)."""
    launcher: Literal["torch_distributor", "spawn"] = "torch_distributor"
    """How to start several processes: pyspark TorchDistributor(local_mode=True), or torch spawn."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Training device (auto = CUDA when visible)."""
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    """fp32; tf32 = TF32 tensor-core products forward and backward (NVIDIA GPUs; fp32 on CPU); or bf16 =
    bfloat16 autocast of the forward pass (weights, AdamW state and the loss stay float32; no loss scaling
    needed as bfloat16 keeps float32's exponent range). Validation always runs in fp32 (models.precision)."""
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    """DDP backend (auto = nccl on CUDA, gloo on CPU)."""
    progress: bool = True
    """Show a progress bar (step, loss, spectra/s) on rank 0."""
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    """MLflow tracking and registry settings."""

    def __post_init__(self):
        require(bool(self.input), "input: the spectra table is required (--input PATH)")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"lr must be > 0, got {self.lr}")
        require(self.total_steps >= 1, f"total_steps must be >= 1, got {self.total_steps}")
        require(0 <= self.warmup_steps <= self.total_steps,
                f"warmup_steps ({self.warmup_steps}) must be in [0, total_steps={self.total_steps}]")
        require(self.stop_after_steps is None or self.stop_after_steps >= 1, "stop_after_steps must be >= 1")
        require(0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}")
        require(min(self.val_every, self.val_batches, self.checkpoint_every, self.log_every) >= 1,
                "val_every, val_batches, checkpoint_every and log_every must be >= 1")
        require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        require(self.num_processes >= 1, f"num_processes must be >= 1, got {self.num_processes}")
        require(self.loader_workers >= 0, "loader_workers must be >= 0")
        require(self.shuffle_buffer >= 1, "shuffle_buffer must be >= 1")
        require(len(self.betas) == 2, f"betas must hold two numbers, got {self.betas}")
        require(0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio must be in [0, 1]")

"""Configuration of `skysift train-sfr`."""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require
from skysift.models.sfr_config import MODEL_NAMES, SfrModelsConfig


@dataclass(frozen=True)
class TrainSfrConfig:
    """Configuration of `skysift train-sfr` (trains on the driver)."""

    input: str = ""
    """Output folder of `skysift build-multimodal` (its multimodal/ table)."""
    output: str = ""
    """Output folder (replaced as a whole on success): report.json and the champion's model folder."""
    image_px: tuple[int, ...] = (64, 32, 16, 8)
    """Image resolutions to train at (Rustamov 2025: 64, 32, 16, 8)."""
    quality_levels: tuple[int, ...] = (0, 1, 2, 3)
    """Spectral quality levels to train at (four in the thesis; ours: 1x / 2x / 4x / 8x binning)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds; metrics are mean +- std over them (the thesis gives no repeats: skysift choice)."""
    models: tuple[str, ...] = MODEL_NAMES
    """Models to train (default all: three fusions and the baselines)."""
    model: SfrModelsConfig = field(default_factory=SfrModelsConfig)
    """Features, architectures and training (image_px / quality_level are set per combination)."""
    experiment: str = "skysift-sfr"
    """MLflow experiment."""
    registered_model: str = "skysift-sfr"
    """Registered model name; the lowest validation MSE gets the alias below."""
    alias: str = "champion"
    """Registry alias of the best model."""
    register: bool = True
    """Log to MLflow and register (False: only report.json and the model folder)."""
    torch_threads: int = 0
    """torch CPU threads on the driver (0 = torch's default, one per core). 1 on a shared machine: there a
    2-thread torch process stalls in every parallel region (the quality test: not done after 25 min with 2
    threads at load ~11, 143 s with 1)."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input BUILD_MULTIMODAL_OUTPUT)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(len(self.image_px) >= 1 and all(p in (64, 32, 16, 8) for p in self.image_px),
                f"image_px must be among 64, 32, 16, 8, got {self.image_px}")
        require(len(self.quality_levels) >= 1 and all(q in (0, 1, 2, 3) for q in self.quality_levels),
                f"quality_levels must be among 0..3, got {self.quality_levels}")
        require(len(self.seeds) >= 1, "seeds must not be empty")
        require(self.torch_threads >= 0, f"torch_threads must be >= 0, got {self.torch_threads}")
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        require(not unknown and len(self.models) >= 1, f"models: unknown {unknown}; known: {list(MODEL_NAMES)}")

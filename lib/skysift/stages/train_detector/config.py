"""Configuration of `skysift train-detector`."""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require
from skysift.detection.labels import MagnitudeBoxConfig
from skysift.detection.pasting import PastingConfig
from skysift.detection.yolo_train import YoloTrainConfig
from skysift.images.tiling import TileGridConfig


@dataclass(frozen=True)
class DetectorSourceConfig:
    """Synthetic imaging survey fields the training tiles come from; the split is by field, as the paper's by image."""

    seed: int = 0
    """Survey seed."""
    n_fields: int = 12
    """Fields rendered (one camcol); skysift choice for a CPU-sized run (the paper: 1364 images)."""
    val_fields: int = 2
    """The last this many fields are the validation set (Zhao et al. 2025: 227 of 1364 images, a split by image)."""
    rows: int = 1489
    """Frame rows (SDSS 1489)."""
    cols: int = 2048
    """Frame columns (SDSS 2048)."""

    def __post_init__(self):
        require(self.n_fields >= 2, f"source.n_fields must be >= 2 (train and validation), got {self.n_fields}")
        require(1 <= self.val_fields < self.n_fields, f"source.val_fields must be in [1, n_fields), got {self.val_fields}")
        require(min(self.rows, self.cols) >= 64, f"source.rows and source.cols must be >= 64, got {self.rows} x {self.cols}")


@dataclass(frozen=True)
class DetectorRegistryConfig:
    """MLflow tracking and registry of the trained detector."""

    enabled: bool = True
    """Log params, metrics and best.pt to MLflow and register it."""
    experiment: str = "skysift-train-detector"
    """MLflow experiment name."""
    registered_model: str = "skysift-detector"
    """Registered model name."""
    alias: str = "champion"
    """Alias moved to the new version when its validation mAP50-95 beats the holder's (compared as 1 - mAP50-95)."""

    def __post_init__(self):
        require(bool(self.experiment) and bool(self.registered_model), "mlflow.experiment and mlflow.registered_model must not be empty")
        require(bool(self.alias) and "@" not in self.alias, f"mlflow.alias must be a plain name, got {self.alias!r}")


@dataclass(frozen=True)
class TrainDetectorConfig:
    """YOLOv8 training (Zhao et al. 2025 settings in conf/train_detector.yaml, the tiny CPU profile in *_tiny.yaml)."""

    output: str = "runs/train-detector"
    """Run folder: dataset/ (images, labels, data.yaml), yolo/ (ultralytics run), train_summary.json."""
    source: DetectorSourceConfig = field(default_factory=DetectorSourceConfig)
    """Where the training tiles come from (this version: the synthetic imaging survey)."""
    tiles: TileGridConfig = field(default_factory=TileGridConfig)
    """Tile grid (Zhao et al. 2025: 12 tiles of 640 x 640 per frame)."""
    boxes: MagnitudeBoxConfig = field(default_factory=MagnitudeBoxConfig)
    """Magnitude -> box table, r limit, petroRad fix."""
    pasting: PastingConfig = field(default_factory=PastingConfig)
    """Source pasting (2 sigma, >= 3 px)."""
    paste: bool = True
    """Train on pasted images (Zhao et al. 2025: yes); false = the raw frames with their labels."""
    yolo: YoloTrainConfig = field(default_factory=YoloTrainConfig)
    """ultralytics settings (defaults = the paper profile)."""
    yolo_config_dir: str = ""
    """Writable YOLO_CONFIG_DIR ('' = OUTPUT/yolo_config)."""
    mlflow: DetectorRegistryConfig = field(default_factory=DetectorRegistryConfig)
    """MLflow settings."""

    def __post_init__(self):
        require(bool(self.output), "output: the run folder is required (--output PATH)")

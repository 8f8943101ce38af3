"""Configuration of `skysift train-classifier`."""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require
from skysift.detection.classifier_train import ClassifierTrainConfig
from skysift.detection.crops import CropConfig


@dataclass(frozen=True)
class SyntheticSourceConfig:
    """The synthetic imaging survey fields the crops are cut from (labels = the truth class, zWarning 0)."""

    seed: int = 0
    """Survey seed."""
    n_fields: int = 20
    """Fields rendered (one camcol)."""
    rows: int = 1489
    """Frame rows (SDSS 1489)."""
    cols: int = 2048
    """Frame columns (SDSS 2048)."""
    qso_density_per_deg2: float = 3000.0
    """Photometric QSO density: far above the sky's ~150 / deg2 (the survey default) so that a few fields give
    enough QSOs for a balanced set (the paper draws balanced classes from 220,599 spectra; skysift choice)."""
    star_density_per_deg2: float = 5000.0
    """Stars per deg2 (the survey default, high latitude); raised for small CPU runs so that a few small fields give
    enough stars for a balanced set (skysift choice)."""
    galaxy_density_bright_per_deg2: float = 90.0
    """Galaxies with r < 17.77 per deg2 (the survey default; the fainter counts scale with it)."""
    spec_depth_mag_r: float | None = None
    """Only catalogued objects with a label magnitude (psfMag_r of point sources, petroMag_r of galaxies) up to this
    stand in for spectroscopic ones; None: every catalogued object to crops.r_limit_mag (22.2). Not stated in the
    paper: skysift choice for the synthetic stand-in of SpecPhoto, whose spectra are brighter than the imaging limit
    (the survey's own SpecPhoto model: QSOs r <= 21, stars <= 20.5, galaxies <= 17.77). Why it matters (BENCHMARKS.md,
    issue 15): at r 21-22.2 the g r i colours of QSOs and F / G stars overlap within the noise, so no classifier of
    g r i crops, nor a random forest on the catalog's g r i colours (0.59-0.72 there), reaches 0.85."""

    def __post_init__(self):
        require(self.n_fields >= 1, f"source.n_fields must be >= 1, got {self.n_fields}")
        require(min(self.rows, self.cols) >= 64, f"source.rows and source.cols must be >= 64, got {self.rows} x {self.cols}")
        require(self.qso_density_per_deg2 >= 0, f"source.qso_density_per_deg2 must be >= 0, got {self.qso_density_per_deg2}")
        require(self.star_density_per_deg2 >= 0 and self.galaxy_density_bright_per_deg2 >= 0,
                "source.star_density_per_deg2 and source.galaxy_density_bright_per_deg2 must be >= 0")
        require(self.spec_depth_mag_r is None or 10.0 <= self.spec_depth_mag_r <= 30.0,
                f"source.spec_depth_mag_r must be null or an r magnitude in [10, 30], got {self.spec_depth_mag_r}")


@dataclass(frozen=True)
class ModelRegistryConfig:
    """MLflow tracking and registry of the trained model."""

    enabled: bool = True
    """Log params, metrics and the model to MLflow."""
    experiment: str = "skysift-train-classifier"
    """MLflow experiment name."""
    registered_model: str = "skysift-classifier"
    """Registered model name."""
    alias: str = "champion"
    """Alias moved to the new version when its validation loss beats the holder's."""

    def __post_init__(self):
        require(bool(self.experiment) and bool(self.registered_model), "mlflow.experiment and mlflow.registered_model must not be empty")
        require(bool(self.alias) and "@" not in self.alias, f"mlflow.alias must be a plain name, got {self.alias!r}")


@dataclass(frozen=True)
class TrainClassifierConfig:
    """Training of Conv4Net (settings not stated by Zhao et al. 2025 are skysift choices; conf/train_classifier.yaml)."""

    output: str = "runs/train-classifier"
    """Run folder: classifier_state.pt, classifier_meta.json, train_summary.json."""
    source: SyntheticSourceConfig = field(default_factory=SyntheticSourceConfig)
    """Where the labelled crops come from (this version: the synthetic imaging survey)."""
    crops: CropConfig = field(default_factory=CropConfig)
    """Crop selection, box table, augmentation and the 8:1:1 split (Zhao et al. 2025)."""
    per_class: int | None = None
    """Crops per class after balancing (None: the rarest class's count)."""
    train: ClassifierTrainConfig = field(default_factory=ClassifierTrainConfig)
    """Optimisation and the network shape."""
    split_seed: int = 0
    """Seed of the balance draw and the split."""
    mlflow: ModelRegistryConfig = field(default_factory=ModelRegistryConfig)
    """MLflow settings."""

    def __post_init__(self):
        require(bool(self.output), "output: the run folder is required (--output PATH)")
        require(self.per_class is None or self.per_class >= 3, f"per_class must be >= 3 or null, got {self.per_class}")

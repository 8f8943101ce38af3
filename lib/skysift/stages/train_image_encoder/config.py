"""Configuration of `skysift train-image-encoder` (Friberg, GalaxIDNet; defaults the paper leaves open come
from the author's code, note section 6, and are labelled so)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.models.image_similarity import SimilarityWeights
from skysift.models.image_vit import ImageVitConfig
from skysift.models.precision import PRECISIONS


@dataclass(frozen=True)
class ImageMlflowConfig:
    """Where and how the run is tracked and registered."""

    enabled: bool = True
    """Log params, metrics and the model to MLflow."""
    experiment: str = "skysift-image-encoder"
    """MLflow experiment name."""
    register: bool = True
    """Register the best checkpoint in the model registry (a complete run only)."""
    registered_model: str = "skysift-image-encoder"
    """Registered model name."""
    alias: str = "champion"
    """Alias moved to the new version only when its validation loss beats the holder's (or the holder was
    trained on another input: bands and size)."""

    def __post_init__(self):
        require(bool(self.experiment), "mlflow.experiment must not be empty")
        require(bool(self.registered_model), "mlflow.registered_model must not be empty")
        require(bool(self.alias) and "@" not in self.alias, f"mlflow.alias must be a plain name, got {self.alias!r}")


@dataclass(frozen=True)
class TrainImageEncoderConfig:
    """Contrastive training of the image encoder (conf/train_image_encoder.yaml: the paper setting)."""

    input: str = ""
    """Images table (stamps or cutouts: bands, size_px, pixels + image_id, stamp_id or object_id)."""
    output: str = "runs/train-image-encoder"
    """Run folder: best.pt (best validation loss), train_summary.json, _rejects."""
    model: ImageVitConfig = field(default_factory=ImageVitConfig)
    """Encoder shape (profile paper = Friberg's; tiny for tests and the demo)."""
    bands: str = "grz"
    """Bands made into the three colour channels, in table order (Galaxy10 DECaLS: g, r, z)."""
    min_size_px: int = 16
    """Images smaller than this are rejected (skysift choice)."""
    max_images: int = 0
    """Use at most this many images, the first of the table (0 = all)."""
    split: tuple[float, ...] = (0.8, 0.1, 0.1)
    """Train / test / validation fractions of a seeded random split (author's code: 0.8 / 0.1 / 0.1)."""
    batch_size: int = 8
    """Images (= pairs) per step (author's code: 8)."""
    epochs: int = 15
    """Passes over the training images (author's code: 15)."""
    lr: float = 1e-3
    """Adam learning rate (author's code: 0.001)."""
    weight_decay: float = 5e-4
    """Adam weight decay (author's code: 5e-4)."""
    n_transforms: int = 1
    """Transforms drawn per transformed image (a hyper-parameter in Friberg; author's code: 1)."""
    positive_transforms: tuple[str, ...] = ("hflip", "vflip", "rotate", "perspective", "crop_pad", "noise")
    """Positive pool (models.image_augment.TRANSFORMS names): the author's code's six (Friberg: "x/y-flip,
    rotations, adding minor Gaussian noise, etc."); 'dihedral' (exact quarter turns and mirrors), 'zoom',
    'brightness' and 'stars' are skysift's (none raised the tiny profile's retrieval quality: BENCHMARKS.md,
    issue 17)."""
    negative_transforms: tuple[str, ...] = ("hflip", "vflip", "rotate", "perspective", "crop_pad", "noise",
                                            "erase", "blur")
    """Negative pool: the positive pool + erasing and blur (author's code; Friberg: "perspective warp,
    Gaussian blur, etc.")."""
    positive_fraction: float = 0.5
    """Probability that an image's pair is positive (Friberg: 'randomly generate one or the other';
    the rate is not stated: skysift choice; the tiny config's 0.8 made the learned rotation / flip
    invariance 0.946 / 0.884 / 0.832 (seeds 0 / 1 / 2) against 0.888 / 0.848 / 0.838 at 0.5: BENCHMARKS.md,
    issue 17)."""
    margin: float = 1.0
    """Contrastive margin m (Friberg: 1.0, the maximum of the similarity)."""
    negative_margin: float = 0.0
    """Negatives cost max(0, |s| - negative_margin)^2 (0 = Friberg's printed s^2, which pulls every other
    image, same class or not, to s = 0; > 0 is skysift's, models.image_similarity.contrastive_loss)."""
    weights: SimilarityWeights = field(default_factory=SimilarityWeights)
    """Weights of the combined similarity (Friberg: 1/3 each)."""
    mini_search_batch: int = 8
    """Images per mini-search of the loose accuracy (the paper's batch size is not stated; author's code: 8,
    chance 1/8); reported with every value."""
    early_stop_patience: int = 3
    """Stop after this many epochs without a validation-loss improvement of min_delta (0 = never). The
    author's early stop never fires (note section 6): a working one is a skysift choice."""
    early_stop_min_delta: float = 0.0
    """Improvement that resets the patience (skysift choice)."""
    seed: int = 0
    """Seed of the split, the initialisation, the batch order and every transform."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Training device (auto = CUDA when visible)."""
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    """Forward precision (models.precision); validation always runs in fp32."""
    torch_threads: int = 0
    """CPU threads (0 = torch's default)."""
    mlflow: ImageMlflowConfig = field(default_factory=ImageMlflowConfig)
    """MLflow tracking and registry settings."""

    def __post_init__(self):
        require(bool(self.input), "input: the images table is required (--input PATH)")
        require(bool(self.output), "output: the run folder is required (--output PATH)")
        require(len(self.bands) == 3 and len(set(self.bands)) == 3, f"bands must name 3 distinct bands, got {self.bands!r}")
        require(set(self.bands) == set("grz"), f"bands must be g, r and z (the Lupton stretch's), got {self.bands!r}")
        require(len(self.split) == 3 and all(f >= 0 for f in self.split) and abs(sum(self.split) - 1) < 1e-6
                and self.split[0] > 0 and self.split[2] > 0,
                f"split must be three fractions (train, test, val) summing to 1 with train, val > 0, got {self.split}")
        require(self.batch_size >= 1 and self.epochs >= 1, "batch_size and epochs must be >= 1")
        require(self.lr > 0 and self.weight_decay >= 0, "lr must be > 0 and weight_decay >= 0")
        require(self.n_transforms >= 1, f"n_transforms must be >= 1, got {self.n_transforms}")
        from skysift.models.image_augment import TRANSFORMS

        for key in ("positive_transforms", "negative_transforms"):
            names = list(getattr(self, key))
            require(bool(names) and len(set(names)) == len(names) and set(names) <= set(TRANSFORMS),
                    f"{key} must list distinct transforms of {sorted(TRANSFORMS)}, got {names}")
        require(0.0 <= self.positive_fraction <= 1.0, "positive_fraction must be in [0, 1]")
        require(self.margin > 0, f"margin must be > 0, got {self.margin}")
        require(0.0 <= self.negative_margin < self.margin,
                f"negative_margin must be in [0, margin={self.margin}), got {self.negative_margin}")
        require(self.mini_search_batch >= 2, f"mini_search_batch must be >= 2, got {self.mini_search_batch}")
        require(self.early_stop_patience >= 0 and self.early_stop_min_delta >= 0, "early_stop values must be >= 0")
        require(self.max_images >= 0 and self.min_size_px >= 1 and self.torch_threads >= 0,
                "max_images, torch_threads must be >= 0 and min_size_px >= 1")
        require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")

"""Typed configuration of the star-formation-rate models (Rustamov 2025; notes in shared/papers/002-*).

The thesis states few training details: every value it does not print is labelled "not stated in the
thesis: skysift choice", is a config value, and is logged with the run.
"""
from __future__ import annotations

from dataclasses import dataclass

from skysift.config import require

MODEL_NAMES = ("early_fusion", "intermediate_fusion", "late_fusion", "image_cnn_combined", "image_cnn_per_band",
               "spectrum_mlp", "decision_tree", "gradient_boosting")
"""Every model train-sfr knows: the three fusions (thesis), the single-modality baselines (thesis: image CNN
per-band and combined, spectrum-only network, decision tree) and gradient boosting (skysift addition)."""
FUSION_MODELS = ("early_fusion", "intermediate_fusion", "late_fusion")
"""The multimodal models."""
SINGLE_MODALITY = {"image": ("image_cnn_combined", "image_cnn_per_band"), "spectrum": ("spectrum_mlp",)}
"""The single-modality network baselines by modality."""


@dataclass(frozen=True)
class SfrModelsConfig:
    """Features, architectures and training of the SFR models."""

    image_px: int = 64
    """Image resolution the models see: 64, or a downsampled level 32 / 16 / 8 (Rustamov 2025: all four)."""
    quality_level: int = 0
    """Spectral quality level 0-3 = the full grid, 2x, 4x, 8x binned (the thesis has four levels but does not
    define them: skysift choice, models.sfr_data.QUALITY_BINNING)."""
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    """Train / validation / test fractions of the objects (not stated in the thesis: skysift choice)."""
    split_seed: int = 0
    """Seed of the split by object (fixed; not stated in the thesis: skysift choice)."""
    image_softening_nmgy: float = 0.05
    """Pixels enter every model as asinh(pixel / this): the cutouts span ~5 decades in nanomaggies (sky noise
    ~0.02 nMgy to a 14.5 mag core), and asinh is linear below it and logarithmic above (not stated in the
    thesis: skysift choice, ~2x the r-band sky noise)."""
    image_photometry: bool = True
    """Add aperture photometry to the image features: asinh(flux within each of photometry_radii_arcsec /
    photometry_softening_nmgy) per band, standardised on the training split; appended to the image PCA
    components (early fusion, trees) and to the CNN's pooled features (image CNNs, intermediate fusion). Why:
    SFR needs the total light and the fibre's share of it (the spectrum sees the 3 arcsec fibre only, the
    aperture correction of MPA-JHU), and neither PCA of asinh pixels nor a small CNN with average pooling
    sums linear flux. Measured on the synthetic survey (1,400 objects, 16 px, q3, gradient boosting):
    test R2 image PCA 0.71 -> photometry 0.82, spectrum 0.84 -> spectrum + photometry 0.88 (not stated
    in the thesis: skysift choice)."""
    photometry_radii_arcsec: tuple[float, ...] = (1.5, 3.0, 6.0, 10.0)
    """Aperture radii: 1.5 arcsec is the SDSS fibre (3 arcsec diameter), 10 arcsec holds most of a z ~ 0.1
    galaxy's light inside a 25 arcsec cutout (skysift choice)."""
    photometry_softening_nmgy: float = 1.0
    """Softening of the aperture fluxes' asinh (~ the sky noise in a 6 arcsec aperture: skysift choice)."""
    cutout_width_arcsec: float = 25.344
    """Width of the cutouts on the sky (make-cutouts' 64 px x SDSS 0.396 arcsec/px): the pixel scale at a
    resolution S is cutout_width_arcsec / S (the aperture radii in pixels follow)."""
    image_pca_components: int = 100
    """PCA components of the flattened images (Rustamov 2025, §9.5: 100)."""
    image_pca_scaling: str = "block"
    """How the image PCA components are scaled: 'block' = all divided by the first component's training std
    (PCA's variance order kept), 'whiten' = each to unit variance. §9.5 names PCA and standard scaling, not
    their order. Whitening gives the ~80 low-variance components, mostly pixel noise, the weight of the first
    ones: measured on the synthetic survey (1,400 objects, 16 px, q3, seeds 0-2) early fusion's mean R2 was
    val 0.845 / test 0.843 whitened, 0.874 / 0.868 block-scaled (skysift choice)."""
    spectrum_pca_components: int = 50
    """PCA components of the spectra (Rustamov 2025, §9.5: 50)."""
    spectrum_log_norm: bool = True
    """Append log10(norm_factor) to the spectral features: the spectra table stores flux divided by its median,
    which removes the flux scale that L(Halpha) and so SFR need (not stated in the thesis: skysift choice)."""
    spectrum_redshift: bool = True
    """Append log10(1 + z) (the spectrum's redshift, spectra.z) to the spectral features. The spectra are on an
    observed-frame grid: z is in the line positions, which neither PCA nor an MLP reads as a number, and
    SFR = 7.9e-42 L(Halpha) needs the distance to turn the Halpha flux (and the images' fluxes) into
    luminosities. Measured on the synthetic survey (1,400 objects, 16 px, q3, seeds 0-2, the other features
    as configured), mean test R2 without -> with it: spectrum MLP 0.840 -> 0.849, late fusion 0.853 -> 0.856,
    early 0.864 -> 0.865, intermediate 0.878 -> 0.865 (a modest gain for the spectrum-only model; kept for it
    and for late fusion) (not stated in the thesis: skysift choice)."""
    early_hidden: tuple[int, ...] = (128, 64)
    """Early fusion MLP widths (Rustamov 2025, §9.4.1: FC 128 -> FC 64)."""
    early_dropout: tuple[float, ...] = (0.3, 0.2)
    """Dropout after each early-fusion hidden layer (Rustamov 2025, §9.4.1: 0.3 and 0.2)."""
    cnn_channels: tuple[int, ...] = (16, 32, 64)
    """Image CNN: one 3x3 conv + ReLU + 2x2 max-pool per entry, then global average pooling (the CNN is not
    stated in the thesis: skysift choice)."""
    image_head_hidden: tuple[int, ...] = (64,)
    """Hidden FC widths (ReLU, cnn_dropout) of the image-only CNNs' head over [pooled CNN features, photometry];
    () = a linear head. A linear head passes the photometry on linearly, and log SFR is not linear in it
    (not stated in the thesis: skysift choice)."""
    cnn_dropout: float = 0.3
    """Dropout on the CNN's pooled features (thesis range 0.2-0.5; value not stated: skysift choice)."""
    spectrum_branch_input: str = "pca"
    """Input of the intermediate fusion's spectral branch and of the spectrum-only model: 'pca' (the 50
    components) or 'flux' (the binned flux itself) (thesis ambiguous, notes §8: skysift default pca)."""
    spectrum_hidden: tuple[int, int] = (128, 64)
    """Two-layer FC spectral branch (Rustamov 2025, §9.4.2: two layers; widths not stated: skysift choice)."""
    spectrum_dropout: float = 0.2
    """Dropout in the spectral branch (not stated in the thesis: skysift choice)."""
    fusion_hidden: tuple[int, ...] = (64,)
    """Fusion FC layers after the concatenation (§9.4.2: FC layers with dropout; widths not stated: skysift choice)."""
    fusion_dropout: float = 0.3
    """Dropout in the fusion layers (thesis range 0.2-0.5; value not stated: skysift choice)."""
    late_weights: tuple[float, float] = (0.5, 0.5)
    """Late fusion: weights of the image and spectrum predictions (Rustamov 2025, §9.4.3: 'averaged')."""
    late_image_model: str = "image_cnn_combined"
    """Image model of the late fusion (not stated in the thesis: skysift choice)."""
    learning_rate: float = 1e-3
    """Adam learning rate (optimizer and rate not stated in the thesis: skysift choice)."""
    weight_decay: float = 1e-4
    """Adam L2 weight decay (not stated in the thesis: skysift choice)."""
    batch_size: int = 64
    """Mini-batch size (not stated in the thesis: skysift choice)."""
    max_epochs: int = 150
    """Most epochs per network (not stated in the thesis: skysift choice)."""
    patience: int = 15
    """Early stopping: stop after this many epochs without a lower validation loss, keep the best weights
    (§9.5 states early stopping 'when validation loss ceases to decrease'; patience not stated: skysift choice)."""
    tree_max_depth: int = 6
    """Decision tree depth (not stated in the thesis: skysift choice)."""
    gb_estimators: int = 300
    """Gradient boosting trees (skysift addition; value skysift choice)."""
    gb_learning_rate: float = 0.05
    """Gradient boosting learning rate (skysift choice)."""
    gb_max_depth: int = 3
    """Gradient boosting tree depth (skysift choice)."""
    device: str = "cpu"
    """torch device of the networks ('cpu', 'cuda', 'auto' = cuda when available)."""

    def __post_init__(self):
        require(self.image_px in (64, 32, 16, 8), f"image_px must be 64, 32, 16 or 8, got {self.image_px}")
        require(self.quality_level in (0, 1, 2, 3), f"quality_level must be 0..3, got {self.quality_level}")
        require(len(self.split_fractions) == 3 and all(f > 0 for f in self.split_fractions)
                and abs(sum(self.split_fractions) - 1.0) < 1e-9,
                f"split_fractions must be 3 positive fractions summing to 1, got {self.split_fractions}")
        require(self.image_pca_scaling in ("block", "whiten"),
                f"image_pca_scaling must be 'block' or 'whiten', got {self.image_pca_scaling!r}")
        require(all(w >= 1 for w in self.image_head_hidden), f"image_head_hidden widths must be >= 1, got {self.image_head_hidden}")
        require(self.image_softening_nmgy > 0, f"image_softening_nmgy must be > 0, got {self.image_softening_nmgy}")
        require(self.image_pca_components >= 1 and self.spectrum_pca_components >= 1, "PCA components must be >= 1")
        require(len(self.photometry_radii_arcsec) >= 1 and all(r > 0 for r in self.photometry_radii_arcsec),
                f"photometry_radii_arcsec must be radii > 0, got {self.photometry_radii_arcsec}")
        require(self.photometry_softening_nmgy > 0 and self.cutout_width_arcsec > 0,
                "photometry_softening_nmgy and cutout_width_arcsec must be > 0")
        require(len(self.early_hidden) == len(self.early_dropout) >= 1,
                f"early_hidden {self.early_hidden} and early_dropout {self.early_dropout} need the same length")
        for p in (*self.early_dropout, self.cnn_dropout, self.spectrum_dropout, self.fusion_dropout):
            require(0 <= p < 1, f"dropout rates must be in [0, 1), got {p}")
        require(len(self.cnn_channels) >= 1 and all(c >= 1 for c in self.cnn_channels), "cnn_channels must be >= 1")
        require(self.spectrum_branch_input in ("pca", "flux"),
                f"spectrum_branch_input must be 'pca' or 'flux', got {self.spectrum_branch_input!r}")
        require(len(self.spectrum_hidden) == 2, f"spectrum_hidden must give two widths, got {self.spectrum_hidden}")
        require(len(self.late_weights) == 2 and min(self.late_weights) >= 0 and sum(self.late_weights) > 0,
                f"late_weights must be two weights >= 0 (image, spectrum), got {self.late_weights}")
        require(self.late_image_model in SINGLE_MODALITY["image"],
                f"late_image_model must be one of {SINGLE_MODALITY['image']}, got {self.late_image_model!r}")
        require(self.learning_rate > 0 and self.weight_decay >= 0, "learning_rate must be > 0, weight_decay >= 0")
        require(self.batch_size >= 1 and self.max_epochs >= 1 and self.patience >= 1,
                "batch_size, max_epochs and patience must be >= 1")
        require(self.tree_max_depth >= 1 and self.gb_estimators >= 1 and self.gb_max_depth >= 1
                and self.gb_learning_rate > 0, "tree / boosting settings must be positive")
        require(self.device in ("cpu", "cuda", "auto"), f"device must be cpu, cuda or auto, got {self.device!r}")

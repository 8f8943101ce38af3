"""Configuration of `skysift synth-survey`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.spectra.processing import ProcessingConfig
from skysift.synth.model import SynthModelConfig


@dataclass(frozen=True)
class SynthSurveyConfig:
    """Configuration of `skysift synth-survey`."""

    output: str = ""
    """Output folder (replaced as a whole on success)."""
    n_spectra: int = 1000
    """Number of spectra (rows 0 .. n_spectra-1)."""
    seed: int = 42
    """Survey seed: spectrum r is drawn from numpy default_rng([seed, r])."""
    format: Literal["fits", "parquet"] = "fits"
    """'fits': real-format FITS files + truth; 'parquet': the spectra table directly (million-row runs)."""
    rows_per_partition: int = 2000
    """Row numbers per Spark task."""
    batch_rows: int = 256
    """Spectra generated together in one numpy call (bounds executor memory: ~0.6 MB per row)."""
    fits_backend: Literal["auto", "fitsio", "astropy"] = "auto"
    """FITS writer: fitsio (cfitsio; ~5x faster here) or astropy; auto = fitsio when installed."""
    model: SynthModelConfig = field(default_factory=SynthModelConfig)
    """What the survey contains: class and layout mixes, S/N range, BPT margin, masks, plates."""
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    """format=parquet only: grid, resampling, normalisation, coverage, partition order (as ingest-spectra)."""

    def __post_init__(self):
        require(bool(self.output), "output is required (--output FOLDER)")
        require(self.n_spectra >= 1, f"n_spectra must be >= 1, got {self.n_spectra}")
        require(0 <= self.seed < 2**63, f"seed must be in [0, 2^63), got {self.seed}")
        require(self.rows_per_partition >= 1, f"rows_per_partition must be >= 1, got {self.rows_per_partition}")
        require(self.batch_rows >= 1, f"batch_rows must be >= 1, got {self.batch_rows}")

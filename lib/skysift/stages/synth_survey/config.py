"""Configuration of `skysift synth-survey`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.spectra.processing import ProcessingConfig
from skysift.synth.imaging.config import ImagingSurveyConfig, StampConfig
from skysift.synth.model import SynthModelConfig

LINKED_ROW_BASE = 10_000_000
"""Spectral-model row of the first imaged object's spectrum (object k of the survey's spectroscopic subset, in
object_id order, is row LINKED_ROW_BASE + k). Not the object_id itself: object ids are ~9e15, whose plate
numbers (row // 640) overflow the int32 PLATE column of the FITS writers (measured: OverflowError); 1e7 keeps
plates below 16,000 and apart from the default survey's rows 0 .. n_spectra-1."""


@dataclass(frozen=True)
class ImagingConfig:
    """The synthetic imaging survey of issue 14, linked to the spectra by object_id (off by default)."""

    enabled: bool = False
    """Generate the imaging survey too (frames, photoObj / SpecPhoto / truth / MPA-JHU tables, linked spectra)."""
    n_fields: int = 10
    """Fields per camcol (replaces survey.n_fields)."""
    shape_px: tuple[int, int] = (1489, 2048)
    """Frame shape (rows, columns), replaces survey.shape_px; SDSS: 1489 x 2048, tests and the demo use smaller."""
    compress: bool = True
    """Write frame-*.fits.bz2 as SDSS distributes them (False: plain .fits, ~3x faster to write)."""
    spectra: bool = True
    """Also write the spectra of the spectroscopic subset (through this job's spectral writer, same format)."""
    fields_per_task: int = 1
    """Fields per executor task (a 1489 x 2048 field: ~15 s and ~0.5 GB on one core here)."""
    n_stamps: int = 0
    """Galaxy10-DECaLS-like stamps to write (0 = none; issue 14: ~18,000 at full size)."""
    stamps_per_task: int = 200
    """Stamps per task (256 x 256 x 3 float32: 0.8 MB each)."""
    survey: ImagingSurveyConfig = field(default_factory=ImagingSurveyConfig)
    """Geometry, depth, PSF, populations and catalogs of the imaging survey (n_fields and shape_px: see above)."""
    stamps: StampConfig = field(default_factory=StampConfig)
    """The stamps' size, bands, depth and class mix."""

    def __post_init__(self):
        require(self.n_fields >= 1, f"imaging.n_fields must be >= 1, got {self.n_fields}")
        require(len(self.shape_px) == 2 and min(self.shape_px) >= 64, f"imaging.shape_px must be (rows, columns) >= 64, got {self.shape_px}")
        require(self.fields_per_task >= 1, f"imaging.fields_per_task must be >= 1, got {self.fields_per_task}")
        require(self.n_stamps >= 0, f"imaging.n_stamps must be >= 0, got {self.n_stamps}")
        require(self.stamps_per_task >= 1, f"imaging.stamps_per_task must be >= 1, got {self.stamps_per_task}")
        self.survey_config()  # validates the combination (field step vs rows)

    def survey_config(self) -> ImagingSurveyConfig:
        """The survey with n_fields and shape_px put in; the field step scales with the rows so that
        adjacent fields keep SDSS's overlap (128 of 1489 rows, ~9 %)."""
        base = self.survey
        rows = int(self.shape_px[0])
        step = max(1, round(base.field_step_rows * rows / base.shape_px[0]))
        return dataclasses.replace(base, n_fields=self.n_fields, shape_px=(rows, int(self.shape_px[1])), field_step_rows=step)


@dataclass(frozen=True)
class SynthSurveyConfig:
    """Configuration of `skysift synth-survey`."""

    output: str = ""
    """Output folder (replaced as a whole on success)."""
    n_spectra: int = 1000
    """Number of spectra (rows 0 .. n_spectra-1); 0 allowed with imaging.enabled (the imaged objects' spectra only)."""
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
    imaging: ImagingConfig = field(default_factory=ImagingConfig)
    """The imaging survey linked to the spectra (issue 14); off by default."""
    resume: bool = True
    """A rerun after a killed or failed run keeps the partitions (and imaging fields, stamps) whose files were
    written completely, when the config and the task count are the same (RELIABILITY.md); false starts afresh."""

    def __post_init__(self):
        require(bool(self.output), "output is required (--output FOLDER)")
        require(self.n_spectra >= (0 if self.imaging.enabled else 1),
                f"n_spectra must be >= 1 (>= 0 with imaging.enabled), got {self.n_spectra}")
        require(0 <= self.seed < 2**63, f"seed must be in [0, 2^63), got {self.seed}")
        require(self.rows_per_partition >= 1, f"rows_per_partition must be >= 1, got {self.rows_per_partition}")
        require(self.batch_rows >= 1, f"batch_rows must be >= 1, got {self.batch_rows}")
        require(not self.imaging.enabled or self.n_spectra < LINKED_ROW_BASE,
                f"n_spectra must be < {LINKED_ROW_BASE} with imaging.enabled (rows above are the imaged objects' spectra)")

"""Configuration of `skysift ingest-spectra`."""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require
from skysift.spectra.processing import ProcessingConfig


@dataclass(frozen=True)
class IngestConfig:
    """Configuration of `skysift ingest-spectra`."""

    input: str = ""
    """FITS files: a folder (searched recursively), a glob, or several of these separated by commas; local
    paths, the same on the driver and every executor (a shared disk), not URIs."""
    output: str = ""
    """Output folder of the spectra table (replaced as a whole on success): a local path or a URI
    (file://, s3://BUCKET/PATH, hdfs://; runtime.filesystem)."""
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    """Grid, resampling, normalisation, coverage threshold, partition order."""
    files_per_task: int = 256
    """Files per Spark task (at least two tasks per core are made for balance). Each task costs
    ~0.1-0.3 s of Spark/Python-worker overhead in local mode, about the time to ingest 200 files."""
    batch_spectra: int = 256
    """Spectra resampled together in one kernel call (bounds executor memory)."""
    resume: bool = True
    """A rerun after a killed or failed run keeps the tasks whose files were written completely, when the
    config, the input files (names, sizes, times) and the task count are the same (RELIABILITY.md);
    false starts afresh."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input FOLDER_OR_GLOB)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(self.files_per_task >= 1, "files_per_task must be >= 1")
        require(self.batch_spectra >= 1, "batch_spectra must be >= 1")

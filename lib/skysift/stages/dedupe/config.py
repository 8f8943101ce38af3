"""Configuration of `skysift dedupe`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require
from skysift.io.catalog_writers import CatalogFormat
from skysift.xmatch.catalogs import MAX_RADIUS_ARCSEC


@dataclass(frozen=True)
class DedupeConfig:
    """Configuration of `skysift dedupe`."""

    input: str = ""
    """Catalog to de-duplicate (Parquet file or folder)."""
    output: str = ""
    """Output folder (replaced as a whole on success); holds ``_rejects`` and ``_table.json``."""
    radius_arcsec: float = 0.5
    """Linking length in arcsec (0.5 arcsec: de-duplication of the image catalog, YL8C4Net / Zhao et al. 2025)."""
    ra_column: str = "ra_deg"
    """Right ascension column, ICRS degrees."""
    dec_column: str = "dec_deg"
    """Declination column, ICRS degrees."""
    score_column: str = ""
    """Column whose highest value is kept per group (a detection score or S/N); empty: the first row read."""
    id_column: str = ""
    """Optional id column copied to ``_rejects.spec_id``."""
    target_rows_per_group: int = 200_000
    """Rows per kernel call of the self-match."""
    sample_rows: int = 200_000
    """Most planning points per side (the scan's quantile summaries, thinned to this many)."""
    arrow_batch_rows: int = 100_000
    """Rows per Arrow batch for mapInPandas (set for this job only)."""
    max_links: int = 20_000_000
    """Most links (pairs closer than the radius) brought to the driver for the group labels."""
    format: CatalogFormat = "parquet"
    """Output layout: plain Parquet, a HATS catalog (LSDB reads it), or one FITS / VOTable file for small outputs
    (at most 2M rows)."""
    hats_pixel_threshold: int = 1_000_000
    """HATS: most rows in one partition pixel."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input PARQUET)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(0 < self.radius_arcsec <= MAX_RADIUS_ARCSEC,
                f"radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}], got {self.radius_arcsec}")
        require(self.target_rows_per_group >= 16, "target_rows_per_group must be >= 16")
        require(self.sample_rows >= 100, "sample_rows must be >= 100")
        require(self.max_links >= 1, "max_links must be >= 1")

"""Configuration of `skysift crossmatch`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require
from skysift.io.catalog_writers import CatalogFormat
from skysift.xmatch.catalogs import MAX_RADIUS_ARCSEC


@dataclass(frozen=True)
class CrossmatchConfig:
    """Configuration of `skysift crossmatch`."""

    left: str = ""
    """Left catalog (Parquet file or folder); every output row is a left row."""
    right: str = ""
    """Right catalog (Parquet file or folder); its columns get ``right_suffix``."""
    output: str = ""
    """Output folder (replaced as a whole on success); holds ``_rejects`` and ``_table.json``."""
    radius_arcsec: float = 2.0
    """Match radius in arcsec when ``radius_column`` is empty (2 arcsec: the image-catalog match of the issue)."""
    radius_column: str = ""
    """Right-side column holding a per-row radius in arcsec (e.g. an H II region's size): "left inside right" matches."""
    mode: Literal["nearest", "all"] = "nearest"
    """nearest: the closest right row per left row (plus ``n_matches`` within the radius); all: every pair."""
    count_matches: bool = True
    """nearest: add ``n_matches``, the number of right rows within the radius (a ball count per left row)."""
    how: Literal["inner", "left", "anti", "outer"] = "inner"
    """inner: only matched left rows; left: unmatched left rows too, with null right columns; anti: only the
    left rows with no right row within the radius (left columns only: "not in the reference catalog"); outer:
    left, plus every right row with no left row within the radius, once, with null left columns."""
    columns: Literal["all", "index"] = "all"
    """all: every left and (suffixed) right column; index: the index-only association table, just the left id,
    the right id (``left_id_column``, ``right_id_column``, both required) and ``separation_arcsec``."""
    left_ra_column: str = "ra_deg"
    """Left right ascension column, ICRS degrees."""
    left_dec_column: str = "dec_deg"
    """Left declination column, ICRS degrees."""
    right_ra_column: str = "ra_deg"
    """Right right ascension column, ICRS degrees."""
    right_dec_column: str = "dec_deg"
    """Right declination column, ICRS degrees."""
    left_id_column: str = ""
    """Optional left id column copied to ``_rejects.spec_id``."""
    right_id_column: str = ""
    """Optional right id column copied to ``_rejects.spec_id``."""
    right_suffix: str = "_right"
    """Suffix added to every right column name in the output."""
    target_rows_per_group: int = 2_000_000
    """Most rows (both sides) per group, i.e. per match task; bounds Python worker memory (~0.5 GB per
    million rows), dense sky gets more groups. Fewer, larger tasks were faster on 2 cores (each task
    costs ~0.5 s of fixed work); the job never plans fewer groups than Spark's default parallelism."""
    sample_rows: int = 200_000
    """Most planning points per side (the scan's per-batch quantile summaries, thinned to this many)."""
    arrow_batch_rows: int = 100_000
    """Rows per Arrow batch of the tag and match tasks (spark.sql.execution.arrow.maxRecordsPerBatch for this job only)."""
    input_split_mb: int = 64
    """Most input bytes per read task (spark.sql.files.maxPartitionBytes for this job only)."""
    format: CatalogFormat = "parquet"
    """Output layout: plain Parquet, a HATS catalog (HEALPix-partitioned, LSDB reads it), or one FITS / VOTable
    file for small outputs (at most 2M rows)."""
    hats_pixel_threshold: int = 1_000_000
    """HATS: most rows in one partition pixel (hats-import's pixel_threshold default)."""
    hats_histogram_order: int = 8
    """HATS: finest order considered for partition pixels."""
    resume: bool = True
    """format=parquet, how other than outer: a rerun after a kill keeps the match groups that finished (their
    files and completion markers in the staging folder) when config, input files and Spark's parallelism are
    unchanged; false starts afresh. Other layouts always start afresh (RELIABILITY.md)."""

    def __post_init__(self):
        require(bool(self.left), "left is required (--left PARQUET)")
        require(bool(self.right), "right is required (--right PARQUET)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(
            0 < self.radius_arcsec <= MAX_RADIUS_ARCSEC,
            f"radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}], got {self.radius_arcsec}",
        )
        require(self.target_rows_per_group >= 16, "target_rows_per_group must be >= 16")
        require(self.sample_rows >= 100, "sample_rows must be >= 100")
        require(self.arrow_batch_rows >= 1, "arrow_batch_rows must be >= 1")
        require(self.input_split_mb >= 1, "input_split_mb must be >= 1")
        require(bool(self.right_suffix), "right_suffix must not be empty (left and right columns would clash)")
        require(self.hats_pixel_threshold >= 1, "hats_pixel_threshold must be >= 1")
        require(self.how in ("inner", "left", "anti", "outer"),
                f"how must be inner, left, anti or outer, got {self.how!r}")
        require(self.columns in ("all", "index"), f"columns must be all or index, got {self.columns!r}")
        require(self.columns != "index" or (self.left_id_column and self.right_id_column),
                "columns=index needs left_id_column and right_id_column (the ids of the association table)")
        require(not (self.columns == "index" and self.how == "anti"),
                "columns=index with how=anti has no right id to write; use columns=all")
        require(not (self.columns == "index" and self.format == "hats"),
                "columns=index has no position column for a HATS catalog; use format=parquet, fits or votable")
        require(0 <= self.hats_histogram_order <= 12, "hats_histogram_order must be in [0, 12]")



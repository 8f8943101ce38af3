"""Configuration of `skysift make-cutouts`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.io.frame_files import split_bands


@dataclass(frozen=True)
class MaskConfig:
    """Optional masking of the other sources in each cutout (photutils segmentation)."""

    enabled: bool = False
    """Replace the pixels of every segment but the central one by the band's sky level (Rustamov 2025's
    "several objects in one image" problem; how the thesis removed them is not stated: skysift choice)."""
    threshold_sigma: float = 3.0
    """Detection threshold above the sky, in units of the detection band's sky noise (skysift choice)."""
    npixels: int = 5
    """Least connected pixels of a segment (photutils detect_sources; skysift choice)."""

    def __post_init__(self):
        require(self.threshold_sigma > 0, f"mask.threshold_sigma must be > 0, got {self.threshold_sigma}")
        require(self.npixels >= 1, f"mask.npixels must be >= 1, got {self.npixels}")


@dataclass(frozen=True)
class MakeCutoutsConfig:
    """Configuration of `skysift make-cutouts`."""

    catalog: str = ""
    """Catalog of positions: a FITS / VOTable / CSV file or a Parquet file or folder."""
    input: str = ""
    """Output folder of `skysift ingest-frames` (its fields/ and tiles/ tables)."""
    output: str = ""
    """Output folder (replaced as a whole on success): cutouts/healpix_part=P/, _rejects/, _table.json."""
    catalog_format: Literal["auto", "fits", "votable", "csv", "parquet"] = "auto"
    """Catalog format; auto = from the file name (.fits/.fit -> fits, .vot/.xml -> votable, .csv, else parquet)."""
    id_column: str = "objid"
    """Catalog column with the object id (matched case-insensitively; SDSS photoObj OBJID); '' = the row number."""
    ra_column: str = "ra"
    """Right ascension column, ICRS degrees (case-insensitive)."""
    dec_column: str = "dec"
    """Declination column, ICRS degrees (case-insensitive)."""
    size_px: int = 64
    """Cutout side in pixels (Rustamov 2025: 64 x 64)."""
    bands: tuple[str, ...] = ("u", "g", "r", "i", "z")
    """Bands of each cutout, in order (Rustamov 2025: u, g, r, i, z); 'ugriz' is read as u, g, r, i, z."""
    levels_px: tuple[int, ...] = (32, 16, 8)
    """Downsampled versions by area averaging (Rustamov 2025: 32, 16, 8; the method is not stated: skysift
    uses block means); each must divide size_px; () for none."""
    fill_value: float = float("nan")
    """Value of cutout pixels outside the frame (skysift choice: NaN marks them as missing)."""
    read_from: Literal["tiles", "frames"] = "tiles"
    """Where a field's pixels come from: its tiles pasted back into the registered frame (bands the tiles lack
    are read from the frames), or always the frame files (decompressed and registered again). tiles measured
    about 10x faster on the real field (stage job.py docstring)."""
    join_order: int = 8
    """HEALPix order of the catalog-to-field join: each field's footprint cells at this order meet each row's
    cell (order 8: 13.7' cells, about one SDSS frame; skysift choice)."""
    batch_sources: int = 1024
    """Cutouts cut, downsampled and written together (bounds executor memory: 1024 five-band 64 px cutouts with
    their levels take ~110 MB)."""
    partition_order: int = 3
    """HEALPix order of the cutouts' partition column healpix_part (the spectra table's default: 3)."""
    mask: MaskConfig = field(default_factory=MaskConfig)
    """Optional masking of other sources."""
    catalog_batch_rows: int = 100_000
    """Rows per Arrow batch of the catalog's mapInPandas steps (set for this job only)."""
    resume: bool = True
    """A rerun after a kill keeps the fields whose cutouts were written completely (their markers) when the
    config, the catalog files, the input (its manifest's time) and its field count are unchanged
    (RELIABILITY.md); false starts afresh."""

    def __post_init__(self):
        object.__setattr__(self, "bands", split_bands(self.bands))  # --set bands=ugriz
        require(bool(self.catalog), "catalog is required (--catalog FILE)")
        require(bool(self.input), "input is required (--input INGEST_FRAMES_OUTPUT)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(bool(self.ra_column) and bool(self.dec_column), "ra_column and dec_column must not be empty")
        require(self.size_px >= 2, f"size_px must be >= 2, got {self.size_px}")
        require(len(self.bands) >= 1 and len(set(self.bands)) == len(self.bands), f"bands must name distinct bands, got {list(self.bands)}")
        for level in self.levels_px:
            require(1 <= level < self.size_px and self.size_px % level == 0,
                    f"levels_px: {level} must be smaller than and divide size_px={self.size_px}")
        require(0 <= self.join_order <= 16, f"join_order must be in 0..16, got {self.join_order}")
        require(self.batch_sources >= 1, f"batch_sources must be >= 1, got {self.batch_sources}")
        require(0 <= self.partition_order <= 12, f"partition_order must be in 0..12, got {self.partition_order}")
        require(self.catalog_batch_rows >= 1, f"catalog_batch_rows must be >= 1, got {self.catalog_batch_rows}")

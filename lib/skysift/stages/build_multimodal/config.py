"""Configuration of `skysift build-multimodal`."""
from __future__ import annotations

from dataclasses import dataclass

from skysift.config import require


@dataclass(frozen=True)
class BuildMultimodalConfig:
    """Configuration of `skysift build-multimodal`."""

    cutouts: str = ""
    """Output folder of `skysift make-cutouts` (its cutouts/ table) or a Parquet folder / file of CUTOUTS rows."""
    spectra: str = ""
    """The `spectra` table (ingest-spectra or synth-survey output folder, or a Parquet file)."""
    labels: str = ""
    """SFR table, Parquet: MPA-JHU-like, one row per object (schema.MPAJHU for the synthetic survey)."""
    output: str = ""
    """Output folder (replaced as a whole on success): multimodal/healpix_part=P/, _rejects/, _table.json."""
    id_column: str = "object_id"
    """Label-table column holding the cutouts' object_id (compared as text)."""
    spec_id_column: str = "spec_id"
    """Label-table column holding the spectra's spec_id."""
    label_column: str = "auto"
    """Label column, log10 SFR: auto = AVG (the MPA-JHU file's name) or else AVR (Rustamov 2025's name)."""
    flag_column: str = "FLAG"
    """Reliability flag; rows with FLAG != 0 are rejected with their value (Rustamov 2025: FLAG = 0 only)."""
    class_column: str = "class"
    """Object class column (GALAXY / QSO), kept for metrics with and without QSOs ('' = none, null class)."""
    quality_binning: tuple[int, ...] = (1, 2, 4, 8)
    """Pixels per bin of the four spectral quality levels (the thesis has four and does not define them:
    skysift choice, the full grid and 2x / 4x / 8x ivar-weighted bins; models.sfr_data.QUALITY_BINNING)."""
    partition_order: int = 3
    """HEALPix order of the partition column healpix_part (as spectra and cutouts)."""
    image_embeddings: str = ""
    """Optional `image_vectors` table (embed-images: image_id = object_id, embedding): joined as image_embedding."""
    spectrum_embeddings: str = ""
    """Optional `embeddings` table (embed-spectra: spec_id, embedding): joined as spectrum_embedding."""
    hats: bool = True
    """Also write the kept rows as one HATS catalog in OUTPUT/hats/ (HEALPix-partitioned Parquet with hats
    metadata: lsdb.open_catalog opens it, cone_search slices it); the Parquet table stays in multimodal/."""
    hats_pixel_threshold: int = 20_000
    """HATS: most rows in one partition pixel. A row is ~0.1-0.2 MB (5 x 64 x 64 pixels, 4 levels, 4 spectra),
    so 20,000 rows keep a pixel file near 2-4 GB at most (hats-import's 1,000,000 suits catalogs of scalars)."""

    def __post_init__(self):
        require(bool(self.cutouts), "cutouts is required (--cutouts MAKE_CUTOUTS_OUTPUT)")
        require(bool(self.spectra), "spectra is required (--spectra SPECTRA_TABLE)")
        require(bool(self.labels), "labels is required (--labels SFR_TABLE)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(bool(self.id_column) and bool(self.spec_id_column) and bool(self.flag_column),
                "id_column, spec_id_column and flag_column must not be empty")
        require(tuple(self.quality_binning) == (1, 2, 4, 8),
                f"quality_binning must be (1, 2, 4, 8) (the levels the SFR models know), got {self.quality_binning}")
        require(0 <= self.partition_order <= 12, f"partition_order must be in 0..12, got {self.partition_order}")
        require(self.hats_pixel_threshold >= 1, f"hats_pixel_threshold must be >= 1, got {self.hats_pixel_threshold}")

"""Configuration of `skysift ingest-frames`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.images.tiling import TileGridConfig
from skysift.io.frame_files import split_bands


@dataclass(frozen=True)
class RgbConfig:
    """The optional 8-bit colour image of each tile (``images.rgb``)."""

    enabled: bool = False
    """Make a Lupton asinh RGB (R=i, G=r, B=g) PNG per tile; needs g, r, i among the stacked bands. Zhao et al. 2025
    trained on the official SDSS colour composites, which cannot be fetched here: a documented stand-in."""
    stretch: float = 0.5
    """asinh softening in nanomaggies (chosen by eye on field 2583-2-136; images.rgb)."""
    q: float = 8.0
    """asinh Q (images.rgb)."""
    png_compress_level: int = 1
    """zlib level of the PNG: 1 measured 4x faster than PIL's default 6 on a 640 px tile (0.025 vs 0.11 s)
    and no larger (626 vs 718 kB on field 2583-2-136)."""

    def __post_init__(self):
        require(self.stretch > 0, f"rgb.stretch must be > 0, got {self.stretch}")
        require(self.q > 0, f"rgb.q must be > 0, got {self.q}")
        require(0 <= self.png_compress_level <= 9, f"rgb.png_compress_level must be in 0..9, got {self.png_compress_level}")


@dataclass(frozen=True)
class IngestFramesConfig:
    """Configuration of `skysift ingest-frames`."""

    input: str = ""
    """Frame files: a folder (searched recursively), a glob, or several of these separated by commas."""
    output: str = ""
    """Output folder (replaced as a whole on success): fields/, tiles/healpix_part=P/, _rejects/, _table.json."""
    bands: tuple[str, ...] = ("g", "r", "i")
    """Bands every field must have, in stack order; a field missing one is rejected whole (Zhao et al. 2025: g, r, i).
    'gri' is read as g, r, i (io.frame_files.split_bands)."""
    optional_bands: tuple[str, ...] = ()
    """Bands stacked after the required ones when a field has them (e.g. u, z for ugriz cutouts); a bad optional
    frame is rejected alone and the field goes on without it. Other bands' files are listed, not read."""
    reference_band: str = "r"
    """Band whose pixel grid and WCS the others are registered onto (Zhao et al. 2025 take positions from r)."""
    registration_order: Literal["bilinear", "bicubic"] = "bilinear"
    """Resampling of the registered bands (images.registration; bilinear = reproject_interp's default)."""
    registration_step_px: int = 64
    """Pixel-map node spacing of the registration (exact WCS transform on nodes, linear between: 4e-8 px off at 64)."""
    min_band_coverage: float = 0.5
    """Least fraction of the reference frame a registered band must cover, else the field is rejected (a frame of
    another field under a wrong name); not stated in the papers: skysift choice (SDSS g covers 0.991 of r)."""
    sky_box_px: int = 128
    """Box side of the per-band sky statistics (median over boxes of sigma-clipped stats; images.background)."""
    tiles: TileGridConfig = field(default_factory=TileGridConfig)
    """Tile size and grid (Zhao et al. 2025: 640 px, 12 per SDSS frame = 4 x 3)."""
    rgb: RgbConfig = field(default_factory=RgbConfig)
    """Optional 8-bit RGB per tile."""
    partition_order: int = 3
    """HEALPix order of the tiles' partition column healpix_part (the spectra table's default: 3)."""
    fields_per_task: int = 1
    """Fields per Spark task: one field (3-5 frames, ~1.5-2.5 s of work) already outweighs a task's overhead."""
    resume: bool = True
    """A rerun after a killed or failed run keeps the tasks whose files were written completely (their
    completion markers), when the config, the input files (names, sizes, times) and the task count are the
    same (RELIABILITY.md); false starts afresh."""

    def __post_init__(self):
        object.__setattr__(self, "bands", split_bands(self.bands))  # --set bands=gri
        object.__setattr__(self, "optional_bands", split_bands(self.optional_bands))
        require(bool(self.input), "input is required (--input FOLDER_OR_GLOB)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(len(self.bands) >= 1, "bands must name at least one band")
        stacked = (*self.bands, *self.optional_bands)
        require(len(set(stacked)) == len(stacked), f"bands and optional_bands must not repeat a band, got {list(stacked)}")
        require(all(len(b) >= 1 for b in stacked), "band names must not be empty")
        require(self.reference_band in self.bands, f"reference_band {self.reference_band!r} must be one of the required bands {list(self.bands)}")
        require(self.registration_step_px >= 2, f"registration_step_px must be >= 2, got {self.registration_step_px}")
        require(0.0 < self.min_band_coverage <= 1.0, f"min_band_coverage must be in (0, 1], got {self.min_band_coverage}")
        require(self.sky_box_px >= 8, f"sky_box_px must be >= 8, got {self.sky_box_px}")
        require(0 <= self.partition_order <= 12, f"partition_order must be in 0..12, got {self.partition_order}")
        require(self.fields_per_task >= 1, f"fields_per_task must be >= 1, got {self.fields_per_task}")
        require(
            not self.rgb.enabled or all(b in self.bands for b in "gri"),
            f"rgb.enabled needs g, r and i among the required bands, got {list(self.bands)}",
        )

"""Configuration of `skysift search-images`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.models.image_similarity import SimilarityWeights
from skysift.models.precision import PRECISIONS


@dataclass(frozen=True)
class SearchImagesConfig:
    """Image similarity search (Friberg section 3.6; the faiss pre-filter and the position query are skysift's)."""

    index: str = ""
    """Image index folder written by build-image-index."""
    query: str = ""
    """Query images: an images table (Parquet folder or file: every row is a query), a .npy array or a FITS
    cube, (3, H, W) or (N, 3, H, W) nanomaggies in `bands` order. Or give ra / dec."""
    query_pixel_scale_arcsec: float = 0.0
    """Pixel scale of .npy / FITS query arrays (arcsec): images tables carry pixel_scale_arcsec and are brought
    to the colour stretch's surface-brightness scale (images.network_input); an array is scaled the same way
    only with this (0 = a FITS file's WCS scale, none for .npy). Without it a 1.048"/px stamp given as .npy
    looks 16x brighter than the same stamp in the index."""
    ra: float | None = None
    """Query by sky position (deg): the nearest cutout of `cutouts` (an extension: Friberg section 3.2 names it
    as future work)."""
    dec: float | None = None
    """Declination of the position query (deg)."""
    cutouts: str = ""
    """Images table with ra_deg / dec_deg (cutouts) searched by a position query ('' = the table the index's
    images came from)."""
    match_radius_arcsec: float = 0.0
    """A position matches a cutout within this radius; 0 = half the cutout's side (size_px x
    pixel_scale_arcsec / 2), i.e. the position must fall on the cutout (tables without pixel_scale_arcsec,
    such as make-cutouts', need a radius)."""
    output: str = ""
    """Output folder: the matches table (IMAGE_MATCHES), contact sheets sheets/*.png, _rejects."""
    k: int = 10
    """Matches per query (Friberg: 'a user-specified number')."""
    mode: Literal["faiss", "exhaustive", "both"] = "faiss"
    """faiss = index candidates re-ranked by the combined score (skysift); exhaustive = the combined score
    against every image (Friberg); both = run the two, write the faiss results and report the faiss
    path's recall@k against the exhaustive scan."""
    candidates: int = 0
    """faiss candidates re-ranked per query; 0 = candidate_factor x k."""
    candidate_factor: int = 10
    """Candidates per requested match when candidates = 0 (skysift choice; recall@10 in tests/benchmarks)."""
    query_symmetries: Literal["none", "dihedral"] = "none"
    """none = the query as given (Friberg); dihedral (skysift) = the query embedded under the 8 symmetries
    of the square, faiss candidates from all 8 pooled vectors, each candidate scored by its best combined
    similarity over them: a quarter turn or mirror of an indexed image finds it exactly (what the tiny
    encoder learned: 0.83-0.95 mean top-1 over three seeds, tests/stages/train_image_encoder/test_quality.py).
    Arbitrary angles gain nothing reliable: a 30 deg turn found its original 0.40 with it vs 0.52 without (25 queries, 400
    stamps), 0.75 vs 0.69 in the demo (16 queries); 8 versions also give a wrong image 8 chances.
    8x the query embedding and re-ranking work."""
    model_uri: str = "models:/skysift-image-encoder@champion"
    """Encoder for the queries; must be the version the index was built with."""
    check_model_version: bool = True
    """Refuse an index built with another model version than model_uri's (naming both)."""
    weights: SimilarityWeights = field(default_factory=SimilarityWeights)
    """Weights of the combined similarity (Friberg: 1/3 each)."""
    bands: str = "grz"
    """Bands of the query images made into the colour channels (Galaxy10: g, r, z)."""
    min_size_px: int = 16
    """Query images smaller than this are rejected."""
    contact_sheets: int = 8
    """Write a contact-sheet PNG for the first this many queries (0 = none)."""
    device: Literal["auto", "cpu"] = "auto"
    """Device for the query embedding (auto = CUDA when visible)."""
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    """Forward precision of the query embedding (models.precision)."""
    exhaustive_tasks: int = 0
    """Tasks of the exhaustive scan (one or more feature files each); 0 = two per core."""
    resume: bool = True
    """The exhaustive scan: a rerun after a kill keeps the scan tasks that finished (their top-k lists, in
    completion markers) when config, query features, index content and task count are unchanged
    (RELIABILITY.md); false starts afresh."""

    def __post_init__(self):
        require(bool(self.index), "search-images needs --index DIR (from build-image-index)")
        require(bool(self.output), "search-images needs --output DIR")
        has_pos = self.ra is not None or self.dec is not None
        require(bool(self.query) != has_pos,
                "search-images needs either --query FILE or --ra RA --dec DEC (not both)")
        if has_pos:
            require(self.ra is not None and self.dec is not None, "a position query needs both --ra and --dec")
            require(0.0 <= self.ra < 360.0 and -90.0 <= self.dec <= 90.0,
                    f"ra must be in [0, 360) and dec in [-90, 90], got ({self.ra}, {self.dec})")
        require(self.k >= 1 and self.candidates >= 0 and self.candidate_factor >= 1,
                "k >= 1, candidates >= 0 and candidate_factor >= 1")
        require(self.query_symmetries in ("none", "dihedral"),
                f"query_symmetries must be none or dihedral, got {self.query_symmetries!r}")
        require(self.match_radius_arcsec >= 0 and self.query_pixel_scale_arcsec >= 0,
                "match_radius_arcsec and query_pixel_scale_arcsec must be >= 0")
        require(set(self.bands) == set("grz") and len(self.bands) == 3, f"bands must be g, r and z, got {self.bands!r}")
        require(self.contact_sheets >= 0 and self.exhaustive_tasks >= 0 and self.min_size_px >= 1,
                "contact_sheets, exhaustive_tasks >= 0 and min_size_px >= 1")
        require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    @property
    def n_candidates(self) -> int:
        """Candidates re-ranked per query."""
        return max(self.k, self.candidates or self.candidate_factor * self.k)

"""Configuration of `skysift evaluate-pq` (Lu et al. 2022 section 3.1.4)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require


@dataclass(frozen=True)
class EvaluatePQConfig:
    """Configuration of `skysift evaluate-pq`."""

    output: str = ""
    """Output folder: the validity table (one row per normalisation, K and query variant) + _table.json."""
    n_galaxies: int = 100
    """Emission-line galaxies (Lu et al. 2022: 100 LAMOST DR6 galaxies with strong emission lines)."""
    n_stars: int = 4000
    """F-type stars (Lu et al. 2022: 4000 LAMOST DR5 F-type spectra with S/N_g > 50)."""
    n_segments: int = 25
    """Segments M (Lu et al. 2022: 25)."""
    k_values: tuple[int, ...] = (2, 3, 4)
    """Centroids per segment (Lu et al. 2022: K = 2, 3, 4 give 58, 87, 96 %)."""
    normalisations: tuple[str, ...] = ("l2", "lu2022")
    """Vector normalisations reported (note A1: the printed f / sum f^2 and unit L2, both)."""
    metric: Literal["squared", "l2_sum"] = "squared"
    """Segment metric (note A2; skysift default squared)."""
    folds: int = 2
    """Query outside the database: the galaxies are split into this many folds, each queried against the stars
    plus the other folds (not stated in the paper: skysift choice, note A6)."""
    seed: int = 2022
    """Seed of the synthetic set and of the K-means."""
    kmeans_iterations: int = 20
    """K-means iterations per segment (not stated in the paper: skysift choice)."""

    def __post_init__(self):
        require(bool(self.output), "output is required (--output FOLDER)")
        require(self.n_galaxies >= 2 and self.n_stars >= 1, "n_galaxies must be >= 2 and n_stars >= 1")
        require(self.n_segments >= 1 and 2500 % self.n_segments == 0,
                f"n_segments must divide the 2500 points of the paper's grid, got {self.n_segments}")
        require(len(self.k_values) >= 1 and all(k >= 1 for k in self.k_values), "k_values must be >= 1")
        require(all(n in ("l2", "lu2022") for n in self.normalisations), "normalisations: l2 and/or lu2022")
        require(2 <= self.folds <= self.n_galaxies, "folds must be in [2, n_galaxies]")

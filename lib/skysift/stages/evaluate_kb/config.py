"""Configuration of `skysift evaluate-kb`."""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require
from skysift.kb.faiss_index import IndexSpec


@dataclass(frozen=True)
class EvaluateKbConfig:
    """Configuration of `skysift evaluate-kb`."""

    embeddings: str = ""
    """Embeddings table (spec_id, embedding)."""
    labels: tuple[str, ...] = ()
    """Labels table(s) (spec_id, label, task) from load-catalog; several (one per task) are concatenated."""
    spectra: str = ""
    """Spectra table (spec_id, flux) for the flux baselines; empty = no baselines."""
    output: str = ""
    """Run folder for metrics.json, PNGs and report.html."""
    tasks: tuple[str, ...] = ()
    """Tasks to evaluate; empty = every task in the labels table."""
    comparison_task: str = "agn3"
    """Task of the baseline comparison and the sweeps (Tang et al. 2025: star-forming / AGN / normal)."""
    test_fraction: float = 0.2
    """Held-out share of each task's labelled rows (stratified)."""
    k: int = 3
    """Neighbours that vote (Tang et al. 2025: K = 3)."""
    index: IndexSpec = field(default_factory=IndexSpec)
    """Index of the evaluation KBs (flat = exact, as in the paper)."""
    top_k_max: int = 15
    """Top-K sweep runs K = 1..top_k_max (Tang et al. 2025: 1..15)."""
    kb_fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    """KB-proportion sweep: share of the labelled data in the KB, the rest queried (paper: 10..90 %)."""
    timing_sizes: tuple[int, ...] = (10_000, 25_000, 50_000, 100_000)
    """KB sizes for retrieval time vs size (random vectors of the embedding dimension; paper: up to 500k)."""
    timing_queries: int = 200
    """Queries per timing point."""
    rf_trees: int = 200
    """Random-forest trees (scikit-learn)."""
    cnn_epochs: int = 15
    """1-D CNN training epochs."""
    comparison_repeats: int = 5
    """Stratified splits (seeds seed, seed+1, ...) the baseline comparison is repeated on. One 20 % split of a
    few hundred spectra moves macro-F1 by ~0.02, so the report gives each method's mean and std over the
    splits next to every split's score; the first split is the one of the per-task evaluation."""
    flux_bin_pixels: int = 4
    """Average this many adjacent flux pixels before the baselines (CPU time); 1 = full resolution."""
    threads: int = 2
    """CPU threads for the baselines and faiss."""
    mlflow: bool = False
    """Also log metrics and figures to MLflow (tracking URI from MLFLOW_TRACKING_URI)."""
    mlflow_experiment: str = "skysift-evaluate-kb"
    """MLflow experiment name."""
    seed: int = 0
    """Seed of splits, sweeps, baselines and timing vectors."""

    def __post_init__(self):
        require(bool(self.embeddings), "evaluate-kb needs --embeddings DIR")
        require(bool(self.labels), "evaluate-kb needs --labels DIR[,DIR...]")
        require(bool(self.output), "evaluate-kb needs --output DIR")
        require(0 < self.test_fraction < 1, f"test_fraction must be in (0, 1), got {self.test_fraction}")
        require(self.k >= 1 and self.top_k_max >= 1, "k and top_k_max must be >= 1")
        require(all(0 < f < 1 for f in self.kb_fractions), "kb_fractions must lie in (0, 1)")
        require(all(s >= 1 for s in self.timing_sizes), "timing_sizes must be >= 1")
        require(self.timing_queries >= 1, "timing_queries must be >= 1")
        require(self.flux_bin_pixels >= 1, "flux_bin_pixels must be >= 1")
        require(self.comparison_repeats >= 1, "comparison_repeats must be >= 1")

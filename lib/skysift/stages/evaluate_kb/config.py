"""Configuration of `skysift evaluate-kb`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.kb.faiss_index import IndexSpec
from skysift.kb.residual_lines import ResidualLineConfig


@dataclass(frozen=True)
class PaperExperimentConfig:
    """experiment=paper: Tang et al. 2025's LINER / lens / outlier searches (stages/evaluate_kb/paper.py)."""

    survey_config: str = "conf/synth_survey_tang2025.yaml"
    """Synth-survey preset built when no embeddings are given (relative paths: from the repository root);
    conf/synth_survey_tang2025_reduced.yaml is the same at a quarter of the size (CI)."""
    pretrain_config: str = "conf/pretrain_tiny.yaml"
    """Pre-training recipe of the encoder trained on that survey (relative paths: from the repository root)."""
    pretrain_steps: int = 1000
    """Pre-training steps of that encoder (not stated for this use in the paper: skysift choice, CPU-sized)."""
    pooling: str = "max"
    """Pooling of the embeddings (the demo's: max over patch tokens)."""
    truth: str = ""
    """Truth table of a synthetic survey: the three tasks' labels (synth.tang2025) and the survey summary
    (lens S/N distribution) come from it; filled in when the survey is built here."""
    test_targets: int = 100
    """Targets held out per task and test set (Tang et al. 2025: 100)."""
    test_others: int = 100
    """Non-targets in each mixed test set (not stated in the paper: skysift choice, as many as targets)."""
    repeats: int = 5
    """Random mixed test sets per task (seeds seed, seed+1, ...); mean and std reported."""
    baseline_repeats: int = 2
    """Of those, how many the random forest and the 1-D CNN also run on (CPU time)."""
    lens_kb_shares: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)
    """KB-proportion sweep: shares of lenses in the KB (Tang et al. 2025 Fig. 4: the precision / recall
    trade-off as the KB's lens proportion grows)."""
    liner_min_line_snr: float = 3.0
    """A BPT LINER is a LINER target when its four [N II]-diagram lines have S/N >= this (Brinchmann et al.
    2004 / Kauffmann et al. 2003 classify at S/N >= 3)."""
    extension: bool = True
    """Also run the KB vote + residual lines extension (beyond the paper) on the lens and outlier tasks."""
    threshold_mix: str = "test"
    """Which mix of targets and others the extension's threshold is chosen for; it maximises the F1 of the
    KB's own (leave-one-out / out-of-fold) scores, each KB non-target weighted so that the KB has that mix:
    ``test`` (default), the mixed test sets' (test_targets : test_others), which the reported F1 is measured
    on; ``kb``, the KB's own (outliers 2 %, lenses 10 %: a survey's, where a false positive costs more).
    Not in the paper (skysift choice). Measured on the reduced survey, outlier F1 0.915 (test) / 0.744 (kb):
    BENCHMARKS.md, issue 19."""
    residual_lines: ResidualLineConfig = field(default_factory=ResidualLineConfig)
    """The extension's background-line search (kb.residual_lines)."""

    def __post_init__(self):
        require(self.test_targets >= 1 and self.test_others >= 1, "paper.test_targets and paper.test_others must be >= 1")
        require(self.threshold_mix in ("kb", "test"), f"paper.threshold_mix must be kb or test, got {self.threshold_mix!r}")
        require(self.repeats >= 1, f"paper.repeats must be >= 1, got {self.repeats}")
        require(0 <= self.baseline_repeats <= self.repeats, "paper.baseline_repeats must be in [0, paper.repeats]")
        require(all(0 < s < 1 for s in self.lens_kb_shares), "paper.lens_kb_shares must lie in (0, 1)")
        require(self.pretrain_steps >= 1, f"paper.pretrain_steps must be >= 1, got {self.pretrain_steps}")
        require(self.pooling in ("mean", "max", "cls"), f"paper.pooling must be mean, max or cls, got {self.pooling!r}")


@dataclass(frozen=True)
class EvaluateKbConfig:
    """Configuration of `skysift evaluate-kb`."""

    experiment: Literal["default", "paper"] = "default"
    """default: the per-task evaluation, the baseline comparison and the sweeps below; paper: Tang et al. 2025's
    three target searches (LINER, lens, outlier) with the paper's numbers beside ours (``paper``). Without
    embeddings, experiment=paper first builds its inputs: the ``paper.survey_config`` survey, an encoder
    pre-trained on it and its embeddings, under OUTPUT/inputs."""
    paper: PaperExperimentConfig = field(default_factory=PaperExperimentConfig)
    """experiment=paper: test sets, sweeps, extension, and the survey / encoder it builds when needed."""
    embeddings: str = ""
    """Embeddings table (spec_id, embedding)."""
    labels: tuple[str, ...] = ()
    """Labels table(s) (spec_id, label, task) from load-catalog; several (one per task) are concatenated."""
    spectra: str = ""
    """Spectra table (spec_id, flux) for the flux baselines; empty = no baselines."""
    output: str = ""
    """Run folder for metrics.json, PNGs and report.html (experiment=paper: default runs/evaluate-kb-paper)."""
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
        require(self.experiment in ("default", "paper"), f"experiment must be default or paper, got {self.experiment!r}")
        paper = self.experiment == "paper"
        require(bool(self.embeddings) or paper, "evaluate-kb needs --embeddings DIR")
        require(bool(self.labels) or paper, "evaluate-kb needs --labels DIR[,DIR...]")
        require(not paper or not self.embeddings or bool(self.labels) or bool(self.paper.truth),
                "evaluate-kb experiment=paper with --embeddings needs --labels DIR or --set paper.truth=DIR")
        require(bool(self.output) or paper, "evaluate-kb needs --output DIR")
        require(0 < self.test_fraction < 1, f"test_fraction must be in (0, 1), got {self.test_fraction}")
        require(self.k >= 1 and self.top_k_max >= 1, "k and top_k_max must be >= 1")
        require(all(0 < f < 1 for f in self.kb_fractions), "kb_fractions must lie in (0, 1)")
        require(all(s >= 1 for s in self.timing_sizes), "timing_sizes must be >= 1")
        require(self.timing_queries >= 1, "timing_queries must be >= 1")
        require(self.flux_bin_pixels >= 1, "flux_bin_pixels must be >= 1")
        require(self.comparison_repeats >= 1, "comparison_repeats must be >= 1")

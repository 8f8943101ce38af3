"""Configuration of `skysift demo`."""
from __future__ import annotations

from dataclasses import dataclass

from skysift.config import require
from skysift.demo.pipelines import PIPELINES, resolve


@dataclass(frozen=True)
class DemoConfig:
    """Configuration of `skysift demo` (``--set pipelines=spectral,imaging`` runs a subset)."""

    output: str = "runs/demo"
    """Folder for every output of the demo (relative paths are under the repository)."""
    pipelines: tuple[str, ...] = tuple(PIPELINES)
    """Pipelines to run, comma-separated, from: spectral, imaging, sfr (lib/skysift/demo/pipelines.py says what each
    runs); a pipeline that reads another's products adds it."""
    n_spectra: int = 1500
    """Synthetic spectra to generate."""
    seed: int = 42
    """Seed of the synthetic survey."""
    pretrain_steps: int = 1000
    """Optimiser steps of the tiny encoder's pre-training (~1 min on 2 CPU cores at 974 points)."""
    include_real: bool = True
    """Also ingest and label the real sample in ../shared/data when it is present."""
    grid_points: int = 974
    """Points of the demo's rest-frame 3600-7000 A grid (conf/ingest_spectra_rest.yaml: 2435 points, the
    1.4 A sampling of Tang et al. 2025). Attention over the full grid's 485 patches would cost an estimated
    ~1 s per tiny-model step on 2 CPU cores (2-3 s measured at 735 patches), so the demo samples at 3.5 A
    (192 patches), which still separates H-alpha from [N II] 6584 (21 A apart), the line ratio that tells
    AGN from star formation."""
    pooling: str = "max"
    """Pooling of the patch tokens into the KB embedding. Max keeps 'is there a line here' features; on the
    demo survey's agn3 task it gave macro-F1 0.95 where the mean gave 0.88 (487-point grid, 1,000 steps;
    BENCHMARKS.md)."""
    imaging_fields: int = 2
    """Synthetic fields of the imaging pipeline (one camcol)."""
    imaging_spec_density_per_deg2: float = 800.0
    """Spectroscopic targets per deg2 of the imaging survey: 8x SDSS's ~100 (200 gave 12 spectra in two
    fields), so that two fields hold a few dozen objects with spectra."""

    def __post_init__(self):
        resolve(self.pipelines)
        require(len(self.pipelines) >= 1, "pipelines: name at least one")
        require(self.imaging_fields >= 1, "imaging_fields must be >= 1")
        require(self.n_spectra >= 200, "n_spectra must be >= 200 (the KB needs labelled spectra of every class)")
        require(self.pretrain_steps >= 1, "pretrain_steps must be >= 1")
        require(self.grid_points >= 100, "grid_points must be >= 100")
        require(self.pooling in ("mean", "max", "model"), f"pooling must be mean, max or model, got {self.pooling!r}")


CONFIG = DemoConfig

"""`skysift benchmark CASE`: ours and a baseline on the same input in one run.

Each case prints ``CASE: ours=… baseline=… ratio=…`` (ratio = baseline time /
our time, > 1 means we are faster) and returns the figures as the job summary;
every result is also appended to ``runs/benchmarks.jsonl`` with the command
line that made it, for BENCHMARKS.md.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from skysift.config import require
from skysift.paths import REPO_ROOT

Case = Literal["resample", "ingest", "scale", "crossmatch", "embed", "loader", "search", "frames", "cutouts",
               "lines", "pq", "emission-scale", "fuzz", "image-search", "image-embed", "detect", "resume", "predict-sfr"]


@dataclass(frozen=True)
class BenchmarkConfig:
    """Configuration of `skysift benchmark`."""

    case: Case = "resample"
    """Which benchmark to run."""
    n_spectra: int = 0
    """Spectra in the input; 0 = the case's default (resample 10,000; scale 1,000,000; emission-scale 100,000;
    resume 20,000)."""
    n_files: int = 2000
    """FITS files for the ingest and resume cases."""
    n_rows: int = 0
    """Catalogue rows per side (crossmatch), KB vectors (search), templates (pq 4,000; emission-scale 20,000) or
    tiles (detect: 200) or multimodal rows (predict-sfr: 50,000) or cutouts (cutouts on n_fields synthetic fields:
    their catalog repeated with a jitter of up to 3 arcsec to this many rows; issue 14: 100,000); 0 = the case's
    default."""
    n_fields: int = 0
    """frames / cutouts: 0 = the real sample (field 2583-2-136; the u frame of 3900-6-269 and its photoObj); N = N
    synthetic SDSS-format fields (u g r i z, .fits.bz2; issue 14 asks for 40), written once into the workdir."""
    twin: bool = True
    """frames: also time the sequential twin (the same per-field code in one process; minutes at 40 fields)."""
    ceiling: bool = False
    """predict-sfr: also time the machine's 2-process ceiling without Spark: the one-process loop on half the
    files in two processes at once against one process on all of them (what no Spark job can beat)."""
    n_queries: int = 10000
    """Queries for the search case (image-search: 1,000 when left at 10,000)."""
    n_patches: int = 0
    """image-search: patches per image; 0 = the paper model's 196."""
    feature_dim: int = 0
    """image-search: values per patch; 0 = the paper model's 2048."""
    exhaustive_queries: int = 20
    """image-search: queries timed on the exhaustive scan (its cost is linear in them; recall is measured on them)."""
    candidate_factors: str = "10,30,100,300"
    """image-search: candidates-per-match factors (candidates = factor x k), comma-separated, tried in order
    until one reaches recall 0.95."""
    batch_spectra: int = 512
    """Spectra per batch for the resample kernel."""
    frame: Literal["observed", "rest"] = "observed"
    """resample case: 'observed' = the paper grid (3850-9000 A, 3688 points); 'rest' = conf/ingest_spectra_rest.yaml's
    grid (3600-7000 A, 2435 points) with each spectrum shifted by a z drawn in 0.01-0.5, as ingest does it."""
    workdir: str = ""
    """Where inputs and outputs go (default: a temporary folder under runs/bench, removed afterwards)."""
    keep: bool = False
    """Keep the workdir after the run."""
    pq_configurations: str = "2/25/100,2/50/200,2/100/400"
    """pq case: comma-separated STEP/SEGMENTS/K runs of Lu et al. 2022 Table 1 to time."""
    ivf_lists: int = 0
    """pq case: cells of the IVF-PQ option (faiss IndexIVFPQ, kb.pq_index) measured beside the paper's plain PQ;
    0 = plain PQ only, -1 = kb.pq_index.default_ivf_lists (about 4 sqrt(templates))."""
    ivf_probes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    """pq case: the n_probe values (cells scored per query) the IVF-PQ option is measured at."""
    scale_configurations: str = ""
    """emission-scale case: comma-separated STEP/SEGMENTS/K runs of find-emission-lines ('' = all 12 of Lu et al.
    2022 Table 1; n_rows templates must be >= their largest K)."""
    ivf_refine: int = 0
    """pq case: also measure IVF-PQ re-ranking this many PQ candidates by the exact distance (0 = not)."""
    seed: int = 7
    """Seed of the synthetic inputs."""
    record: str = "runs/benchmarks.jsonl"
    """Append each result as one JSON line here ('' to skip)."""
    cases: int = 20000
    """fuzz case: damaged files read (skysift.bench.fuzz_bench; the CI suite runs about 1,600)."""

    def __post_init__(self):
        require(self.n_spectra >= 0, "n_spectra must be >= 0")
        require(self.n_files >= 1, "n_files must be >= 1")
        require(self.n_fields >= 0, "n_fields must be >= 0 (0 = the real sample)")
        require(self.batch_spectra >= 1, "batch_spectra must be >= 1")
        require(self.frame in ("observed", "rest"), f"frame must be 'observed' or 'rest', got {self.frame!r}")
        require(self.cases >= 1, "cases must be >= 1")
        require(self.ivf_lists >= -1, "ivf_lists must be >= -1 (-1 = automatic, 0 = off)")
        require(len(self.ivf_probes) >= 1 and all(p >= 1 for p in self.ivf_probes), "ivf_probes must be >= 1 each")
        require(self.ivf_refine >= 0, "ivf_refine must be >= 0")
        require(self.exhaustive_queries >= 1, "exhaustive_queries must be >= 1")
        require(all(f.strip().isdigit() and int(f) >= 1 for f in self.candidate_factors.split(",")),
                f"candidate_factors must be comma-separated integers >= 1, got {self.candidate_factors!r}")


CONFIG = BenchmarkConfig
POSITIONAL = ("case",)


def _line(case: str, ours: float, baseline: float, unit: str = "s", **extra) -> dict:
    ratio = baseline / ours if ours > 0 else float("inf")
    extras = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"{case}: ours={ours:.3f}{unit} baseline={baseline:.3f}{unit} ratio={ratio:.2f} {extras}".rstrip(),
          flush=True)
    return {"case": case, "ours": ours, "baseline": baseline, "ratio": round(ratio, 3), **extra}


def _workdir(cfg: BenchmarkConfig) -> Path:
    if cfg.workdir:
        path = Path(cfg.workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    root = REPO_ROOT / "runs" / "bench"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{cfg.case}-", dir=root))


def run(spark, cfg: BenchmarkConfig) -> dict:
    from skysift.bench import cases

    workdir = _workdir(cfg)
    if cfg.case == "fuzz":
        from skysift.bench import fuzz_bench as cases  # noqa: F811 - its own module, not bench/cases.py
    try:
        result = getattr(cases, f"bench_{cfg.case.replace('-', '_')}")(spark, cfg, workdir, _line)
    finally:
        if not cfg.keep and not cfg.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    result = {"machine": _machine(), **result}
    if cfg.record:
        record = Path(cfg.record if os.path.isabs(cfg.record) else REPO_ROOT / cfg.record)
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.open("a") as fh:
            fh.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "argv": sys.argv, **result},
                                default=str) + "\n")
    return {"read": None, "written": None, "rejected": None, "output": str(workdir), **result}


def _machine() -> str:
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"

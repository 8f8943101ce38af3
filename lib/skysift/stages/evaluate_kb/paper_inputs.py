"""experiment=paper without embeddings: build the inputs the way a user would, with the jobs themselves.

synth-survey (``paper.survey_config``: spectra table + truth) -> pretrain (``paper.pretrain_config`` on that
table's grid, ``paper.pretrain_steps``) -> embed-spectra (the encoder's best checkpoint, ``paper.pooling``).
The jobs run through ``skysift.cli.run_job`` (as the demo runs them), not by importing their stages; the Spark
session is the caller's or the one run_job starts for the jobs that need it.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from skysift.config import ConfigError


def repo_path(path: str) -> Path:
    """``path`` as given when it exists or is absolute, else relative to the repository root."""
    from skysift.paths import REPO_ROOT

    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p


def build_inputs(cfg, folder: Path, spark=None):
    """Run the three jobs into ``folder``; return ``cfg`` with embeddings, spectra and paper.truth filled in,
    and the per-job seconds."""
    from skysift.cli import run_job
    from skysift.io.tables import read_table_json
    from skysift.spectra.grid import parse_grid_id

    pc = cfg.paper
    survey_conf, pretrain_conf = repo_path(pc.survey_config), repo_path(pc.pretrain_config)
    for name, p in (("paper.survey_config", survey_conf), ("paper.pretrain_config", pretrain_conf)):
        if not p.exists():
            raise ConfigError(f"{name}: no such file {p}")
    survey, pretrain, embeddings = folder / "survey", folder / "pretrain", folder / "embeddings"
    seconds = {}
    t0 = time.perf_counter()
    run_job("synth-survey", ["--config", str(survey_conf), "--output", str(survey), "--set", "format=parquet"], spark=spark)
    seconds["synth-survey"] = time.perf_counter() - t0
    grid_id = read_table_json(str(survey / "spectra")).get("grid_id")
    if not grid_id:
        raise ConfigError(f"{survey / 'spectra'}: the survey's spectra table names no grid_id")
    n_points = parse_grid_id(grid_id).n_points
    t0 = time.perf_counter()
    run_job("pretrain", ["--config", str(pretrain_conf), "--input", str(survey / "spectra"), "--output", str(pretrain),
                         "--set", f"total_steps={pc.pretrain_steps}", "--set", f"model.n_points={n_points}",
                         "--set", f"model.grid_id={grid_id}", "--set", "progress=false", "--set", "mlflow.enabled=false"])
    seconds["pretrain"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_job("embed-spectra", ["--input", str(survey / "spectra"), "--output", str(embeddings),
                              "--set", f"model_uri={pretrain / 'best.pt'}", "--set", f"pooling={pc.pooling}"], spark=spark)
    seconds["embed-spectra"] = time.perf_counter() - t0
    new = dataclasses.replace(cfg, embeddings=str(embeddings), spectra=str(survey / "spectra"),
                              paper=dataclasses.replace(pc, truth=str(survey / "truth")))
    return new, seconds

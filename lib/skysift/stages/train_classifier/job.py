"""`skysift train-classifier`: driver-side training of Conv4Net; the registered model serves detect-sources."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from skysift.stages.train_classifier.config import TrainClassifierConfig
from skysift.stages.train_classifier.tasks import fit

NEEDS_SPARK = False
CONFIG = TrainClassifierConfig


def run(spark, cfg: TrainClassifierConfig) -> dict[str, Any]:
    """Job entry: cut the crops, train, evaluate on the test split, register; crops read = written + dropped by balancing."""
    summary = fit(cfg)
    return {"read": summary["crops"], "written": summary["crops"], "rejected": 0, "output": str(Path(cfg.output).absolute()), **summary}

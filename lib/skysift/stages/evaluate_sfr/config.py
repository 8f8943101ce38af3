"""Configuration of `skysift evaluate-sfr`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require
from skysift.models.sfr_config import MODEL_NAMES


@dataclass(frozen=True)
class EvaluateSfrConfig:
    """The SFR comparison report from a train-sfr run (and, optionally, predict-sfr's champion predictions)."""

    input: str = ""
    """Output folder of `skysift train-sfr` (its predictions.parquet and report.json)."""
    output: str = ""
    """Run folder for metrics.json, the PNGs and report.html (replaced as a whole on success)."""
    predictions: str = ""
    """Optional: output folder of `skysift predict-sfr`; its rows of the held-out objects are scored too."""
    multimodal: str = ""
    """The `build-multimodal` output the predictions were made on (labels, class, z): needed with predictions."""
    split: Literal["test", "val"] = "test"
    """Which held-out split of train-sfr the metrics are on (test: never used for early stopping or the champion)."""
    models: tuple[str, ...] = ()
    """Models to report (empty = every model in the run)."""
    qso_class: str = "QSO"
    """The class value left out of the 'without QSOs' metrics (Rustamov 2025 notes §8)."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input TRAIN_SFR_OUTPUT)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(self.split in ("test", "val"), f"split must be test or val, got {self.split!r}")
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        require(not unknown, f"models: unknown {unknown}; known: {list(MODEL_NAMES)}")
        require(not self.predictions or bool(self.multimodal),
                "predictions needs multimodal (the build-multimodal output holding their labels)")

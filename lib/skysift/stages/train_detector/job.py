"""`skysift train-detector`: driver-side YOLOv8 training; the registered weights serve detect-sources."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from skysift.stages.train_detector.config import TrainDetectorConfig
from skysift.stages.train_detector.tasks import fit

NEEDS_SPARK = False
CONFIG = TrainDetectorConfig


def run(spark, cfg: TrainDetectorConfig) -> dict[str, Any]:
    """Job entry: write the YOLO dataset, train, register; tiles read = tiles written."""
    summary = fit(cfg)
    return {"read": summary["tiles"], "written": summary["tiles"], "rejected": 0, "output": str(Path(cfg.output).absolute()), **summary}

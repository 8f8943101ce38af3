"""`skysift train-detector` tiny profile: dataset by field, an ultralytics run offline, skysift-detector@champion."""
from __future__ import annotations

from pathlib import Path

import pytest

from skysift.config import ConfigError, load_config
from skysift.detection.yolo_files import parse_label_text
from skysift.paths import REPO_ROOT
from skysift.stages.train_detector.config import DetectorSourceConfig, TrainDetectorConfig


@pytest.mark.slow  # three small fields and one YOLOv8n epoch on CPU: ~1-2 min on the shared machine
def test_tiny_profile_trains_and_registers(tmp_path, monkeypatch):
    pytest.importorskip("ultralytics")
    from skysift.stages.train_detector.job import run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    cfg = load_config(TrainDetectorConfig, REPO_ROOT / "conf" / "train_detector_tiny.yaml", [f"output={tmp_path / 'run'}"])
    out = run(None, cfg)
    # 400 x 640 frames in 320 px tiles with >= 32 px overlap: 2 x 3 per field, the last field for validation
    assert out["tiles"] == 18 and out["val_tiles"] == 6 and out["boxes"] > 0
    val_labels = sorted((tmp_path / "run" / "dataset" / "labels" / "val").glob("*.txt"))
    assert len(val_labels) == 6 and all(p.name.startswith("f0002-") for p in val_labels)
    assert sum(len(parse_label_text(p.read_text())) for p in val_labels) > 0
    assert Path(out["best"]).exists() and out["epochs_run"] == 1
    assert out["registered_model"] == "skysift-detector" and out["promoted"] is True

    from mlflow import MlflowClient

    from skysift.runtime import tracking

    tracking.mlflow_module()
    mv = MlflowClient().get_model_version_by_alias("skysift-detector", "champion")
    assert int(mv.version) == out["model_version"]
    # the registered pyfunc loads by alias and predicts on RGB tiles in one batch
    import mlflow
    import numpy as np
    from PIL import Image

    model = mlflow.pyfunc.load_model("models:/skysift-detector@champion")
    tiles = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "run" / "dataset" / "images" / "val").glob("*.png"))[:2]])
    pred = model.predict(tiles, params={"conf": 0.001, "imgsz": 320})
    assert list(pred.columns) == ["image_index", "x_min", "y_min", "x_max", "y_max", "score"]
    assert set(pred["image_index"]) <= {0, 1}


def test_config_validation():
    with pytest.raises(ConfigError, match="val_fields"):
        DetectorSourceConfig(n_fields=2, val_fields=2)

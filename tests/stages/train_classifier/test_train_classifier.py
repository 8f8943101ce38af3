"""`skysift train-classifier` tiny profile: balanced 8:1:1 crops, files, MLflow registration as skysift-classifier@champion."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from skysift.config import load_config
from skysift.paths import REPO_ROOT
from skysift.stages.train_classifier.config import TrainClassifierConfig
from skysift.stages.train_classifier.job import run


@pytest.mark.slow  # renders two synthetic fields and trains two epochs: ~1 min on the shared CPU
def test_tiny_profile_trains_and_registers(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    cfg = load_config(TrainClassifierConfig, REPO_ROOT / "conf" / "train_classifier_tiny.yaml", [f"output={tmp_path / 'run'}"])
    out = run(None, cfg)
    assert out["per_class"] == 12 and out["crops"] == 36
    assert (out["train"], out["val"], out["test"]) == (30, 3, 3)  # 8:1:1 per class, rounded
    assert out["registered_model"] == "skysift-classifier" and out["promoted"] is True
    summary = json.loads(Path(tmp_path / "run" / "train_summary.json").read_text())
    assert summary["epochs_run"] == 2 and 0.0 <= summary["test_accuracy"] <= 1.0
    meta = json.loads((tmp_path / "run" / "classifier_meta.json").read_text())
    assert len(meta["mean"]) == 3 and meta["classes"] == ["GALAXY", "STAR", "QSO"]

    from skysift.runtime import tracking

    tracking.mlflow_module()
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version_by_alias("skysift-classifier", "champion")
    assert int(mv.version) == out["model_version"] == 1


def test_config_validation():
    from skysift.config import ConfigError

    with pytest.raises(ConfigError, match="per_class"):
        TrainClassifierConfig(per_class=1)

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
    from skysift.stages.train_classifier.config import SyntheticSourceConfig

    with pytest.raises(ConfigError, match="per_class"):
        TrainClassifierConfig(per_class=1)
    with pytest.raises(ConfigError, match="spec_depth_mag_r"):
        SyntheticSourceConfig(spec_depth_mag_r=5.0)


def test_spec_depth_keeps_the_brighter_labelled_objects():
    """source.spec_depth_mag_r drops the crops of objects fainter than it, counted independently from the catalog."""
    import numpy as np

    from skysift.detection.crops import CLASSES
    from skysift.detection.labels import label_magnitude
    from skysift.stages.train_classifier.tasks import synthetic_field_crops
    from skysift.synth.imaging import catalogs, frames
    from skysift.synth.imaging.config import ImagingSurveyConfig, PopulationConfig

    base = load_config(TrainClassifierConfig, REPO_ROOT / "conf" / "train_classifier_tiny.yaml", ["mlflow.enabled=false"])
    deep = synthetic_field_crops(base, 0)
    shallow = synthetic_field_crops(load_config(TrainClassifierConfig, REPO_ROOT / "conf" / "train_classifier_tiny.yaml",
                                                ["mlflow.enabled=false", "source.spec_depth_mag_r=21.0"]), 0)
    src = base.source
    survey = ImagingSurveyConfig(shape_px=(src.rows, src.cols), n_fields=src.n_fields, field_step_rows=min(1361, src.rows),
                                 population=PopulationConfig(qso_density_per_deg2=src.qso_density_per_deg2))
    fi = frames.render_field(src.seed, survey, 0)
    po = catalogs.field_catalogs(src.seed, survey, fi)["photoobj"].to_pandas()
    x, y = fi.wcs[2].all_world2pix(po["ra"].to_numpy(), po["dec"].to_numpy(), 0)
    on = (x >= 0) & (x <= src.cols - 1) & (y >= 0) & (y <= src.rows - 1)
    mag = label_magnitude(po)
    assert len(deep[1]) == int((on & (mag <= 22.2)).sum()) > len(shallow[1]) == int((on & (mag <= 21.0)).sum()) > 0
    assert set(np.unique(shallow[1])) <= set(range(len(CLASSES)))

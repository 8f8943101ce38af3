"""train-sfr on a tiny multimodal table: every model trains, the champion is the lowest mean validation MSE,
it is registered as skysift-sfr@champion and its saved folder predicts."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.stages.train_sfr.config import TrainSfrConfig
from skysift.stages.train_sfr.tasks import read_arrays


def _table(folder, n=40):
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.7, n)
    px = (rng.normal(0, 0.05, (n, 5, 16, 16)) + y[:, None, None, None] * 0.1).astype(np.float32)
    flux = (rng.normal(1, 0.1, (n, 64)) + y[:, None]).astype(np.float32)
    (folder / "multimodal").mkdir(parents=True)
    pq.write_table(pa.table({
        "object_id": [str(i) for i in range(n)], "class": ["GALAXY"] * n, "log_sfr": y,
        "pixels": [p.ravel() for p in px], "size_px": pa.array([16] * n, pa.int32()), "bands": [list("ugriz")] * n,
        "flux": list(flux), "ivar": [np.ones(64, np.float32)] * n, "norm_factor": pa.array(np.full(n, 10.0), pa.float32()),
        "z": rng.uniform(0.02, 0.2, n)}),
        folder / "multimodal" / "part-0.parquet")
    return px, flux, y


def test_read_arrays(tmp_path):
    px, flux, y = _table(tmp_path)
    a = read_arrays(str(tmp_path), 8, 1)
    order = np.argsort([str(i) for i in range(40)], kind="stable")
    assert a.pixels.shape == (40, 5, 8, 8) and a.flux.shape == (40, 32)
    np.testing.assert_allclose(a.pixels[0], px[order[0]].reshape(5, 8, 2, 8, 2).mean(axis=(2, 4)), rtol=1e-5)
    assert a.log_sfr == pytest.approx(y[order])
    assert a.log_norm == pytest.approx([1.0] * 40)


def test_train_register_and_predict(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("SKYSIFT_RUNS_DIR", str(tmp_path / "runs"))
    _table(tmp_path / "in")
    from skysift.models.sfr_config import SfrModelsConfig
    from skysift.stages.train_sfr.job import run

    model = SfrModelsConfig(image_pca_components=8, spectrum_pca_components=4, cnn_channels=(4,), spectrum_hidden=(8, 8),
                            fusion_hidden=(8,), max_epochs=3, patience=2, gb_estimators=5)
    cfg = TrainSfrConfig(input=str(tmp_path / "in"), output=str(tmp_path / "out"), image_px=(16, 8), quality_levels=(3,),
                         seeds=(0, 1), model=model)
    s = run(None, cfg)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    means = {(c, m): body["summary"][m]["val"]["mse"]["mean"] for c, body in report["combinations"].items() for m in body["summary"]}
    assert len(means) == 2 * 8
    champ = report["champion"]
    assert means[(f"{champ['image_px']}px_q{champ['quality_level']}", champ["model"])] == pytest.approx(min(means.values()))
    assert s["registry"]["promoted"] and s["registry"]["alias"] == "champion"
    from mlflow import MlflowClient

    v = MlflowClient().get_model_version_by_alias("skysift-sfr", "champion")
    assert v.tags["model"] == champ["model"]
    from skysift.models.sfr_bundle import SfrBundle

    bundle = SfrBundle(tmp_path / "out" / "champion")
    arrays = read_arrays(str(tmp_path / "in"), champ["image_px"], 3)
    assert np.isfinite(bundle.predict(arrays)).all()

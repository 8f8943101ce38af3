"""predict-sfr: the registered champion predicts every usable row as the trained model does, on Spark and in the
sequential twin alike; unusable rows are rejects with their reason; another resolution / quality level is refused."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.models.sfr_data import make_arrays
from skysift.runtime.output import read_table
from skysift.runtime.rejects import read_rejects

N = 36
BAD = {3: "no cutout", 7: "no spectrum", 11: "no redshift", 15: "cutout has 3 bands, the model needs 5",
       19: "non-finite flux at quality level 3", 23: "no norm_factor"}


def _rows(n=N, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 0.7, n)
    px = (rng.normal(0, 0.05, (n, 5, 16, 16)) + y[:, None, None, None] * 0.1).astype(np.float32)
    flux = (rng.normal(1, 0.1, (n, 64)) + y[:, None]).astype(np.float32)
    ivar = rng.uniform(0.5, 2.0, (n, 64)).astype(np.float32)
    z = rng.uniform(0.02, 0.2, n)
    return y, px, flux, ivar, z


def _table(y, px, flux, ivar, z, bad=True) -> pa.Table:
    from skysift.models.sfr_data import bin_spectrum

    n = len(y)
    levels = {q: bin_spectrum(flux, ivar, f) for q, f in ((1, 2), (2, 4), (3, 8))}
    cols = {
        "object_id": [f"obj{i:03d}" for i in range(n)], "spec_id": [f"s{i}" for i in range(n)],
        "class": ["QSO" if i % 9 == 0 else "GALAXY" for i in range(n)], "log_sfr": y,
        "bands": [list("ugriz")] * n, "size_px": pa.array([16] * n, pa.int32()),
        "pixels": [p.ravel() for p in px], "flux": list(flux), "ivar": list(ivar),
        "flux_q1": list(levels[1]), "flux_q2": list(levels[2]), "flux_q3": list(levels[3]),
        "norm_factor": pa.array(np.full(n, 10.0), pa.float32()), "z": z}
    if bad:
        cols["pixels"][3] = None
        cols["flux_q3"][7] = None
        cols["z"] = [None if i == 11 else v for i, v in enumerate(z)]
        cols["bands"][15] = list("gri")
        cols["pixels"][15] = px[15, :3].ravel()
        f = levels[3][19].copy()
        f[2] = np.nan
        cols["flux_q3"][19] = f
        cols["norm_factor"] = pa.array([None if i == 23 else 10.0 for i in range(n)], pa.float32())
    return pa.table(cols)


MODEL = dict(image_px=16, quality_level=3, image_pca_components=8, spectrum_pca_components=4, early_hidden=(8, 8),
             max_epochs=3, patience=2)


def _write_input(root, data):
    inp = root / "input" / "multimodal"
    inp.mkdir(parents=True)
    t = _table(*data)
    pq.write_table(t.slice(0, 20), inp / "part-0.parquet")  # two files: two Spark tasks, two sequential parts
    pq.write_table(t.slice(20), inp / "part-1.parquet")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny early fusion trained on a clean table and saved as train-sfr saves its champion (no MLflow)."""
    from skysift.models.sfr_bundle import save_bundle
    from skysift.models.sfr_config import SfrModelsConfig
    from skysift.models.sfr_training import train_models

    root = tmp_path_factory.mktemp("predict_sfr")
    y, px, flux, ivar, z = _rows(60, seed=1)
    cfg = SfrModelsConfig(**MODEL)
    a = make_arrays(np.arange(60).astype(str), px, flux, ivar, np.full(60, 10.0), y, np.array(["GALAXY"] * 60, dtype=object),
                    16, 3, z=z)
    save_bundle(root / "trained" / "champion", "early_fusion", train_models(a, cfg, 0, ("early_fusion",)), cfg)
    data = _rows()
    _write_input(root, data)
    return root, data


def _cfg(root, out, **kw):
    from skysift.stages.predict_sfr.config import PredictSfrConfig

    kw.setdefault("model_uri", str(root / "trained" / "champion"))
    return PredictSfrConfig(input=str(root / "input"), output=str(root / out), **kw)


def _expected(root, data):
    """The saved champion's own predictions on arrays made the way training makes them (make_arrays)."""
    from skysift.models.sfr_bundle import SfrBundle

    y, px, flux, ivar, z = data
    keep = np.array([i for i in range(N) if i not in BAD])
    a = make_arrays(np.array([f"obj{i:03d}" for i in range(N)]), px, flux, ivar, np.full(N, 10.0), y,
                    np.array(["GALAXY"] * N, dtype=object), 16, 3, z=z).take(keep)
    return dict(zip(a.object_id, SfrBundle(root / "trained" / "champion").predict(a)))


def test_sequential_twin_predicts_as_trained_and_rejects_with_reasons(trained):
    from skysift.stages.predict_sfr.job import run

    root, data = trained
    s = run(None, _cfg(root, "seq"))
    assert (s["read"], s["written"], s["rejected"]) == (N, N - len(BAD), len(BAD))
    assert s["model_version"] is None and s["model_name"] == "early_fusion"  # a folder: no registry version
    out = read_table(s["output"]).to_pandas().set_index("object_id")
    exp = _expected(root, data)
    assert sorted(out.index) == sorted(exp)
    np.testing.assert_allclose(out.loc[list(exp), "log_sfr_pred"], list(exp.values()), rtol=1e-6, atol=1e-9)
    assert set(out.model_uri) == {str(root / "trained" / "champion")}
    rej = read_rejects(s["output"]).to_pandas()
    assert dict(zip(rej.spec_id, rej.reason)) == {f"obj{i:03d}": r for i, r in BAD.items()}
    assert set(rej.source_file.str.rsplit("/", n=1).str[-1]) == {"part-0.parquet", "part-1.parquet"}
    meta = json.loads((root / "seq" / "_table.json").read_text())
    assert (meta["image_px"], meta["quality_level"]) == (16, 3)


def test_spark_equals_sequential_twin(spark, trained):
    from skysift.stages.predict_sfr.job import run

    root, _ = trained
    seq = run(None, _cfg(root, "seq2"))
    par = run(spark, _cfg(root, "spark", reader="spark", arrow_batch_rows=7))  # mapInArrow
    assert par["tasks"] >= 2 and (par["read"], par["written"], par["rejected"]) == (seq["read"], seq["written"], seq["rejected"])
    a = read_table(seq["output"]).to_pandas().sort_values("object_id").reset_index(drop=True)
    b = read_table(par["output"]).to_pandas().sort_values("object_id").reset_index(drop=True)
    assert list(a.object_id) == list(b.object_id)
    np.testing.assert_allclose(a.log_sfr_pred, b.log_sfr_pred, rtol=1e-6, atol=1e-9)
    ra, rb = (read_rejects(x["output"]).to_pandas().sort_values("spec_id") for x in (seq, par))
    assert list(ra.reason) == list(rb.reason)
    # reader=pyarrow: the same tasks as the twin, on the executors
    # (rows_per_task sets the count on both: the floor of min_tasks_per_core x cores differs, 1 core vs 2)
    pa_run = run(spark, _cfg(root, "spark_pyarrow", reader="pyarrow", rows_per_task=10))
    twin10 = run(None, _cfg(root, "seq10", rows_per_task=10))
    c = read_table(pa_run["output"]).to_pandas().sort_values("object_id").reset_index(drop=True)
    assert pa_run["tasks"] == twin10["tasks"] >= 2 and list(c.object_id) == list(a.object_id)
    np.testing.assert_allclose(c.log_sfr_pred, a.log_sfr_pred, rtol=1e-6, atol=1e-9)


def test_other_resolution_or_quality_is_refused(trained):
    from skysift.config import ConfigError
    from skysift.stages.predict_sfr.job import run

    root, _ = trained
    with pytest.raises(ConfigError, match=r"early_fusion was trained on 16 px images and spectral quality level 3 "
                                          r"\(8 px spectra\), not 32 px images"):
        run(None, _cfg(root, "bad", image_px=32))
    with pytest.raises(ConfigError, match="not spectral quality level 0"):
        run(None, _cfg(root, "bad", quality_level=0))
    with pytest.raises(ConfigError, match="no such folder"):
        run(None, _cfg(root, "bad", model_uri=str(root / "nothing")))


@pytest.mark.slow
def test_registered_champion_from_train_sfr(tmp_path, monkeypatch):
    """The default model_uri models:/skysift-sfr@champion after a train-sfr run: its version in every row.
    Slow (~60 s here): a fresh MLflow SQLite store migrates its schema first."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("SKYSIFT_RUNS_DIR", str(tmp_path / "runs"))
    from skysift.config import ConfigError
    from skysift.models.sfr_config import SfrModelsConfig
    from skysift.stages.predict_sfr.job import run
    from skysift.stages.train_sfr.config import TrainSfrConfig
    from skysift.stages.train_sfr.job import run as train

    (tmp_path / "train" / "multimodal").mkdir(parents=True)
    pq.write_table(_table(*_rows(60, seed=1), bad=False), tmp_path / "train" / "multimodal" / "part-0.parquet")
    model = {k: v for k, v in MODEL.items() if k not in ("image_px", "quality_level")}
    t = train(None, TrainSfrConfig(input=str(tmp_path / "train"), output=str(tmp_path / "trained"), image_px=(16,),
                                   quality_levels=(3,), seeds=(0,), models=("early_fusion",), model=SfrModelsConfig(**model)))
    _write_input(tmp_path, _rows())
    s = run(None, _cfg(tmp_path, "out", model_uri="models:/skysift-sfr@champion"))
    assert s["model_version"] == str(t["registry"]["champion_version"]) and s["written"] == N - len(BAD)
    out = read_table(s["output"]).to_pandas()
    assert set(out.model_version) == {s["model_version"]} and set(out.model_uri) == {"models:/skysift-sfr@champion"}
    with pytest.raises(ConfigError, match="no registered model 'nope'"):
        run(None, _cfg(tmp_path, "bad", model_uri="models:/nope@champion"))

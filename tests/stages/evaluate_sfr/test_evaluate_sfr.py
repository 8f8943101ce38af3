"""evaluate-sfr: metrics per model x resolution x quality level against scikit-learn computed here, mean / std over
seeds, the without-QSO subset, the fusion ordering, the champion's predict-sfr rows, and the report files."""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from skysift.schema import SFR_EVAL_PREDICTIONS
from skysift.stages.evaluate_sfr.tasks import fusion_ordering, metric_rows, resolution_grid

NOISE = {"early_fusion": 0.3, "intermediate_fusion": 0.2, "late_fusion": 0.35, "image_cnn_combined": 0.6,
         "image_cnn_per_band": 0.7, "spectrum_mlp": 0.4, "decision_tree": 0.8}


def _predictions(n=50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.8, n)
    z = rng.uniform(0.02, 0.3, n)
    cls = np.where(np.arange(n) % 7 == 0, "QSO", "GALAXY")
    parts = []
    for px, q in ((16, 3), (8, 3)):
        for model, sd in NOISE.items():
            for seed in (0, 1, 2):
                for split in ("val", "test"):
                    parts.append(pd.DataFrame({
                        "image_px": px, "quality_level": q, "model": model, "seed": seed, "split": split,
                        "object_id": [f"o{i}" for i in range(n)] if split == "test" else [f"v{i}" for i in range(n)],
                        "class": cls, "z": z, "log_sfr": y,
                        "log_sfr_pred": y + rng.normal(0, sd * (1.5 if px == 8 else 1.0), n)}))
    return pd.concat(parts, ignore_index=True)


def test_metrics_against_sklearn_over_seeds():
    df = _predictions()
    test = df[df.split == "test"]
    rows = metric_rows(test)
    assert len(rows) == 2 * len(NOISE) * 2
    for r in rows:
        part = test[(test.model == r["model"]) & (test.image_px == r["image_px"]) & (test.quality_level == r["quality_level"])]
        if r["subset"] == "without_qso":
            part = part[part["class"] != "QSO"]
        per_seed = {"mse": [], "rmse": [], "mae": [], "r2": []}
        for _, g in part.groupby("seed"):
            per_seed["mse"].append(mean_squared_error(g.log_sfr, g.log_sfr_pred))
            per_seed["rmse"].append(np.sqrt(mean_squared_error(g.log_sfr, g.log_sfr_pred)))
            per_seed["mae"].append(mean_absolute_error(g.log_sfr, g.log_sfr_pred))
            per_seed["r2"].append(r2_score(g.log_sfr, g.log_sfr_pred))
        for m, v in per_seed.items():
            assert r[f"{m}_mean"] == pytest.approx(np.mean(v), rel=1e-12)
            assert r[f"{m}_std"] == pytest.approx(np.std(v), rel=1e-9, abs=1e-15)
        assert r["seeds"] == 3 and r["n"] == (50 if r["subset"] == "all" else 50 - 8)


def test_fusion_ordering():
    rows = metric_rows(_predictions().query("split == 'test'"))
    order = fusion_ordering(rows)
    assert {(o["image_px"], o["fusion"]) for o in order} == {(px, f) for px in (16, 8) for f in
                                                             ("early_fusion", "intermediate_fusion", "late_fusion")}
    by = {(o["image_px"], o["fusion"]): o for o in order}
    r2 = {(r["model"], r["image_px"]): r["r2_mean"] for r in rows if r["subset"] == "all"}
    for px in (16, 8):
        assert by[(px, "early_fusion")]["best_image_r2"] == pytest.approx(max(r2[("image_cnn_combined", px)],
                                                                               r2[("image_cnn_per_band", px)]))
        assert by[(px, "late_fusion")]["best_spectrum_r2"] == pytest.approx(r2[("spectrum_mlp", px)])
        assert by[(px, "intermediate_fusion")]["beats_both"]  # noise 0.2 against 0.4 / 0.6
        assert by[(px, "late_fusion")]["beats_both"] == (r2[("late_fusion", px)] > r2[("spectrum_mlp", px)])


def test_resolution_grid_lays_out_each_model_by_resolution():
    test = _predictions().query("split == 'test'")
    rows = metric_rows(test)
    grid = resolution_grid(rows, "without_qso")
    assert [(g["quality_level"], g["model"]) for g in grid] == [(3, m) for m in NOISE]
    for g in grid:
        assert list(g) == ["quality_level", "model", "16 px", "8 px"]
        for px in (16, 8):
            part = test[(test.model == g["model"]) & (test.image_px == px) & (test["class"] != "QSO")]
            r2 = [r2_score(s.log_sfr, s.log_sfr_pred) for _, s in part.groupby("seed")]
            assert g[f"{px} px"] == pytest.approx((np.mean(r2), np.std(r2)), rel=1e-9)
    # an untrained combination is an empty cell, not a missing key
    grid = resolution_grid([r for r in rows if not (r["model"] == "decision_tree" and r["image_px"] == 8)])
    assert {g["model"]: g["8 px"] for g in grid}["decision_tree"] is None


def test_job_writes_report_and_scores_the_champion(tmp_path):
    from skysift.stages.evaluate_sfr.config import EvaluateSfrConfig
    from skysift.stages.evaluate_sfr.job import run

    df = _predictions()
    (tmp_path / "train").mkdir()
    pq.write_table(pa.Table.from_pandas(df, schema=SFR_EVAL_PREDICTIONS, preserve_index=False),
                   tmp_path / "train" / "predictions.parquet")
    (tmp_path / "train" / "report.json").write_text(json.dumps(
        {"champion": {"model": "intermediate_fusion", "image_px": 16, "quality_level": 3}}))
    test = df[(df.split == "test") & (df.model == "intermediate_fusion") & (df.image_px == 16) & (df.seed == 0)]
    (tmp_path / "pred").mkdir()
    extra = pd.DataFrame({"object_id": ["x1", "x2"], "log_sfr_pred": [0.0, 1.0]})  # not held out: not scored
    pq.write_table(pa.Table.from_pandas(pd.concat([test[["object_id", "log_sfr_pred"]], extra]), preserve_index=False),
                   tmp_path / "pred" / "part-00000.parquet")
    (tmp_path / "mm" / "multimodal").mkdir(parents=True)
    truth = pd.concat([test[["object_id", "log_sfr", "class", "z"]],
                       pd.DataFrame({"object_id": ["x1", "x2"], "log_sfr": [5.0, 5.0], "class": "GALAXY", "z": 0.1})])
    pq.write_table(pa.Table.from_pandas(truth, preserve_index=False), tmp_path / "mm" / "multimodal" / "part-0.parquet")
    s = run(None, EvaluateSfrConfig(input=str(tmp_path / "train"), output=str(tmp_path / "out"),
                                    predictions=str(tmp_path / "pred"), multimodal=str(tmp_path / "mm")))
    out = tmp_path / "out"
    html = (out / "report.html").read_text()
    assert "intermediate_fusion" in html and "without qso" in html and "pred_vs_true_16px_q3.png" in html
    assert "R2 by image resolution and spectral quality level" in html
    assert (out / "pred_vs_true_16px_q3.png").stat().st_size > 5000 and (out / "residual_vs_z_16px_q3.png").exists()
    m = json.loads((out / "metrics.json").read_text())
    c = m["champion_predictions"]
    assert (c["n_predicted"], c["n_held_out"]) == (52, 50)
    assert c["all"]["r2"] == pytest.approx(r2_score(test.log_sfr, test.log_sfr_pred))
    g = test[test["class"] != "QSO"]
    assert c["without_qso"]["mse"] == pytest.approx(mean_squared_error(g.log_sfr, g.log_sfr_pred))
    assert s["fusions_beating_both"].endswith("/6")

"""evaluate-kb on a toy set with known 3-class truth: the KB vote must beat the random forest's macro-F1."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.stages.evaluate_kb import job
from skysift.stages.evaluate_kb.config import EvaluateKbConfig
from skysift.stages.evaluate_kb.tasks import stratified_split
from skysift.synth.toy_kb import pca_embeddings, toy_spectra
from skysift.kb.faiss_index import IndexSpec


def test_stratified_split_keeps_proportions():
    y = np.array(["a"] * 100 + ["b"] * 50 + ["c"])
    tr, te = stratified_split(y, 0.2, 0)
    assert len(set(tr) & set(te)) == 0 and len(tr) + len(te) == 151
    assert (y[te] == "a").sum() == 20 and (y[te] == "b").sum() == 10 and (y[te] == "c").sum() == 0


@pytest.fixture(scope="module")
def toy_tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalkb")
    n = 1500
    flux, labels = toy_spectra(n, n_pix=800, snr=6.0, seed=11)
    emb = pca_embeddings(flux, 16)
    ids = [f"toy-{i}" for i in range(n)]
    for name, table in {
        "spectra": pa.table({"spec_id": ids, "flux": pa.array(list(flux), type=pa.list_(pa.float32()))}),
        "embeddings": pa.table({"spec_id": ids, "embedding": pa.array(list(emb), type=pa.list_(pa.float32()))}),
        "labels": pa.table({"spec_id": ids, "label": list(labels), "task": ["agn3"] * n}),
        # a second task in its own table (no task column: the folder name becomes the task)
        "sf_vs_rest": pa.table({"spec_id": ids[:600],
                                "label": ["sf" if v == "star_forming" else "rest" for v in labels[:600]]}),
    }.items():
        (root / name).mkdir()
        pq.write_table(table, root / name / "part-0.parquet")
    return root


def test_evaluate_kb_report_and_kb_beats_random_forest(toy_tables):
    root = toy_tables
    cfg = EvaluateKbConfig(
        embeddings=str(root / "embeddings"), labels=(str(root / "labels"), str(root / "sf_vs_rest")), spectra=str(root / "spectra"),
        output=str(root / "run"), rf_trees=100, cnn_epochs=4, flux_bin_pixels=2,
        timing_sizes=(2000, 4000, 8000), timing_queries=100, index=IndexSpec("flat"),
    )
    s = job.run(None, cfg)
    m = json.loads((root / "run" / "metrics.json").read_text())
    comp = m["comparison"]
    kb, rf, cnn = comp["kb_vote"]["macro_f1"], comp["random_forest"]["macro_f1"], comp["cnn_1d"]["macro_f1"]
    print(f"toy agn3 macro-F1: KB vote {kb:.4f}  random forest {rf:.4f}  1-D CNN {cnn:.4f}")
    assert kb > rf
    assert comp["n_test"] == 300 and comp["n_train"] == 1200
    # the comparison is repeated on 5 stratified splits; split 0 is the one above
    rep = comp["repeats"]
    assert rep["seeds"] == [0, 1, 2, 3, 4] and rep["kb_vote"][0] == kb and rep["random_forest"][0] == rf
    assert comp["mean_macro_f1"]["kb_vote"] == pytest.approx(np.mean(rep["kb_vote"]))
    assert comp["std_macro_f1"]["random_forest"] == pytest.approx(np.std(rep["random_forest"], ddof=1))
    assert comp["kb_vote_wins"] == sum(a > b for a, b in zip(rep["kb_vote"], rep["random_forest"]))
    assert s["comparison_kb_vote_wins"] == f"{comp['kb_vote_wins']}/5"
    assert [p["k"] for p in m["topk_sweep"]["points"]] == list(range(1, 16))
    # the K=3 point of the sweep is the same experiment as the per-task evaluation
    assert m["topk_sweep"]["points"][2]["macro_f1"] == pytest.approx(m["tasks"]["agn3"]["macro_f1"])
    assert [p["kb_fraction"] for p in m["kb_fraction_sweep"]["points"]] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert m["kb_fraction_sweep"]["points"][0]["kb_size"] == pytest.approx(150, abs=3)
    assert len(m["retrieval_timing"]["points"]) == 3 and np.isfinite(m["retrieval_timing"]["fit"]["slope_s_per_1k_entries"])
    html = (root / "run" / "report.html").read_text()
    for fig in m["figures"]:
        assert (root / "run" / fig).exists() and fig in html
    assert m["tasks"]["sf_vs_rest"]["n_test"] == 120 and "sf_vs_rest_macro_f1" in s
    assert s["agn3_macro_f1"] == pytest.approx(m["tasks"]["agn3"]["macro_f1"], abs=1e-4)


def test_mlflow_logging_is_optional(toy_tables, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root ./mlruns lands in the temp folder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    root = toy_tables
    cfg = EvaluateKbConfig(embeddings=str(root / "embeddings"), labels=(str(root / "labels"),),
                           output=str(tmp_path / "run"), timing_sizes=(500, 1000), timing_queries=20,
                           kb_fractions=(0.5,), top_k_max=3, mlflow=True)
    s = job.run(None, cfg)
    import mlflow

    run = mlflow.get_run(s["mlflow_run_id"])
    assert run.data.metrics["agn3.macro_f1"] == pytest.approx(s["agn3_macro_f1"], abs=1e-4)
    assert "comparison_kb_vote_macro_f1" not in s  # no spectra given: no baselines

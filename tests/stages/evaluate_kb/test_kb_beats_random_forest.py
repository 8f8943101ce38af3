"""Issue 6's quality target on the synthetic survey with known truth: the KB vote on encoder embeddings
beats a random forest on the flux, star-forming / AGN / normal, every method trained on the same splits.

The chain is the demo's: a rest-frame grid (conf/ingest_spectra_rest.yaml at 3.5 A, 974 points), the tiny
encoder pre-trained 1,000 steps, embeddings max-pooled over the patch tokens, evaluate-kb on 5 stratified
splits. Measured (2026-11-27, 2-core CPU, ~80 s): KB vote 0.961 +- 0.016, random forest 0.950 +- 0.019,
1-D CNN 0.830; the KB wins 3 of the 5 splits (the demo's FITS round trip of the same survey: 0.966 vs
0.950). In the observed frame the same recipe gave at best 0.83 vs 0.834 (BENCHMARKS.md), which is why the
rest frame is the recipe.
"""
from __future__ import annotations

import json

import pytest

AGN3 = "[star_forming:star_forming, composite:-, seyfert:agn, liner:agn, passive:normal, qso:-, star:-, lens:-, outlier:-]"


@pytest.mark.slow
def test_kb_vote_beats_random_forest_on_the_synthetic_survey(spark, tmp_path):
    from skysift.cli import run_job
    from skysift.paths import REPO_ROOT

    n_points = 974
    survey = tmp_path / "survey"
    run_job("synth-survey", ["--output", str(survey), "--set", "n_spectra=1500", "--set", "seed=42",
                             "--set", "format=parquet", "--set", "rows_per_partition=200",
                             "--set", "processing.grid.frame=rest", "--set", "processing.grid.start_angstrom=3600",
                             "--set", "processing.grid.stop_angstrom=7000", "--set", f"processing.grid.n_points={n_points}"],
            spark=spark)
    spectra = survey / "spectra"
    labels = tmp_path / "agn3"
    run_job("load-catalog", ["--input", str(survey / "truth"), "--output", str(labels), "--set", "format=parquet",
                             "--set", "task=agn3",
                             "--set", "label_column=target_class", "--set", f"label_map={AGN3}",
                             "--set", "unmapped=reject"], spark=spark)
    run_job("pretrain", ["--config", str(REPO_ROOT / "conf" / "pretrain_tiny.yaml"), "--input", str(spectra),
                         "--output", str(tmp_path / "run"), "--set", f"model.n_points={n_points}",
                         "--set", f"model.grid_id=lin:3600:7000:{n_points}:rest", "--set", "total_steps=1000",
                         "--set", "progress=false", "--set", "mlflow.enabled=false"], spark=spark)
    run_job("embed-spectra", ["--input", str(spectra), "--output", str(tmp_path / "embeddings"),
                              "--set", f"model_uri={tmp_path / 'run' / 'best.pt'}", "--set", "pooling=max"], spark=spark)
    summary = run_job("evaluate-kb", [
        "--embeddings", str(tmp_path / "embeddings"), "--labels", str(labels), "--spectra", str(spectra),
        "--output", str(tmp_path / "evaluation"), "--set", "rf_trees=100", "--set", "cnn_epochs=5",
        "--set", "timing_sizes=[]", "--set", "kb_fractions=[0.5]", "--set", "comparison_repeats=5"])
    comp = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())["comparison"]
    mean, std = comp["mean_macro_f1"], comp["std_macro_f1"]
    print(f"agn3 macro-F1 over 5 splits: KB vote {mean['kb_vote']:.4f} +- {std['kb_vote']:.4f}, random forest "
          f"{mean['random_forest']:.4f} +- {std['random_forest']:.4f}, 1-D CNN {mean['cnn_1d']:.4f}; "
          f"KB wins {comp['kb_vote_wins']}/5")
    assert comp["n_train"] + comp["n_test"] >= 800  # every labelled galaxy survives the rest-frame grid
    assert mean["kb_vote"] > mean["random_forest"], comp
    assert mean["kb_vote"] > 0.93, comp  # and not by both collapsing
    assert summary["comparison_kb_vote_mean_macro_f1"] == pytest.approx(mean["kb_vote"], abs=1e-4)

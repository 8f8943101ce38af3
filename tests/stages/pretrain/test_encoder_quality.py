"""Quality-check kernels: visible points, interpolation baseline, kNN; and the trained-encoder gate (with the
untrained network as a second reference)."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.stages.pretrain.quality import (
    interpolation_mse,
    interpolation_prediction,
    knn_accuracy,
    patch_interpolation_prediction,
    visible_points,
)


def test_visible_points_matches_loop_reference():
    rng = np.random.default_rng(0)
    S, P, O = 103, 15, 10
    n = (S - P) // (P - O) + 1
    mask = rng.random((4, n)) < 0.5
    ref = np.zeros((4, S), bool)
    for b in range(4):
        for j in range(n):
            if not mask[b, j]:
                ref[b, j * 5 : j * 5 + 15] = True
    np.testing.assert_array_equal(visible_points(mask, S, P, O), ref)


def test_interpolation_baseline_is_exact_on_lines_and_wrong_on_bumps():
    S, P, O = 103, 15, 10
    n = (S - P) // (P - O) + 1
    mask = np.zeros((1, n), bool)
    mask[0, 8:12] = True  # hides points 55..59 only (neighbouring patches reveal the rest)
    line = (2.0 + 0.01 * np.arange(S))[None, :]
    assert interpolation_mse(line, mask, P, O) == pytest.approx(0.0, abs=1e-20)
    bump = line.copy()
    bump[0, 55:60] += 1.0
    pred = interpolation_prediction(bump, mask, P, O)
    np.testing.assert_allclose(pred[0, 55:60], line[0, 55:60])  # the hidden bump is not predictable
    # per-patch MSE over masked patches: patches 8..11 each hold some of the five bumped points
    target = np.array([((np.arange(j * 5, j * 5 + 15) >= 55) & (np.arange(j * 5, j * 5 + 15) < 60)).sum() / 15
                       for j in range(8, 12)])
    assert interpolation_mse(bump, mask, P, O) == pytest.approx(target.mean())


def test_patch_interpolation_matches_loop_reference():
    rng = np.random.default_rng(2)
    patches = rng.normal(size=(5, 12, 3))
    mask = rng.random((5, 12)) < 0.4
    mask[0] = True  # nothing visible: left as is
    mask[1, :4] = True  # masked start: copy the first visible patch
    ref = patches.copy()
    for b in range(5):
        vis = np.flatnonzero(~mask[b])
        for j in np.flatnonzero(mask[b]):
            lo, hi = vis[vis < j], vis[vis > j]
            if len(lo) and len(hi):
                w = (j - lo[-1]) / (hi[0] - lo[-1])
                ref[b, j] = (1 - w) * patches[b, lo[-1]] + w * patches[b, hi[0]]
            elif len(lo):
                ref[b, j] = patches[b, lo[-1]]
            elif len(hi):
                ref[b, j] = patches[b, hi[0]]
    np.testing.assert_allclose(patch_interpolation_prediction(patches, mask), ref)


def test_knn_accuracy_separable_and_random():
    rng = np.random.default_rng(1)
    y = np.repeat(np.array(["a", "b", "c"]), 50)
    centers = {"a": 0.0, "b": 10.0, "c": 20.0}
    x = np.array([centers[v] for v in y])[:, None] + rng.normal(0, 1, (150, 4))
    assert knn_accuracy(x, y) == 1.0
    noise = rng.normal(0, 1, (150, 4))
    assert knn_accuracy(noise, y) < 0.6


@pytest.mark.slow
def test_encoder_beats_patch_interpolation_on_synthetic_survey(spark, tmp_path):
    """The issue's gate on the synthetic survey itself: synth-survey (parquet, the demo's 738-point grid)
    -> pretrain (conf/pretrain_tiny.yaml, 3,000 steps at lr 4e-3, ~2 min) -> masked MSE on the held-out
    validation spectra. Measured: 0.066 vs 0.086 for patch interpolation (kNN class accuracy 0.88 vs 0.79
    on PCA); 300 steps give 0.112 and 1,500 steps 0.085 (sine-cosine start) or 0.095 (normal start).
    Session 9: 0.0707 vs 0.0855, the untrained network 1.756 (0.04 of it), kNN class 0.81 (PCA 0.79, untrained
    0.82: STAR / GALAXY / QSO separate on any features). This test also holds what a separate 1,500-step
    training on toy spectra checked before (training cuts the masked MSE below 0.2 of the untrained
    network's; the embeddings carry the class), which saved 75 s of the suite."""
    from skysift.cli import run_job
    from skysift.paths import REPO_ROOT
    from skysift.stages.pretrain import quality

    grid = "lin:3850:9000:738"
    survey = tmp_path / "survey"
    run_job("synth-survey", ["--output", str(survey), "--set", "n_spectra=800", "--set", "seed=42",
                             "--set", "format=parquet", "--set", "processing.grid.n_points=738",
                             "--set", "rows_per_partition=200"], spark=spark)
    run_job("pretrain", ["--config", str(REPO_ROOT / "conf" / "pretrain_tiny.yaml"),
                         "--input", str(survey / "spectra"), "--output", str(tmp_path / "run"),
                         "--set", "model.n_points=738", "--set", f"model.grid_id={grid}", "--set", "progress=false",
                         "--set", "mlflow.enabled=false", "--set", "total_steps=3000", "--set", "lr=4e-3",
                         "--set", "warmup_steps=50", "--set", "val_every=1000", "--set", "checkpoint_every=1000"],
            spark=spark)
    result = quality.evaluate_table(str(tmp_path / "run" / "best.pt"), str(survey / "spectra"),
                                    val_fraction=0.1, n_max=500, untrained_seed=0)
    assert result["n"] >= 40, result
    assert result["encoder_masked_mse"] < result["patch_interpolation_masked_mse"], result
    assert result["encoder_masked_mse"] < 0.2 * result["untrained_masked_mse"], result
    # and the embeddings carry the class (STAR / GALAXY / QSO from the headers): well above chance (1/3)
    assert result["knn_embedding_class"] > 0.7, result

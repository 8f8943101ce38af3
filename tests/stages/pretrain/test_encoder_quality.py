"""Quality-check kernels: visible points, interpolation baseline, kNN; and the trained-encoder gate."""
from __future__ import annotations

import numpy as np
import pytest
import torch

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


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny profile trained 1,500 steps on toy spectra (grid of 400 points, ~40 s on 2 cores), and 300
    unseen spectra. 300 steps leave the masked MSE above patch interpolation (0.019 vs 0.015); 1,500 steps at
    lr 4e-3 reach 0.013."""
    from skysift.config import load_config
    from skysift.runtime import tracking
    from skysift.stages.pretrain.job import PretrainConfig, launch
    from skysift.synth.toy_spectra import toy_flux, write_toy_spectra

    tmp = tmp_path_factory.mktemp("quality")
    grid = "lin:3850:9000:400"
    table = write_toy_spectra(tmp / "spectra", 600, grid, seed=0)
    cfg = load_config(PretrainConfig, None, [
        f"input={table}", f"output={tmp / 'run'}", "model.profile=tiny", "model.n_points=400",
        f"model.grid_id={grid}", "model.dropout=0.0", "batch_size=32", "lr=4e-3", "warmup_steps=50",
        "total_steps=1500", "val_every=500", "val_batches=4", "checkpoint_every=1500", "progress=false",
        "mlflow.enabled=false",
    ])
    launch(cfg)
    model = tracking.load_encoder(tracking.resolve_model(str(tmp / "run" / "best.pt")))
    torch.manual_seed(0)
    untrained = type(model)(model.cfg).eval()
    flux, labels, _ = toy_flux(300, grid, seed=99)
    return model, untrained, flux, labels


@pytest.mark.slow
def test_training_improves_reconstruction_and_embeddings(trained):
    from skysift.stages.pretrain import quality

    model, untrained, flux, labels = trained
    after = quality.masked_mse_vs_interpolation(model, flux, seed=1)
    before = quality.masked_mse_vs_interpolation(untrained, flux, seed=1)
    assert after["encoder_masked_mse"] < 0.2 * before["encoder_masked_mse"], (before, after)
    # three classes (chance 1/3); measured 0.90 after 1,500 steps
    assert quality.knn_accuracy(quality.embed_array(model, flux), labels) > 0.75


@pytest.mark.slow
def test_trained_tiny_encoder_beats_patch_interpolation(trained):
    from skysift.stages.pretrain import quality

    result = quality.masked_mse_vs_interpolation(trained[0], trained[2], seed=1)
    assert result["encoder_masked_mse"] < result["patch_interpolation_masked_mse"], result


@pytest.mark.slow
def test_encoder_beats_patch_interpolation_on_synthetic_survey(spark, tmp_path):
    """The issue's gate on the synthetic survey itself: synth-survey (parquet, the demo's 738-point grid)
    -> pretrain (conf/pretrain_tiny.yaml, 3,000 steps at lr 4e-3, ~2 min) -> masked MSE on the held-out
    validation spectra. Measured: 0.066 vs 0.086 for patch interpolation (kNN class accuracy 0.88 vs 0.79
    on PCA); 300 steps give 0.112 and 1,500 steps 0.085 (sine-cosine start) or 0.095 (normal start)."""
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
                                    val_fraction=0.1, n_max=500)
    assert result["n"] >= 40, result
    assert result["encoder_masked_mse"] < result["patch_interpolation_masked_mse"], result
    # and the embeddings carry the class (STAR / GALAXY / QSO from the headers): well above chance
    assert result["knn_embedding_class"] > 0.6, result

"""notebooks/02_encoder.ipynb runs end to end on the tiny profile (synthetic survey -> pretrain -> embed)."""
from __future__ import annotations

import os

import pytest


@pytest.mark.slow
def test_encoder_notebook_executes(tmp_path, monkeypatch, run_notebook):
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_SPECTRA", "400")
    monkeypatch.setenv("SKYSIFT_NB_STEPS", "30")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = run_notebook("02_encoder.ipynb", timeout_s=900)
    text = run.text
    assert "champion version" in text and "kNN K=3 accuracy on class" in text
    images = run.images
    assert len(images) >= 2  # training curves and the embedding projection

"""notebooks/03_target_search.ipynb runs end to end on small data (synthetic survey -> KB -> search -> evaluation)."""
from __future__ import annotations

import pytest


@pytest.mark.slow
def test_target_search_notebook_executes(tmp_path, monkeypatch, run_notebook):
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_SPECTRA", "500")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run = run_notebook("03_target_search.ipynb", timeout_s=900)
    text = run.text
    assert "pairwise L2: mean" in text and "macro-F1 on agn3 (mean of 5 splits, every method on the same split): KB vote" in text
    work = tmp_path / "work"
    assert (work / "evaluation" / "report.html").exists()
    assert (work / "predictions" / "_table.json").exists()
    images = run.images
    assert len(images) >= 6  # diagnostics, neighbours, confusion, sweeps, baselines, timing

"""notebooks/04_crossmatch.ipynb runs end to end on small catalogs (crossmatch, sky plot, lsdb, dedupe)."""
from __future__ import annotations

import pytest


@pytest.mark.slow
def test_crossmatch_notebook_executes(tmp_path, monkeypatch, run_notebook):
    pytest.importorskip("lsdb")
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_ROWS", "4000")
    run = run_notebook("04_crossmatch.ipynb")
    text = run.text
    compared = next(line for line in text.splitlines() if line.startswith("same matches as astropy:"))
    assert compared == "same matches as astropy: True", text[text.index(compared):][:600]
    assert "lsdb sees" in text and "sources; n_merged counts" in text
    images = run.images
    assert len(images) >= 1  # the sky plot

"""notebooks/02_encoder.ipynb runs end to end on the tiny profile (synthetic survey -> pretrain -> embed)."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_encoder.ipynb"


@pytest.mark.slow
def test_encoder_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_SPECTRA", "400")
    monkeypatch.setenv("SKYSIFT_NB_STEPS", "30")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    assert "champion version" in text and "kNN K=3 accuracy on class" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # training curves and the embedding projection

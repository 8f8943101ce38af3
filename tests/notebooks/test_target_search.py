"""notebooks/03_target_search.ipynb runs end to end on small data (synthetic survey -> KB -> search -> evaluation)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_target_search.ipynb"


@pytest.mark.slow
def test_target_search_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_SPECTRA", "500")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    assert "pairwise L2: mean" in text and "macro-F1 on agn3 (mean of 5 splits, every method on the same split): KB vote" in text
    work = tmp_path / "work"
    assert (work / "evaluation" / "report.html").exists()
    assert (work / "predictions" / "_table.json").exists()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # diagnostics, neighbours, confusion, sweeps, baselines, timing

"""notebooks/04_crossmatch.ipynb runs end to end on small catalogs (crossmatch, sky plot, lsdb, dedupe)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_crossmatch.ipynb"


@pytest.mark.slow
def test_crossmatch_notebook_executes(tmp_path, monkeypatch):
    pytest.importorskip("lsdb")
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_ROWS", "4000")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    compared = next(line for line in text.splitlines() if line.startswith("same matches as astropy:"))
    assert compared == "same matches as astropy: True", text[text.index(compared):][:600]
    assert "lsdb sees" in text and "sources; n_merged counts" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 1  # the sky plot

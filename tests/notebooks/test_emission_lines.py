"""notebooks/09_emission_lines.ipynb runs end to end on a small synthetic pool (sequential twins, no JVM)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "09_emission_lines.ipynb"


@pytest.mark.slow
def test_emission_lines_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_SPECTRA", "400")
    monkeypatch.setenv("SKYSIFT_NB_TEMPLATES", "250")
    monkeypatch.setenv("SKYSIFT_NB_SPARK", "0")  # the jobs' sequential twins: same tasks, no JVM
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    assert "balanced: True" in text
    m = re.search(r"z_cl = ([0-9.]+) from (\d+) lines; true z = ([0-9.]+); \|dz\| < 0.001: True", text)
    assert m and int(m.group(2)) >= 3, text
    assert "(same: True)" in text  # the notebook's step-by-step z_cl is the job's
    assert re.search(r"\|z_cl - z_rt\| = [0-9.]+; agrees: True", text)
    bpt = re.search(r"BPT class = truth for ([0-9.]+) of the detectable galaxies", text)
    assert bpt and float(bpt.group(1)) >= 0.8
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # flow chart, continuum / residual, template overlay, BPT

"""notebooks/09_emission_lines.ipynb runs end to end on a small synthetic pool (sequential twins, no JVM)."""
from __future__ import annotations

import re

import pytest


@pytest.mark.slow
def test_emission_lines_notebook_executes(tmp_path, monkeypatch, run_notebook):
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_SPECTRA", "400")
    monkeypatch.setenv("SKYSIFT_NB_TEMPLATES", "250")
    monkeypatch.setenv("SKYSIFT_NB_SPARK", "0")  # the jobs' sequential twins: same tasks, no JVM
    run = run_notebook("09_emission_lines.ipynb", timeout_s=900)
    text = run.text
    assert "balanced: True" in text
    m = re.search(r"z_cl = ([0-9.]+) from (\d+) lines; true z = ([0-9.]+); \|dz\| < 0.001: True", text)
    assert m and int(m.group(2)) >= 3, text
    assert "(same: True)" in text  # the notebook's step-by-step z_cl is the job's
    assert re.search(r"\|z_cl - z_rt\| = [0-9.]+; agrees: True", text)
    bpt = re.search(r"BPT class = truth for ([0-9.]+) of the detectable galaxies", text)
    assert bpt and float(bpt.group(1)) >= 0.8
    images = run.images
    assert len(images) >= 4  # flow chart, continuum / residual, template overlay, BPT

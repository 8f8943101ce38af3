"""notebooks/06_detection.ipynb runs end to end on small synthetic data (labels, pasting, tiny models, detect-sources,
the cross-match checked against astropy)."""
from __future__ import annotations

import re

import pytest


@pytest.mark.slow  # renders 2 + 3 small fields and trains two tiny models: ~1 min of CPU, minutes when loaded
def test_detection_notebook_executes(tmp_path, monkeypatch, run_notebook):
    pytest.importorskip("ultralytics")
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_EPOCHS", "1")
    monkeypatch.setenv("SKYSIFT_NB_SPARK", "0")  # detect-sources' sequential twin: same kernels, no JVM
    run = run_notebook("06_detection.ipynb", timeout_s=1200)
    text = run.text
    assert "'read': 12, 'written': 12, 'rejected': 0" in text  # 2 fields x (3 x 2) tiles of 320 px on 400 x 640 frames
    assert "sources balanced: True" in text
    m = re.search(r"labelled boxes on tile \S+ : (\d+)", text)
    assert m and int(m.group(1)) > 0
    m = re.search(r"pixels changed by pasting: (\d+) of (\d+)", text)
    assert m and 0 < int(m.group(1)) < int(m.group(2))
    assert "match equals astropy: True" in text
    images = run.images
    assert len(images) >= 4  # labels, pasting, detections by class, the cross-match

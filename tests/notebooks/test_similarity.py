"""notebooks/08_similarity.ipynb runs end to end on small data (stamps, training, index, queries, contact sheets,
position query, rejects, quality report)."""
from __future__ import annotations

import re

import pytest


@pytest.mark.slow
def test_similarity_notebook_executes(tmp_path, monkeypatch, run_notebook):
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_STAMPS", "96")
    monkeypatch.setenv("SKYSIFT_NB_EPOCHS", "3")
    monkeypatch.setenv("SKYSIFT_NB_SPARK", "0")  # the jobs' sequential twins: same tasks, no JVM
    run = run_notebook("08_similarity.ipynb")
    text = run.text
    assert "embedded 96 of 96; index of 96 images" in text
    m = re.search(r"recall@10 faiss vs exhaustive: ([0-9.]+)", text)
    assert m and float(m.group(1)) >= 0.9
    # the turned and the mirrored copies find their originals (query_symmetries=dihedral)
    m = re.search(r"top-1 of the turned query: (stamp-\d+) \(original (stamp-\d+)\); "
                  r"of the mirrored query: (stamp-\d+) \(original (stamp-\d+)\)", text)
    assert m and m.group(1) == m.group(2) and m.group(3) == m.group(4), text
    assert "refused: position (120.0, 5.0) is outside every field" in text
    assert "bad.npy {'read': 3, 'written': 2, 'rejected': 1}" in text and "non-finite" in text
    assert "two_bands.npy {'read': 1, 'written': 0, 'rejected': 1}" in text and "needs g, r, z" in text
    assert "precision@10 trained / untrained / pca:" in text
    images = run.images
    assert len(images) >= 8  # stamps, curves, 5 query sheets, the position sheet

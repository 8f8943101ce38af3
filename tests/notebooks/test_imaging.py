"""notebooks/05_imaging.ipynb runs end to end on the real field (ingest, registration check, tiles, cutouts)."""
from __future__ import annotations

import re

import pytest


def _floats(pattern: str, text: str) -> list[float]:
    return [float(v) for v in re.findall(pattern, text)]


@pytest.mark.slow
def test_imaging_notebook_executes(shared_data, tmp_path, monkeypatch, run_notebook):
    if not (shared_data / "sdss-imaging" / "frame-r-002583-2-0136.fits.bz2").exists():
        pytest.skip("real g/r/i field not present")
    monkeypatch.setenv("SKYSIFT_NB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SKYSIFT_NB_CUTOUTS", "60")
    monkeypatch.setenv("SKYSIFT_NB_SPARK", "0")  # the jobs' sequential twins: same tasks, no JVM
    run = run_notebook("05_imaging.ipynb")
    text = run.text
    assert "'read': 3, 'written': 3, 'rejected': 0, 'fields': 1, 'tiles': 12" in text
    # before registration the g stars sit ~11 px from r (the WCS offset), after it <= 0.1 px (issue 14)
    before = _floats(r"before: [gi] - r over \d+ stars: .* median \|offset\| ([0-9.]+) px", text)
    after = _floats(r"after: [gi] - r over \d+ stars: .* median \|offset\| ([0-9.]+) px", text)
    assert len(before) == 2 and len(after) == 2, text
    assert before[0] > 5.0 and before[1] > 1.0
    assert max(after) <= 0.1
    assert "tiles: 12 (4 x 3), cover every pixel: True" in text
    m = re.search(r"cutouts: (\d+) written, (\d+) rejected of (\d+); balanced: True", text)
    assert m and int(m.group(3)) == 60 and int(m.group(1)) == 60
    assert "cutout equals Cutout2D: True" in text
    images = run.images
    assert len(images) >= 4  # the field, the offsets, the tiles, the cutouts

"""notebooks/07_sfr.ipynb runs end to end on a small synthetic set (one seed, few epochs): the comparison table
of every model, the fusion-vs-single-modality lines, the figures and the feature ablation."""
from __future__ import annotations

import re

import pytest


@pytest.mark.slow
def test_sfr_notebook_executes(monkeypatch, run_notebook):
    monkeypatch.setenv("SKYSIFT_NB_OBJECTS", "300")
    monkeypatch.setenv("SKYSIFT_NB_SEEDS", "0")
    monkeypatch.setenv("SKYSIFT_NB_EPOCHS", "6")
    run = run_notebook("07_sfr.ipynb")
    text = run.text
    m = re.search(r"(\d+) objects, (\d+) with FLAG = 0", text)
    assert m and int(m.group(1)) == 300 and 200 < int(m.group(2)) < 300, text
    for model in ("early_fusion", "intermediate_fusion", "late_fusion", "image_cnn_combined", "image_cnn_per_band",
                  "spectrum_mlp", "decision_tree", "gradient_boosting"):
        assert re.search(rf"^{model}\s+-?[0-9.]+", text, re.M), model  # a row of the metrics table
    lines = re.findall(r"(\w+_fusion): R2 (-?[0-9.]+) vs best image-only (-?[0-9.]+) and spectrum-only (-?[0-9.]+): "
                       r"beats both: (True|False)", text)
    assert [x[0] for x in lines] == ["early_fusion", "intermediate_fusion", "late_fusion"]
    for _, r2, img, spec, beats in lines:  # the printed verdict is the comparison of the printed numbers
        if r2 not in (img, spec):  # (3 printed decimals can tie)
            assert (beats == "True") == (float(r2) > float(img) and float(r2) > float(spec))
    assert "champion (lowest validation MSE" in text
    assert len(re.findall(r"early fusion test R2 -?[0-9.]+ \(spectrum MLP", text)) == 4
    images = run.images
    assert len(images) >= 3

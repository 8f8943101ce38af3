"""The image-search benchmark at a tiny size: the case dispatch, its printed line, recall of the faiss path."""
from __future__ import annotations

import torch

from skysift.config import load_config
from skysift.cli import load_job


def test_image_search_case_tiny(tmp_path, capsys):
    torch.set_num_threads(1)
    job = load_job("benchmark")
    cfg = load_config(job.CONFIG, None, ["case=image-search", "n_rows=2000", "n_queries=40", "n_patches=16",
                                         "feature_dim=64", "record=", f"workdir={tmp_path}"])
    result = job.run(None, cfg)
    line = capsys.readouterr().out
    assert "image-search: ours=" in line and "recall_at_10=" in line
    assert result["n_index"] == 2000 and result["exhaustive_queries"] == 20 and 1 <= len(result["sweep"]) <= 4
    # tried in order until recall 0.95: only the last one reaches it
    assert all(r["recall"] < 0.95 for r in result["sweep"][:-1]) and result["candidates"] == result["sweep"][-1]["candidates"]
    assert result["recall_at_10"] >= 0.95
    # the exhaustive scan costs O(N) a query, the re-ranking O(candidates): already faster at 2,000 images
    assert result["ratio"] > 1.0

"""The image-embed benchmark at a tiny size, in-process: its printed line, and both sides give the same vectors."""
from __future__ import annotations

import torch

from skysift.cli import load_job
from skysift.config import load_config


def test_image_embed_case_tiny(tmp_path, capsys, monkeypatch):
    import skysift.bench.image_embed_bench as bench

    torch.set_num_threads(1)
    monkeypatch.setattr(bench, "DRAWN", 16)  # drawing is the slow part (~0.1 s a stamp)
    job = load_job("benchmark")
    cfg = load_config(job.CONFIG, None, ["case=image-embed", "n_rows=96", "record=", f"workdir={tmp_path}"])
    result = job.run(None, cfg)
    assert "image-embed: ours=" in capsys.readouterr().out
    assert result["n_images"] == 96 and result["ours_images_s"] > 0 and result["baseline_images_s"] > 0
    assert result["max_abs_diff_vs_loop"] < 1e-5

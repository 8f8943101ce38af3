"""Retrieval quality of the tiny encoder trained on synthetic Galaxy10-like stamps (labels used for evaluation
only; report.image_quality): rotation / flip invariance of the combined-score search, precision@k of
same-class neighbours against a raw-pixel PCA baseline and the untrained network, the paper's two metrics.

Invariance (issue 17: a query turned or mirrored finds its original as top-1 for >= 90 % of queries):

- the search with ``query_symmetries=dihedral`` (search-images) is invariant to the 8 symmetries of the
  square by construction (the query's own inverse symmetry is among its 8 versions): 1.0, asserted >= 0.90
  here through the same scoring, and through the job itself in tests/stages/search_images;
- what the network learned, the query as given: 0.79 mean top-1 over the 5 symmetries with the author's
  1-D position table and 15 epochs (quarter turns 0.69-0.70); measured over 9 trainings (400 stamps,
  seeds 0 / 1): 40 epochs 0.81-0.87 (later epochs do not lower the validation loss: 80 epochs kept the
  same epoch-37 checkpoint), and the quarter turns stayed at 0.69-0.79 while rot180 / mirrors reached
  0.85-0.95, also with exact quarter turns in the training pool: the row-major 1-D position code makes a
  quarter turn, which swaps patch-row and patch-column neighbours (index steps 1 and 8), harder than a
  mirror. The tiny profile's 2-D table made them equal (0.85 / 0.88) and the mean 0.85-0.89. Held-out
  images (not in the 320 trained on) score lower (0.63 vs 0.84 for rot90, 1-D table). With 50 % positive
  pairs this run gave a mean of 0.888 (seed 1: 0.848), and 16 further trainings (BENCHMARKS.md, issue 17) did
  not lift it robustly: 800 stamps 0.892; exact quarter turns in the pool 0.866; 2 transforms + added stars
  0.900 on seed 0 but 0.822 on seed 1; 3 transforms, a negative margin, zoom / brightness: 0.76-0.87. 80 %
  positive pairs (the tiny config's positive_fraction) did: this run 0.946 (rot90 0.92, rot180 / rot270 /
  hflip 0.95, vflip 0.96; held-out queries 0.953), seed 1 0.884 (from 0.848), seed 2 0.832 (from 0.838);
  90 % gave 0.830. The same seeded run gave 0.89 (every symmetry >= 0.85) on session 9's Intel VM: the figure
  depends on the CPU's rounding as much as on the seed. The central-source mask (the tiny config's
  model.input_mask, images.central_source: Friberg's "object-recognition crop") took it, on session 14's AMD VM,
  from 0.914 to 0.962 (every symmetry >= 0.95; seeds 1 / 2: 0.920 / 0.886, 3-seed mean 0.923; on 800 held-out
  stamps of another survey 0.847 -> 0.911 for seed 0). The learned floor is 0.85 (every symmetry >= 0.80), below
  every masked run measured; the issue's >= 0.90 is asserted on the dihedral search.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from skysift.config import load_config
from skysift.models.image_vit import GalaxyVit, ImageVitConfig
from skysift.report.image_quality import quality_report, report_markdown
from skysift.runtime.output import read_table
from skysift.stages.train_image_encoder import job as train
from skysift.stages.train_image_encoder.tasks import load_images
from skysift.testing.images import small_stamps

N, K = 400, 10


@pytest.mark.slow
def test_invariance_and_precision_at_k(tmp_path):
    torch.set_num_threads(1)
    stamps, truth = small_stamps(N)
    cfg = load_config(train.CONFIG, "conf/train_image_encoder_tiny.yaml",
                      [f"input={stamps}", f"output={tmp_path}", "mlflow.enabled=false"])
    summary = train.run(None, cfg)
    ckpt = torch.load(tmp_path / "best.pt", weights_only=False)
    trained = GalaxyVit(ImageVitConfig(**ckpt["model_config"]))
    trained.load_state_dict(ckpt["model_state"])
    torch.manual_seed(0)
    untrained = GalaxyVit(ImageVitConfig(**ckpt["model_config"]))
    ids, images, _ = load_images(stamps, 64, "grz", 16, mask=trained.cfg.input_mask)
    labels = read_table(truth).to_pandas().set_index("stamp_id").loc[ids.astype(int), "label"].to_numpy()
    report = quality_report(trained, untrained, images, labels, k=K, train_summary=summary, angles=("rot30",),
                            expanded=("rot90", "hflip", "rot30"), expanded_queries=25)
    print(json.dumps(report, indent=1))
    print(report_markdown(report))
    tr, un = report["trained"]["invariance"], report["untrained"]["invariance"]
    # the search with query_symmetries=dihedral: exact for quarter turns and mirrors
    assert min(tr["top1_dihedral"][t] for t in ("rot90", "hflip")) >= 0.90
    # what the network learned (the query as given), and it is training that makes it so. The floor is the
    # spread measured over seeds and machines minus a margin, not the 0.90 (which the dihedral search
    # above meets): with the central-source mask seed 0 gave 0.962 (min 0.95) on session 14's AMD EPYC VM, seeds
    # 1 / 2 0.920 / 0.886; without it the same seed gave 0.914 there, 0.946 on session 8's AMD VM and 0.89 on
    # session 9's Intel Xeon VM (the CPU's kernels round differently and training follows another path)
    assert tr["mean_symmetries"] >= 0.85 and tr["min_symmetries"] >= 0.80
    # untrained: 0.198 here (rot180 0.50: a masked galaxy is often nearly symmetric under a half turn), 0.09 unmasked
    assert un["mean_symmetries"] <= 0.35 and tr["mean_symmetries"] - un["mean_symmetries"] >= 0.5
    # arbitrary angles (bilinear, corners zero) stay hard: 0.67 as given (unmasked 0.57; 1-D table: 0.5-0.63); the 8
    # symmetries give nothing reliable there (0.40 against 0.44 as given on the same 25 queries here, 0.75
    # against 0.69 in the demo with 50 % positives: 8 versions also give a wrong image 8 chances): reported,
    # not asserted
    assert tr["top1"]["rot30"] >= 0.35 and "rot30" in tr["top1_as_given_same_queries"]
    # same-class precision@10: all above chance (0.114); measured (100 queries, masked) trained 0.168 (pooled-vector
    # cosine 0.169), untrained 0.199 (0.158), PCA of the masked pixels 0.236 (unmasked: 0.166 / 0.201 / 0.220).
    # Not fixed by any of 16 further trainings (BENCHMARKS.md, issue 17: transforms, negative margin, 800
    # stamps, epochs; trained 0.182-0.201 on all 400 queries against untrained 0.218-0.221), nor by 10x the
    # stamps (4,000: 0.178 on a held-out set, as at 400) nor the mask (held-out: 0.183-0.189 against untrained
    # 0.273): instance discrimination pushes look-alike images apart, and the round smooth
    # class, the one that raw pixels cluster (PCA 0.69, untrained 0.51), drops to 0.25, while the edge-on
    # classes gain (0.11-0.16 -> 0.24-0.26); Friberg's "mixed" results most of the time (note section 8)
    chance = report["chance_precision"]
    for name in ("trained", "untrained", "pca"):
        assert report[name][f"precision_at_{K}"] > chance
    for name in ("trained", "untrained"):
        assert report[name][f"precision_at_{K}_pooled"] > chance
    assert summary["max_loose_accuracy"] >= 0.8  # chance 1/8

"""Retrieval quality of the tiny encoder trained briefly on synthetic Galaxy10-like stamps (labels used for
evaluation only): rotation / flip invariance of the combined-score search, precision@k of same-class
neighbours against a raw-pixel PCA baseline and the untrained network, the paper's two metrics."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from skysift.config import load_config
from skysift.metrics.retrieval import euclidean_similarity, pca_vectors, precision_at_k, top_k
from skysift.models.image_similarity import similarity_matrix
from skysift.models.image_vit import GalaxyVit, ImageVitConfig
from skysift.runtime.output import read_table
from skysift.stages.train_image_encoder import job as train
from skysift.stages.train_image_encoder.tasks import load_images
from skysift.testing.images import small_stamps

N, K = 400, 10
TRANSFORMS = {"rot90": lambda t: torch.rot90(t, 1, (-2, -1)), "rot180": lambda t: torch.rot90(t, 2, (-2, -1)),
              "rot270": lambda t: torch.rot90(t, 3, (-2, -1)), "hflip": lambda t: t.flip(-1),
              "vflip": lambda t: t.flip(-2)}


def _features(model, x):
    with torch.no_grad():
        return torch.cat([model(x[i:i + 64]) for i in range(0, len(x), 64)])


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
    ids, images, _ = load_images(stamps, 64, "grz", 16)
    labels = read_table(truth).to_pandas().set_index("stamp_id").loc[ids.astype(int), "label"].to_numpy()
    x = torch.from_numpy(images).float() / 255
    queries = np.arange(0, N, 4)
    report = {"paper": {"min_val_loss": 0.076, "max_loose_accuracy": 0.93},
              "ours": {k: summary[k] for k in ("best_val_loss", "best_loose_accuracy", "max_loose_accuracy",
                                               "loose_accuracy_batch_size", "test_loose_accuracy", "epochs_run")}}
    for name, model in (("trained", trained.eval()), ("untrained", untrained.eval())):
        feats = _features(model, x)
        top1 = {t: float((similarity_matrix(_features(model, f(x[queries])), feats).numpy().argmax(1) == queries).mean())
                for t, f in TRANSFORMS.items()}
        sims = similarity_matrix(feats[queries], feats).numpy()
        sims[np.arange(len(queries)), queries] = -np.inf  # leave the query out
        report[name] = {"top1_original": top1, "top1_mean": float(np.mean(list(top1.values()))),
                        f"precision_at_{K}": precision_at_k(labels[top_k(sims, K)], labels[queries])}
    pca = pca_vectors(images.astype(np.float32) / 255, 32)
    sims = euclidean_similarity(pca[queries], pca)
    sims[np.arange(len(queries)), queries] = -np.inf
    freq = np.bincount(labels, minlength=10) / len(labels)
    report["pca32"] = {f"precision_at_{K}": precision_at_k(labels[top_k(sims, K)], labels[queries])}
    report["chance_precision"] = float(freq @ freq)
    print(json.dumps(report, indent=1))
    # what holds robustly (measured over several seeds and schedules, see the report of issue 17):
    tr, un = report["trained"], report["untrained"]
    assert tr["top1_mean"] >= 0.7 and min(tr["top1_original"].values()) >= 0.55
    assert un["top1_mean"] <= 0.2  # the untrained network is not invariant: training is what makes it so
    for name in ("trained", "untrained", "pca32"):
        assert report[name][f"precision_at_{K}"] > report["chance_precision"]

"""Retrieval quality of an image encoder on labelled images (labels are used for evaluation only, never in
training): rotation / flip invariance of the combined-score search, precision@k of same-class neighbours
against a raw-pixel PCA baseline and an untrained network, next to the paper's two numeric metrics.

Every score here is Friberg's combined similarity on the patch features, computed exhaustively
(``models.image_similarity.similarity_matrix``), i.e. what `search-images --set mode=exhaustive` returns.

- *Invariance*: each query image, turned or mirrored, searches the collection it comes from; a hit when
  its untransformed original ranks first. ``transforms`` are the 5 exact symmetries of the square used
  in the issue's test (quarter turns, mirrors) and bilinear rotations by 30 and 45 deg (corners zero);
  ``expanded`` lists transforms also scored with `search-images`' ``query_symmetries=dihedral`` (the
  query under the 8 symmetries of the square, best score per image: exact for the 5 symmetries by
  construction; for arbitrary angles it can lower the hit rate: 8 versions give a wrong image 8 chances).
- *precision@k*: the fraction of a query's k nearest other images sharing its class (leave-one-out), by
  the combined score and by the cosine of the pooled vectors (faiss's candidates). Baselines: PCA of the raw
  network-input pixels (Euclidean; under the encoder's input_mask, so both read the same pixels), the same
  architecture untrained (seeded).
  Chance is sum_c f_c^2 over the class fractions.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import torch

PAPER = {"min_val_loss": 0.076, "max_loose_accuracy": 0.93, "loose_accuracy_batch_size": 8}
"""Friberg's printed figures (note section 9; the batch size is the author's code's)."""


def _rotate(angle_deg: float) -> Callable[[torch.Tensor], torch.Tensor]:
    import torchvision.transforms.v2.functional as TF

    return lambda t: TF.rotate(t, angle_deg, interpolation=TF.InterpolationMode.BILINEAR)


SYMMETRIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "rot90": lambda t: torch.rot90(t, 1, (-2, -1)), "rot180": lambda t: torch.rot90(t, 2, (-2, -1)),
    "rot270": lambda t: torch.rot90(t, 3, (-2, -1)), "hflip": lambda t: t.flip(-1), "vflip": lambda t: t.flip(-2)}
"""The exact quarter turns and mirrors of the issue's invariance test."""
ANGLES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"rot30": _rotate(30.0), "rot45": _rotate(45.0)}
"""Arbitrary-angle rotations (bilinear, corners zero: the author's RandomRotation)."""


@torch.no_grad()
def patch_features(model, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """(n, P, F) patch features of (n, 3, S, S) images in [0, 1]."""
    model.eval()
    return torch.cat([model(images[i:i + batch]).float() for i in range(0, len(images), batch)])


def _dihedral_best(model, queries: torch.Tensor, database: torch.Tensor) -> np.ndarray:
    """(Q, N): each query's best combined similarity over its 8 symmetries (query_symmetries=dihedral)."""
    from skysift.images.symmetry import dihedral_stack
    from skysift.models.image_similarity import similarity_matrix

    stack = torch.from_numpy(dihedral_stack(queries.numpy()))  # (Q, 8, 3, S, S)
    feats = patch_features(model, stack.reshape(-1, *stack.shape[2:]))
    sims = similarity_matrix(feats, database).numpy().reshape(len(queries), 8, -1)
    return sims.max(axis=1)


def invariance(model, images: torch.Tensor, queries: np.ndarray, transforms: dict, features=None,
               expanded: tuple[str, ...] = (), expanded_queries: int = 0) -> dict[str, Any]:
    """{'top1': {name: hit rate}, 'top1_dihedral': {name: hit rate for ``expanded``}, 'mean_symmetries',
    'min_symmetries'} of ``queries`` (row indices of ``images``) under ``transforms`` searching ``images``;
    the expanded scores use the first ``expanded_queries`` queries (0 = all), and
    'top1_as_given_same_queries' is the plain hit rate on those same queries."""
    from skysift.models.image_similarity import similarity_matrix

    db = patch_features(model, images) if features is None else features
    out: dict[str, Any] = {"top1": {}, "top1_dihedral": {}, "n_queries": int(len(queries)),
                           "n_database": int(len(images))}
    for name, fn in transforms.items():
        turned = fn(images[queries])
        sims = similarity_matrix(patch_features(model, turned), db).numpy()
        out["top1"][name] = round(float((sims.argmax(1) == queries).mean()), 4)
        if name in expanded:
            q = queries[:expanded_queries] if expanded_queries else queries
            best = _dihedral_best(model, turned[:len(q)], db)
            out["top1_dihedral"][name] = round(float((best.argmax(1) == q).mean()), 4)
            out.setdefault("top1_as_given_same_queries", {})[name] = round(float((sims[:len(q)].argmax(1) == q).mean()), 4)
            out["n_queries_dihedral"] = int(len(q))
    sym = [v for k, v in out["top1"].items() if k in SYMMETRIES]
    if sym:
        out["mean_symmetries"] = round(float(np.mean(sym)), 4)
        out["min_symmetries"] = round(float(np.min(sym)), 4)
    return out


def precision(model, images: torch.Tensor, labels: np.ndarray, queries: np.ndarray, k: int, features=None,
              score: str = "combined") -> float:
    """precision@k of same-class neighbours, each query left out of its own results, by ``score``:
    'combined' (Friberg's combined similarity of the patch features: what the search ranks by) or 'pooled'
    (the cosine of the mean-pooled, L2-normalised vectors: what the faiss index holds)."""
    from skysift.metrics.retrieval import precision_at_k, top_k
    from skysift.models.image_similarity import similarity_matrix
    from skysift.models.image_vit import pooled_vector

    db = patch_features(model, images) if features is None else features
    if score == "pooled":
        vecs = pooled_vector(db)
        sims = (vecs[queries] @ vecs.T).numpy().astype(np.float64)
    elif score == "combined":
        sims = similarity_matrix(db[queries], db).numpy()
    else:
        raise ValueError(f"score must be 'combined' or 'pooled', got {score!r}")
    sims[np.arange(len(queries)), queries] = -np.inf
    return round(precision_at_k(labels[top_k(sims, k)], labels[queries]), 4)


def pca_precision(images: np.ndarray, labels: np.ndarray, queries: np.ndarray, k: int, n_components: int = 32) -> float:
    """precision@k of the raw-pixel PCA baseline (Euclidean on ``n_components`` components), leave-one-out."""
    from skysift.metrics.retrieval import euclidean_similarity, pca_vectors, precision_at_k, top_k

    vecs = pca_vectors(np.asarray(images, np.float32).reshape(len(images), -1), n_components)
    sims = euclidean_similarity(vecs[queries], vecs)
    sims[np.arange(len(queries)), queries] = -np.inf
    return round(precision_at_k(labels[top_k(sims, k)], labels[queries]), 4)


def quality_report(trained, untrained, images: np.ndarray, labels: np.ndarray, k: int = 10, query_step: int = 4,
                   train_summary: dict | None = None, angles: tuple[str, ...] = ("rot30", "rot45"),
                   expanded: tuple[str, ...] = (),
                   expanded_queries: int = 0, pca_components: int = 32) -> dict[str, Any]:
    """The whole report for (n, 3, S, S) network-input ``images`` (uint8 0-255 or floats in [0, 1]) with
    class ``labels``: queries are every ``query_step``-th image; ``angles`` names ANGLES rotations to add."""
    x = torch.from_numpy(np.asarray(images)).float()
    if np.asarray(images).dtype == np.uint8:
        x = x / 255.0
    labels = np.asarray(labels)
    queries = np.arange(0, len(x), query_step)
    transforms = {**SYMMETRIES, **{a: ANGLES[a] for a in angles}}
    freq = np.bincount(labels) / len(labels)
    report: dict[str, Any] = {"paper": PAPER, "k": k, "n_images": int(len(x)), "n_queries": int(len(queries)),
                              "chance_precision": round(float(freq @ freq), 4)}
    if train_summary:
        report["ours"] = {key: train_summary.get(key) for key in (
            "best_val_loss", "best_loose_accuracy", "max_loose_accuracy", "loose_accuracy_batch_size",
            "test_loose_accuracy", "test_loss", "epochs_run", "best_epoch", "n_train")}
    for name, model in (("trained", trained), ("untrained", untrained)):
        feats = patch_features(model, x)
        report[name] = {
            "invariance": invariance(model, x, queries, transforms if name == "trained" else SYMMETRIES, feats,
                                     expanded if name == "trained" else (), expanded_queries),
            f"precision_at_{k}": precision(model, x, labels, queries, k, feats),
            f"precision_at_{k}_pooled": precision(model, x, labels, queries, k, feats, score="pooled")}
    report["pca"] = {"components": pca_components,
                     f"precision_at_{k}": pca_precision(x.numpy(), labels, queries, k, pca_components)}
    return report


def report_markdown(report: dict[str, Any]) -> str:
    """The report as a short Markdown page (the demo's and the notebook's)."""
    k = report["k"]
    tr, un = report["trained"], report["untrained"]
    lines = [f"# Image similarity: retrieval quality ({report['n_images']} images, {report['n_queries']} queries)", ""]
    if "ours" in report:
        o, p = report["ours"], report["paper"]
        lines += ["| metric | ours | paper (Friberg) |", "|---|---|---|",
                  f"| minimum validation loss | {o['best_val_loss']:.3f} | {p['min_val_loss']} |",
                  f"| max loose accuracy (batch {o['loose_accuracy_batch_size']}, chance "
                  f"{1 / o['loose_accuracy_batch_size']:.3f}) | {o['max_loose_accuracy']:.3f} | "
                  f"~{p['max_loose_accuracy']} (batch {p['loose_accuracy_batch_size']}) |", ""]
    lines += [f"| precision@{k} (same class) | value |", "|---|---|",
              f"| trained encoder, combined score | {tr[f'precision_at_{k}']:.3f} |",
              f"| trained encoder, pooled-vector cosine | {tr[f'precision_at_{k}_pooled']:.3f} |",
              f"| untrained encoder, combined score | {un[f'precision_at_{k}']:.3f} |",
              f"| untrained encoder, pooled-vector cosine | {un[f'precision_at_{k}_pooled']:.3f} |",
              f"| raw-pixel PCA ({report['pca']['components']} comp.) | {report['pca'][f'precision_at_{k}']:.3f} |",
              f"| chance | {report['chance_precision']:.3f} |", "",
              "| query transform | top-1 = original (trained) | with query_symmetries=dihedral | untrained |",
              "|---|---|---|---|"]
    for name, v in tr["invariance"]["top1"].items():
        d = tr["invariance"]["top1_dihedral"].get(name)
        u = un["invariance"]["top1"].get(name)
        lines.append(f"| {name} | {v:.3f} | {'' if d is None else f'{d:.3f}'} | {'' if u is None else f'{u:.3f}'} |")
    return "\n".join(lines) + "\n"


def write_report(folder, report: dict[str, Any]) -> tuple[str, str]:
    """Write report.json and report.md under ``folder``; returns their paths."""
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(report_markdown(report))
    return str(out / "report.json"), str(out / "report.md")

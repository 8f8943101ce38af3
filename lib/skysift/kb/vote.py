"""Numpy kernels of KB search: merging per-shard top-K lists and the weighted neighbour vote.

Vote (Tang et al. 2025, GalSpecEncoder-KB): for the K nearest KB entries at
Euclidean distances d_i, weights w_i = exp(-d_i) are normalised with a softmax,
p_i = exp(w_i) / sum_j exp(w_j); the score of a class is the sum of the p_i of the
neighbours carrying it, and the prediction is the class with the highest score.
Ties go to the class of the nearest neighbour among the tied classes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

MISSING = -1  # faiss's id for "no neighbour" (fewer entries than K)


def merge_topk(
    distances: list[np.ndarray], ids: list[np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-shard top-K lists (each (n, k_s), ascending) into the global top-``k``.

    ``ids`` are global ids (int64); missing neighbours (id -1) sort last. Equal
    distances are ordered by id so the result does not depend on shard order.
    Returns (distances (n, k), ids (n, k)); slots without a neighbour hold (inf, -1).
    """
    d = np.concatenate([np.asarray(x, dtype=np.float32) for x in distances], axis=1)
    i = np.concatenate([np.asarray(x, dtype=np.int64) for x in ids], axis=1)
    d = np.where(i == MISSING, np.inf, d).astype(np.float32)
    if d.shape[1] < k:
        pad = k - d.shape[1]
        d = np.pad(d, ((0, 0), (0, pad)), constant_values=np.inf)
        i = np.pad(i, ((0, 0), (0, pad)), constant_values=MISSING)
    # lexsort: last key is primary -> distance first, then id for ties
    tie_id = np.where(i == MISSING, np.iinfo(np.int64).max, i)
    order = np.lexsort((tie_id, d), axis=1)[:, :k]
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)


def softmax_weights(distances: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """p_i = softmax(exp(-d_i)) over each row's valid neighbours (0 for invalid slots)."""
    d = np.asarray(distances, dtype=np.float64)
    valid = np.isfinite(d) if valid is None else (valid & np.isfinite(d))
    w = np.exp(-np.where(valid, d, 0.0))
    # w is in (0, 1], so exp(w) cannot overflow; no max-subtraction needed
    e = np.where(valid, np.exp(w), 0.0)
    total = e.sum(axis=1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def vote(
    distances: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted K-neighbour vote.

    distances: (n, K) Euclidean distances, ascending per row; labels: (n, K) label
    strings; valid: (n, K) bool, False for empty slots.
    Returns (predicted label (n,) object, its score (n,) float64, the class names (C,),
    class scores (n, C)). Rows without any valid neighbour get label None, score NaN.
    """
    d = np.asarray(distances, dtype=np.float64)
    labels = np.asarray(labels, dtype=object)
    n, k = d.shape
    valid = np.isfinite(d) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(d))
    valid = valid & pd.notna(labels)
    p = softmax_weights(d, valid)
    classes, inverse = np.unique(labels[valid].astype(str), return_inverse=True)
    rows, cols = np.nonzero(valid)
    scores = np.zeros((n, len(classes)))
    np.add.at(scores, (rows, inverse), p[rows, cols])
    # nearest rank at which each class appears (k = absent), for tie-breaking
    first_rank = np.full((n, len(classes)), k, dtype=np.int64)
    np.minimum.at(first_rank, (rows, inverse), cols)
    empty = ~valid.any(axis=1)
    if len(classes) == 0:
        return np.full(n, None, dtype=object), np.full(n, np.nan), classes, scores
    best = scores.max(axis=1, keepdims=True)
    tied = np.isclose(scores, best, rtol=0, atol=1e-12)
    pick = np.argmin(np.where(tied, first_rank, k + 1), axis=1)
    label = classes[pick].astype(object)
    score = scores[np.arange(n), pick]
    label[empty] = None
    score = np.where(empty, np.nan, score)
    return label, score, classes, scores

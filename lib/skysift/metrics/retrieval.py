"""Retrieval metrics: top-k from a similarity matrix, precision@k of same-class neighbours, recall@k of an
approximate search against an exact one, and the raw-pixel PCA baseline (scikit-learn)."""
from __future__ import annotations

import numpy as np


def top_k(similarity: np.ndarray, k: int, exclude_self: bool = False) -> np.ndarray:
    """(Q, k) column indices of the k largest values per row, best first (ties: lower index first);
    ``exclude_self`` drops column i from row i (leave-one-out over a square matrix)."""
    s = np.array(similarity, dtype=np.float64, copy=True)
    if exclude_self:
        np.fill_diagonal(s, -np.inf)
    k = min(k, s.shape[1] - int(exclude_self))
    order = np.lexsort((np.broadcast_to(np.arange(s.shape[1]), s.shape), -s), axis=1)
    return order[:, :k]


def precision_at_k(neighbour_labels: np.ndarray, query_labels: np.ndarray) -> float:
    """Mean over queries of the fraction of their k neighbours that share the query's label."""
    nl = np.asarray(neighbour_labels)
    ql = np.asarray(query_labels)
    return float((nl == ql[:, None]).mean()) if nl.size else float("nan")


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found_i ∩ truth_i| / |truth_i| (ids; -1 or None in ``found`` never match)."""
    hits = [len(set(f) & set(t)) / max(1, len(t)) for f, t in zip(np.asarray(found).tolist(), np.asarray(truth).tolist())]
    return float(np.mean(hits)) if hits else float("nan")


def pca_vectors(pixels: np.ndarray, n_components: int, seed: int = 0) -> np.ndarray:
    """Raw-pixel baseline: PCA of the flattened images to ``n_components`` (whitening off)."""
    from sklearn.decomposition import PCA

    x = np.asarray(pixels, dtype=np.float32).reshape(len(pixels), -1)
    n = min(n_components, x.shape[0] - 1, x.shape[1])
    return PCA(n_components=n, random_state=seed).fit_transform(x)


def euclidean_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) negative Euclidean distances (a similarity for ``top_k``)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return -np.sqrt(np.maximum(d2, 0.0))

"""Retrieval metrics against hand-computed cases."""
from __future__ import annotations

import numpy as np

from skysift.metrics.retrieval import euclidean_similarity, pca_vectors, precision_at_k, recall_at_k, top_k


def test_top_k_order_ties_and_self():
    s = np.array([[5.0, 1.0, 3.0, 3.0], [0.0, 9.0, 2.0, 1.0]])
    assert top_k(s, 3).tolist() == [[0, 2, 3], [1, 2, 3]]
    sq = np.array([[9.0, 1.0, 2.0], [3.0, 9.0, 1.0], [1.0, 2.0, 9.0]])
    assert top_k(sq, 2, exclude_self=True).tolist() == [[2, 1], [0, 2], [1, 0]]


def test_precision_and_recall():
    assert precision_at_k(np.array([[1, 1, 2], [3, 3, 3]]), np.array([1, 0])) == (2 / 3 + 0) / 2
    assert recall_at_k([[1, 2, 3], [4, 5, -1]], [[3, 2, 9], [4, 6, 7]]) == (2 / 3 + 1 / 3) / 2


def test_euclidean_similarity_and_pca():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    ref = -np.linalg.norm(a[:, None] - b[None], axis=2)
    assert np.allclose(euclidean_similarity(a, b), ref)
    x = rng.normal(size=(20, 3, 4, 4))
    assert pca_vectors(x, 5).shape == (20, 5)

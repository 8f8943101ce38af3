"""In-memory KB (one faiss index, no Spark) for evaluation sweeps: same factory, same vote as search-kb."""
from __future__ import annotations

import numpy as np

from skysift.kb.faiss_index import IndexSpec, apply_search_params, new_index, train_index
from skysift.kb.vote import MISSING, vote


def build_local_index(kb_x: np.ndarray, spec: IndexSpec = IndexSpec(), k: int = 3):
    """A trained, filled faiss index over ``kb_x`` (n, d) with search parameters for ``k``."""
    x = np.ascontiguousarray(kb_x, dtype=np.float32)
    index = new_index(spec, x.shape[1], len(x))
    train_index(index, x)
    index.add(x)
    return apply_search_params(index, spec, k)


def knn(index, q_x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(Euclidean distances, ids) of the ``k`` nearest entries; missing slots (inf, -1)."""
    d2, ids = index.search(np.ascontiguousarray(q_x, dtype=np.float32), k)
    dist = np.where(ids == MISSING, np.inf, np.sqrt(np.maximum(d2, 0.0)))
    return dist, ids


def knn_vote(kb_x, kb_y, q_x, k: int = 3, spec: IndexSpec = IndexSpec(), index=None):
    """Predicted labels and scores of ``q_x`` by the K-neighbour e^-d softmax vote over (kb_x, kb_y)."""
    index = index if index is not None else build_local_index(kb_x, spec, k)
    dist, ids = knn(index, q_x, k)
    labels = np.asarray(kb_y, dtype=object)[np.where(ids == MISSING, 0, ids)]
    label, score, _, _ = vote(dist, labels, ids != MISSING)
    return label, score

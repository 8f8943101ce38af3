"""The PQ validity experiment on arrays (no Spark): top-1 neighbour class of every galaxy query."""
from __future__ import annotations

import numpy as np

from skysift.kb.pq import encode, search, train_codebook


def top1_is_galaxy(db: np.ndarray, db_is_galaxy: np.ndarray, queries: np.ndarray, n_segments: int, k: int,
                   metric: str, seed: int, n_iter: int) -> np.ndarray:
    """(q,) bool: the PQ top-1 of each query in ``db`` (codebook trained on ``db``) is a galaxy."""
    import faiss

    faiss.omp_set_num_threads(1)  # measured 10x faster than 2 threads on the busy 2-core machine
    codebook = train_codebook(db, n_segments, k, seed=seed, n_iter=n_iter)
    _, idx = search(codebook, encode(codebook, db), queries, k=1, metric=metric)
    return db_is_galaxy[idx[:, 0]]


def validity_rows(vectors: np.ndarray, is_galaxy: np.ndarray, n_segments: int, k_values, metric: str, folds: int,
                  seed: int, n_iter: int, normalisation: str) -> list[dict]:
    """Rows (normalisation, k, query, share, n_queries) for both query variants (note A6):

    * ``inside``: the database holds every spectrum; the galaxies are the queries (a query may find itself);
    * ``outside``: the galaxies are split into ``folds``; each fold is queried against the stars plus the
      other folds (codebooks trained without it).
    """
    gal = np.flatnonzero(is_galaxy)
    fold = np.arange(len(gal)) % folds
    rows = []
    for k in k_values:
        inside = top1_is_galaxy(vectors, is_galaxy, vectors[gal], n_segments, k, metric, seed, n_iter)
        hits = []
        for f in range(folds):
            keep = np.ones(len(vectors), bool)
            keep[gal[fold == f]] = False
            hits.append(top1_is_galaxy(vectors[keep], is_galaxy[keep], vectors[gal[fold == f]], n_segments, k, metric,
                                       seed, n_iter))
        outside = np.concatenate(hits)
        for name, hit in (("inside", inside), ("outside", outside)):
            rows.append({"normalisation": normalisation, "k": int(k), "query": name,
                         "share_top1_galaxy": float(hit.mean()), "n_queries": int(hit.size)})
    return rows

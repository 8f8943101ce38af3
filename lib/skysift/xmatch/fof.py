"""Friends-of-friends grouping of positions on the driver: spectra of one source merged into unique sources.

The links are the cross-match engine's self-match (``xmatch.frames.crossmatch_frames``, mode all, pairs with
left id < right id), the groups the connected components of the links (scipy), as ``skysift dedupe`` does on
Spark. ``link_groups`` is the one connected-components rule both use; ``fof_group_labels`` is the small
driver-side form for jobs whose tables fit the driver.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.sky.healpix import neighbour_order, valid_position
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID, MatchSpec, crossmatch_frames


def link_groups(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, group) of every id that appears in the links (a[i], b[i]): group = the smallest id of its
    connected component (friends of friends)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ids, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    graph = coo_matrix((np.ones(a.size, np.int8), (inv[: a.size], inv[a.size:])), shape=(ids.size, ids.size))
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(smallest, comp, ids)
    return ids, smallest[comp]


def fof_group_labels(ra_deg: np.ndarray, dec_deg: np.ndarray, radius_arcsec: float) -> np.ndarray:
    """(n,) int64 group label per position: the smallest row index of its friends-of-friends group (rows with
    an invalid position are groups of their own)."""
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    n = ra.size
    labels = np.arange(n, dtype=np.int64)
    ok = np.flatnonzero(valid_position(ra, dec))
    if ok.size < 2:
        return labels
    frame = pd.DataFrame({"ra_deg": ra[ok], "dec_deg": dec[ok]})
    spec = MatchSpec(order=neighbour_order(radius_arcsec), radius_arcsec=radius_arcsec, mode="all",
                     left_columns=("ra_deg",), right_columns=("ra_deg",), keep_ids=True, pairs_only_upper=True)
    ids = np.arange(ok.size, dtype=np.int64)
    pairs = crossmatch_frames(frame.assign(**{LEFT_ID: ids}), frame.assign(**{RIGHT_ID: ids}), spec)
    if pairs.empty:
        return labels
    linked, group = link_groups(pairs[LEFT_ID].to_numpy(np.int64), pairs[RIGHT_ID].to_numpy(np.int64))
    labels[ok[linked]] = ok[group]  # ok is increasing: the smallest local id is the smallest row index
    return labels

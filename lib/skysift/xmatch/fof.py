"""Friends-of-friends grouping of positions on the driver: spectra of one source merged into unique sources.

The links are the cross-match engine's self-match (``xmatch.frames.crossmatch_frames``, mode all, pairs with
left id < right id), the groups the connected components of the links (scipy), as ``skysift dedupe`` does on
Spark (its ``stages.dedupe.tasks.fof_labels`` is the same rule; a stage cannot import another stage, so the
small driver-side twin lives here, in the engine package, for jobs whose tables fit the driver).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.sky.healpix import neighbour_order, valid_position
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID, MatchSpec, crossmatch_frames


def fof_group_labels(ra_deg: np.ndarray, dec_deg: np.ndarray, radius_arcsec: float) -> np.ndarray:
    """(n,) int64 group label per position: the smallest row index of its friends-of-friends group (rows with
    an invalid position are groups of their own)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

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
    a = pairs[LEFT_ID].to_numpy(np.int64)
    b = pairs[RIGHT_ID].to_numpy(np.int64)
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(ok.size, ok.size))
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(smallest, comp, ok)
    labels[ok] = smallest[comp]
    return labels

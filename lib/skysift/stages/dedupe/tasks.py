"""Friends-of-friends grouping of `skysift dedupe` (numpy / scipy, no Spark): group labels from links, and
the sequential twin of the whole job on a pandas frame."""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.sky.healpix import neighbour_order
from skysift.xmatch.fof import link_groups
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID, MatchSpec

N_MERGED = "n_merged"
GROUP_ID = "_fof"


def fof_labels(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """Friends-of-friends groups from links (a[i], b[i]): rows (_lid, _fof) with _fof = smallest id in the group."""
    ids, group = link_groups(a, b)
    return pd.DataFrame({LEFT_ID: ids, GROUP_ID: group})


def dedupe_frame(df: pd.DataFrame, radius_arcsec: float, ra: str = "ra_deg", dec: str = "dec_deg",
                 score: str | None = None) -> pd.DataFrame:
    """Sequential twin on valid rows: one row per friends-of-friends group, with ``n_merged``."""
    from skysift.xmatch.frames import crossmatch_frames

    df = df.reset_index(drop=True)
    ids = np.arange(len(df), dtype=np.int64)
    spec = MatchSpec(order=neighbour_order(radius_arcsec), radius_arcsec=radius_arcsec, mode="all",
                     left_ra=ra, left_dec=dec, right_ra=ra, right_dec=dec, left_columns=(ra,), right_columns=(ra,),
                     keep_ids=True, pairs_only_upper=True)
    pairs = crossmatch_frames(df[[ra, dec]].assign(_lid=ids), df[[ra, dec]].assign(_rid=ids), spec)
    labels = fof_labels(pairs[LEFT_ID].to_numpy(np.int64), pairs[RIGHT_ID].to_numpy(np.int64))
    group = ids.copy()
    group[labels[LEFT_ID].to_numpy()] = labels[GROUP_ID].to_numpy()
    key = -df[score].to_numpy(np.float64) if score else np.zeros(len(df))
    key = np.where(np.isnan(key), np.inf, key)
    order = np.lexsort((ids, key, group))
    first = np.ones(order.size, bool)
    first[1:] = group[order][1:] != group[order][:-1]
    keep = order[first]
    sizes = np.bincount(group, minlength=len(df))
    return df.iloc[keep].assign(**{N_MERGED: sizes[group[keep]].astype(np.int32)}).sort_index().reset_index(drop=True)

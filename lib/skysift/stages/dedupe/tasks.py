"""The sequential twin of `skysift dedupe` (pandas, no Spark): one row per friends-of-friends group.

The grouping and the best-row rule are ``xmatch.self_match``'s, shared with the Spark job and detect-sources.
"""
from __future__ import annotations

import pandas as pd

from skysift.xmatch.self_match import N_MERGED, fof_best_frame

__all__ = ["N_MERGED", "dedupe_order", "dedupe_frame"]


def dedupe_order(score: str | None) -> list[tuple[str, bool]]:
    """The best-row order of a group: highest ``score`` first (nulls last); ties (or no score) keep the first row read."""
    return [(score, False)] if score else []


def dedupe_frame(df: pd.DataFrame, radius_arcsec: float, ra: str = "ra_deg", dec: str = "dec_deg",
                 score: str | None = None) -> pd.DataFrame:
    """Sequential twin on valid rows: one row per friends-of-friends group, with ``n_merged``."""
    return fof_best_frame(df, radius_arcsec, dedupe_order(score), ra=ra, dec=dec)

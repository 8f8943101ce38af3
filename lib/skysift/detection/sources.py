"""From raw tile detections to catalog rows (pandas / numpy, no Spark): the per-frame merge, ids, classes, the
per-frame WCS check.

* ``merge_field``: one frame's whole (non-partial) detections -> the survivors of NMS + the 2-pixel rule
  (``merge.merge_frame``, O(n log n) on a grid), each with its ``source_id`` FIELD-sNNNNN by (y_px, x_px) rank, so
  Spark and the sequential twin give the same ids;
* ``with_class``: ``class`` = the most probable of p_galaxy, p_star, p_qso;
* ``wcs_offsets``: per frame, the median offset (detection - catalog) of the matched sources and the share matched;
  a frame whose WCS disagrees with the catalog shows a systematic offset, or (beyond the match radius) almost no
  match at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from skysift.config import require
from skysift.detection.merge import MergeConfig, merge_frame
from skysift.schema.detection import CLASS_NAMES

__all__ = ["MERGED_COLUMNS", "WcsCheckConfig", "merge_field", "with_class", "wcs_offsets", "flag_fields"]

MERGED_COLUMNS = ["source_id", "ra_deg", "dec_deg", "field_id", "tile_id", "tile_index", "x_min", "y_min", "x_max",
                  "y_max", "x_px", "y_px", "det_score", "p_galaxy", "p_star", "p_qso"]
"""Columns of a merged detection (the catalog columns before class, n_merged and the catalog match)."""


def merge_field(pdf: pd.DataFrame, cfg: MergeConfig | None = None) -> pd.DataFrame:
    """The detections of ONE field that survive the merge, sorted by (y_px, x_px), with ``source_id``."""
    if pdf.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object if c in ("source_id", "field_id", "tile_id") else float)
                             for c in MERGED_COLUMNS})
    pdf = pdf.sort_values(["tile_id", "y_px", "x_px", "det_score"], kind="mergesort").reset_index(drop=True)
    boxes = pdf[["x_min", "y_min", "x_max", "y_max"]].to_numpy(np.float64)
    keep = merge_frame(boxes, pdf["det_score"].to_numpy(np.float64), cfg)
    out = pdf.iloc[keep].sort_values(["y_px", "x_px"], kind="mergesort").reset_index(drop=True)
    field = str(out["field_id"].iloc[0])
    out.insert(0, "source_id", [f"{field}-s{k:05d}" for k in range(len(out))])
    return out[MERGED_COLUMNS]


def with_class(pdf: pd.DataFrame) -> pd.DataFrame:
    """``pdf`` with ``class`` (galaxy / star / qso) from the largest of p_galaxy, p_star, p_qso (ties: that order)."""
    p = pdf[["p_galaxy", "p_star", "p_qso"]].to_numpy(np.float64)
    cls = np.asarray(CLASS_NAMES, dtype=object)[np.argmax(p, axis=1)] if len(pdf) else np.empty(0, dtype=object)
    return pdf.assign(**{"class": cls})


@dataclass(frozen=True)
class WcsCheckConfig:
    """When a frame's WCS is flagged as disagreeing with the photometric catalog."""

    max_offset_arcsec: float = 0.5
    """Flag a frame whose median (detection - catalog) offset of matches exceeds this (skysift choice: the paper's
    0.5 arcsec same-source scale; SDSS astrometry is good to ~0.1 arcsec)."""
    min_matched_fraction: float = 0.3
    """Also flag a frame where fewer than this share of its sources match (a WCS off by more than the match radius
    matches almost nothing; skysift choice)."""
    min_sources: int = 10
    """Frames with fewer sources are not judged (too few to tell)."""

    def __post_init__(self):
        require(self.max_offset_arcsec > 0, f"wcs_check.max_offset_arcsec must be > 0, got {self.max_offset_arcsec}")
        require(0.0 <= self.min_matched_fraction <= 1.0, f"wcs_check.min_matched_fraction must be in [0, 1], got {self.min_matched_fraction}")
        require(self.min_sources >= 1, f"wcs_check.min_sources must be >= 1, got {self.min_sources}")


def wcs_offsets(field_id: Any, ra_deg: np.ndarray, dec_deg: np.ndarray, cat_ra_deg: np.ndarray,
                cat_dec_deg: np.ndarray) -> pd.DataFrame:
    """Per field: sources, matched, median east / north offset (arcsec) of the matched (detection - catalog) and its size.

    Unmatched rows carry NaN catalog positions. The offset is the median of each component (robust to the odd
    wrong match), east = dRA cos(dec).
    """
    df = pd.DataFrame({"field_id": np.asarray(field_id, dtype=object), "ra": ra_deg, "dec": dec_deg,
                       "cra": cat_ra_deg, "cdec": cat_dec_deg})
    dra = ((df["ra"] - df["cra"] + 180.0) % 360.0 - 180.0) * np.cos(np.radians(df["dec"])) * 3600.0
    df = df.assign(east=dra, north=(df["dec"] - df["cdec"]) * 3600.0, matched=df["cra"].notna())
    g = df.groupby("field_id", sort=True)
    out = pd.DataFrame({"sources": g.size(), "matched": g["matched"].sum(),
                        "median_east_arcsec": g["east"].median(), "median_north_arcsec": g["north"].median()})
    out["median_offset_arcsec"] = np.hypot(out["median_east_arcsec"], out["median_north_arcsec"])
    return out.reset_index()


def flag_fields(offsets: pd.DataFrame, cfg: WcsCheckConfig | None = None) -> pd.DataFrame:
    """``offsets`` (wcs_offsets) with ``flagged`` and ``why`` per field."""
    cfg = cfg or WcsCheckConfig()
    frac = offsets["matched"] / offsets["sources"].clip(lower=1)
    judged = offsets["sources"] >= cfg.min_sources
    far = judged & (offsets["median_offset_arcsec"] > cfg.max_offset_arcsec)
    few = judged & (frac < cfg.min_matched_fraction)
    why = np.where(far, "median offset " + offsets["median_offset_arcsec"].round(3).astype(str) + " arcsec > "
                   + str(cfg.max_offset_arcsec), np.where(few, "only " + (100 * frac).round(1).astype(str)
                                                          + " % of sources matched", ""))
    return offsets.assign(matched_fraction=frac, flagged=far | few, why=why)

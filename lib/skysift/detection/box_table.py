"""Measure the magnitude -> box-side table on frames with a catalog (how labels.MagnitudeBoxConfig's defaults were chosen).

For each frame: the r band's 2-sigma segments (pasting.source_segments), the segment under each catalogued
source, kept when no other catalogued source shares it (isolated); per magnitude bin, the median side of the
segments' bounding squares (labels.box_table_from_footprints). The defaults add 4 px (the mask dilation).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from skysift.detection import labels, pasting

__all__ = ["footprints", "measure_box_table"]


def footprints(image_r: np.ndarray, wcs_r: Any, catalog: Mapping[str, Any],
               cfg: pasting.PastingConfig | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label magnitude, footprint side px, isolated) per catalog row of one frame."""
    seg, _ = pasting.source_segments(image_r, cfg)
    x, y = wcs_r.all_world2pix(np.asarray(catalog["ra"], dtype=float), np.asarray(catalog["dec"], dtype=float), 0)
    side, isolated = pasting.footprint_sides(seg, np.asarray(x), np.asarray(y))
    return labels.label_magnitude(catalog), side, isolated


def measure_box_table(frames: Iterable[tuple[np.ndarray, Any, Mapping[str, Any]]], mag_edges: tuple[float, ...],
                      margin_px: float = 4.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median footprint side, count, proposed box side = ceil(median + margin_px)) per bin over (image_r, wcs_r, catalog) frames."""
    mags, sides = [], []
    for image_r, wcs_r, catalog in frames:
        m, s, iso = footprints(image_r, wcs_r, catalog)
        mags.append(m[iso])
        sides.append(s[iso])
    med, count = labels.box_table_from_footprints(np.concatenate(mags), np.concatenate(sides), mag_edges)
    return med, count, np.ceil(med + margin_px)

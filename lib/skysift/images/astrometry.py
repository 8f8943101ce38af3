"""Registration checks: bright isolated stars, their first-moment centroids per band, offsets between bands.

Used by notebooks/05_imaging.ipynb to show the bands before registration (each frame's own pixel grid:
stars of g sit ~11 px from r on field 2583-2-136) and after (registered onto r: <= 0.1 px), and by
tests as an independent check of ``images.registration``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bright_isolated_stars", "moment_centroids", "matched_offsets"]


def bright_isolated_stars(image: np.ndarray, *, threshold_sigma: float = 10.0, isolation_px: float = 15.0,
                          edge_px: int = 20, peak_range: tuple[float, float] = (5.0, 150.0)) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) 0-based pixel positions of bright, unsaturated, isolated compact sources (sep extraction).

    Kept: unflagged detections above ``threshold_sigma`` x the global sky rms, no other detection within
    ``isolation_px`` (15 px = 6 arcsec at SDSS's scale), ``edge_px`` from every side, and a peak within
    ``peak_range`` (image units; SDSS nanomaggies: well above the ~0.03 nMgy noise, below saturation).
    """
    import sep
    from scipy.spatial import cKDTree

    img = np.ascontiguousarray(np.nan_to_num(np.asarray(image, dtype=np.float32)))
    bkg = sep.Background(img)
    objs = sep.extract(img - bkg.back(), threshold_sigma, err=bkg.globalrms, minarea=5)
    x, y = objs["x"], objs["y"]
    if len(x) < 2:
        return x[:0], y[:0]
    dist, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    ny, nx = img.shape
    keep = ((objs["flag"] == 0) & (dist[:, 1] > isolation_px)
            & (x > edge_px) & (x < nx - edge_px) & (y > edge_px) & (y < ny - edge_px)
            & (objs["peak"] > peak_range[0]) & (objs["peak"] < peak_range[1]))
    return x[keep], y[keep]


def moment_centroids(stack: np.ndarray, x: np.ndarray, y: np.ndarray, half_px: int = 4) -> np.ndarray:
    """(n, bands, 2) first-moment (x, y) centroids of each band in a (2 half + 1)^2 box around each (x, y);
    negative pixels count 0; NaN where the box leaves the image or holds a non-finite pixel."""
    stack = np.asarray(stack)
    stack = stack[None] if stack.ndim == 2 else stack
    nb, ny, nx = stack.shape
    out = np.full((len(x), nb, 2), np.nan)
    offs = np.arange(-half_px, half_px + 1)
    for n, (xc, yc) in enumerate(zip(x, y)):
        xi, yi = int(round(float(xc))), int(round(float(yc)))
        if xi - half_px < 0 or yi - half_px < 0 or xi + half_px >= nx or yi + half_px >= ny:
            continue
        box = stack[:, yi - half_px: yi + half_px + 1, xi - half_px: xi + half_px + 1].astype(np.float64)
        w = np.clip(box, 0, None)
        total = w.sum(axis=(1, 2))
        ok = np.isfinite(box).all(axis=(1, 2)) & (total > 0)
        cx = xi + (w.sum(axis=1) * offs).sum(axis=1) / np.where(ok, total, 1)
        cy = yi + (w.sum(axis=2) * offs).sum(axis=1) / np.where(ok, total, 1)
        out[n, ok, 0], out[n, ok, 1] = cx[ok], cy[ok]
    return out


def matched_offsets(x_ref: np.ndarray, y_ref: np.ndarray, x: np.ndarray, y: np.ndarray, max_px: float = 20.0) -> np.ndarray:
    """(m, 2) (dx, dy) from each reference position to its nearest (x, y) within ``max_px`` (unmatched dropped)."""
    from scipy.spatial import cKDTree

    if len(x) == 0 or len(x_ref) == 0:
        return np.zeros((0, 2))
    dist, j = cKDTree(np.column_stack([x, y])).query(np.column_stack([x_ref, y_ref]), k=1)
    ok = dist <= max_px
    return np.column_stack([np.asarray(x)[j[ok]] - np.asarray(x_ref)[ok], np.asarray(y)[j[ok]] - np.asarray(y_ref)[ok]])

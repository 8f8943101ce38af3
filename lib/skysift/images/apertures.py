"""Circular-aperture photometry of centred cutouts (numpy only): the flux within given radii of the cutout centre.

A pixel counts with the fraction of its area inside the circle: exact along y (the chord length of the
circle in the pixel's row), a mean over ``supersample`` columns per pixel along x (64 by default: within
0.2 % of photutils' exact overlap down to a 0.6 px radius, checked in tests/images/test_apertures.py). The centre is the cutout's centre,
((S - 1) / 2, (S - 1) / 2) in pixel coordinates, where make-cutouts puts the object.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def _weights(size_px: int, radii_px: tuple[float, ...], supersample: int) -> np.ndarray:
    c = (size_px - 1) / 2.0
    x = (np.arange(size_px * supersample) + 0.5) / supersample - 0.5  # sample columns, pixel i spans [i - 0.5, i + 0.5]
    lo = np.arange(size_px)[:, None] - 0.5  # row j spans [j - 0.5, j + 0.5]
    out = []
    for r in radii_px:
        h = np.sqrt(np.clip(r * r - (x - c) ** 2, 0.0, None))  # the circle's half-height above column x
        overlap = np.clip(np.minimum(lo + 1.0, c + h) - np.maximum(lo, c - h), 0.0, 1.0)  # (rows, samples), exact in y
        out.append(overlap.reshape(size_px, size_px, supersample).mean(axis=2))
    w = np.stack(out)
    w.setflags(write=False)
    return w


def aperture_weights(size_px: int, radii_px, supersample: int = 64) -> np.ndarray:
    """(R, S, S) fraction of each pixel of an S x S cutout inside each circle of radius radii_px[r] (pixels)."""
    radii = tuple(float(r) for r in np.atleast_1d(radii_px))
    if size_px < 1 or supersample < 1 or any(r <= 0 for r in radii):
        raise ValueError(f"need size_px >= 1, supersample >= 1 and radii > 0, got {size_px}, {supersample}, {radii}")
    return _weights(int(size_px), radii, int(supersample))


def aperture_fluxes(pixels: np.ndarray, radii_px, supersample: int = 64) -> np.ndarray:
    """(..., R) flux within each radius of the centre of (..., S, S) cutouts (non-finite pixels count as 0)."""
    px = np.asarray(pixels, dtype=np.float64)
    finite = np.isfinite(px)
    if not finite.all():  # one pass where every pixel is finite (nan_to_num makes three and copies: 0.27 s per 12,500 16 px cutouts)
        px = np.where(finite, px, 0.0)
    if px.shape[-1] != px.shape[-2]:
        raise ValueError(f"cutouts must be square, got {px.shape[-2:]}")
    w = aperture_weights(px.shape[-1], radii_px, supersample)
    return np.einsum("...ij,rij->...r", px, w)

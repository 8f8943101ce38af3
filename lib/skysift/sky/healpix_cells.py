"""HEALPix (nested, cdshealpix) cells: order-29 indices, coarser cells, the order safe for a radius.

Nested indices nest by bit shifts: the order-k cell of an order-29 index ``h`` is
``h >> 2*(29-k)``, and every order-k cell is a contiguous range of order-29
indices. Cross-match buckets are therefore plain ranges of ``healpix29``.
"""
from __future__ import annotations

import numpy as np
import cdshealpix.nested as cds

from skysift.healpix import healpix_index

MAX_ORDER = 29
N_BASE = 12

# Smallest distance between two order-k cells that share no edge or vertex,
# measured over the whole sphere (orders 2-5, boundaries sampled 16 per edge)
# as a fraction of the mean cell side sqrt(4 pi / (12 * 4^k)): 0.712, 0.698,
# 0.689, 0.683 (decreasing slowly toward ~0.67). A cone of radius r around a
# point of cell D stays inside D and its 8 (or 7) neighbours when r is below
# that distance; we use 0.5 for a 25 % margin.
SAFE_WIDTH_FACTOR = 0.5
_MEAN_SIDE_ORDER0_ARCSEC = float(np.sqrt(4.0 * np.pi / N_BASE) * 180.0 / np.pi * 3600.0)


def mean_side_arcsec(order: int) -> float:
    """Mean side of an order-``order`` cell in arcsec (square root of its area)."""
    return _MEAN_SIDE_ORDER0_ARCSEC / (1 << order)


def safe_radius_arcsec(order: int) -> float:
    """Largest radius whose cone around any point stays inside its cell and that cell's neighbours."""
    return SAFE_WIDTH_FACTOR * mean_side_arcsec(order)


def neighbour_order(radius_arcsec: float) -> int:
    """Deepest order whose cells with their neighbours contain every cone of ``radius_arcsec``."""
    if not np.isfinite(radius_arcsec) or radius_arcsec <= 0:
        raise ValueError(f"radius must be a positive number of arcsec, got {radius_arcsec!r}")
    if radius_arcsec > safe_radius_arcsec(0):
        raise ValueError(
            f"radius {radius_arcsec} arcsec exceeds the largest supported radius "
            f"{safe_radius_arcsec(0):.0f} arcsec ({safe_radius_arcsec(0) / 3600:.1f} deg)"
        )
    order = int(np.floor(np.log2(SAFE_WIDTH_FACTOR * _MEAN_SIDE_ORDER0_ARCSEC / radius_arcsec)))
    return int(min(MAX_ORDER, max(0, order)))


def healpix29(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """Nested order-29 HEALPix index (int64) of valid ICRS positions in degrees."""
    return healpix_index(ra_deg, dec_deg, MAX_ORDER)


def cells(h29: np.ndarray, order: int) -> np.ndarray:
    """The order-``order`` cell containing each order-29 index."""
    return np.asarray(h29, dtype=np.int64) >> (2 * (MAX_ORDER - order))


def cell_start29(cell: np.ndarray, order: int) -> np.ndarray:
    """First order-29 index inside each order-``order`` cell."""
    return np.asarray(cell, dtype=np.int64) << (2 * (MAX_ORDER - order))


def neighbourhood(cell: np.ndarray, order: int) -> np.ndarray:
    """(N, 9) int64: each cell and its 8 neighbours (-1 where a corner has only 7)."""
    cell = np.asarray(cell, dtype=np.int64)
    if cell.size == 0:
        return np.empty((0, 9), dtype=np.int64)
    return np.asarray(cds.neighbours(cell.astype(np.uint64), order, num_threads=1), dtype=np.int64)


def valid_coordinates(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """True where RA is in [0, 360] and Dec in [-90, 90] (NaN and inf are invalid)."""
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (ra >= 0.0) & (ra <= 360.0) & (dec >= -90.0) & (dec <= 90.0)

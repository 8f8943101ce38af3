"""HEALPix (nested scheme, as HATS uses; cdshealpix underneath): order-29 indices, coarser cells, the order
safe for a match radius, and the one rule for a valid sky position.

Nested indices nest by bit shifts: the order-k cell of an order-29 index ``h`` is ``h >> 2*(29-k)``, and every
order-k cell is a contiguous range of order-29 indices. Cross-match buckets are therefore plain ranges of
``healpix29``. Every job that reads positions (ingest, load-catalog, crossmatch, dedupe, HATS writers) uses
``valid_position``; the Spark form of the same rule is ``xmatch.catalogs.valid_condition``.
"""
from __future__ import annotations

import numpy as np

HATS_ORDER = 29
"""The order of the ``healpix29`` column (HATS' spatial index order)."""
MAX_ORDER = HATS_ORDER
N_BASE = 12


def healpix_index(ra_deg: np.ndarray, dec_deg: np.ndarray, order: int = HATS_ORDER) -> np.ndarray:
    """Nested HEALPix index at ``order`` (int64); positions must be finite with |dec| <= 90.

    One thread: this runs inside Spark tasks, which already use every core.
    """
    import astropy.units as u
    from cdshealpix.nested import lonlat_to_healpix

    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    if ra.size == 0:
        return np.zeros(0, np.int64)
    # cdshealpix wants RA in [0, 360): 360 is the same meridian as 0
    pix = lonlat_to_healpix(np.mod(ra, 360.0) * u.deg, dec * u.deg, order, num_threads=1)
    return np.asarray(pix, dtype=np.int64)


def degrade(index: np.ndarray, from_order: int, to_order: int) -> np.ndarray:
    """The parent pixel at a coarser order (nested indices drop 2 bits per order)."""
    if to_order > from_order:
        raise ValueError(f"cannot degrade from order {from_order} to finer order {to_order}")
    return np.asarray(index, dtype=np.int64) >> (2 * (from_order - to_order))


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
    import cdshealpix.nested as cds

    return np.asarray(cds.neighbours(cell.astype(np.uint64), order, num_threads=1), dtype=np.int64)


def valid_position(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """True where RA is in [0, 360] and Dec in [-90, 90] degrees (NaN and inf are invalid).

    RA outside [0, 360] is refused rather than wrapped: a catalog with RA in [-180, 180] or in hours must be
    converted by its owner, not silently moved.
    """
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (ra >= 0.0) & (ra <= 360.0) & (dec >= -90.0) & (dec <= 90.0)

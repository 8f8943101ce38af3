"""HEALPix indices of sky positions (nested scheme, as HATS uses)."""
from __future__ import annotations

import numpy as np

HATS_ORDER = 29
"""The order of the ``healpix29`` column (HATS' spatial index order)."""


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


def valid_position(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """True where RA is finite and Dec is finite and within [-90, 90] degrees."""
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    return np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0)

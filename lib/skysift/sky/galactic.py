"""ICRS <-> Galactic coordinates (astropy), vectorised over arrays of degrees."""
from __future__ import annotations

import numpy as np


def galactic_to_icrs(glon_deg: np.ndarray, glat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ICRS (ra, dec) degrees of Galactic (l, b) degrees."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(l=np.asarray(glon_deg, dtype=np.float64) * u.deg, b=np.asarray(glat_deg, dtype=np.float64) * u.deg,
                 frame="galactic").icrs
    return np.asarray(c.ra.deg), np.asarray(c.dec.deg)


def icrs_to_galactic(ra_deg: np.ndarray, dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Galactic (l, b) degrees of ICRS (ra, dec) degrees."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(ra=np.asarray(ra_deg, dtype=np.float64) * u.deg, dec=np.asarray(dec_deg, dtype=np.float64) * u.deg,
                 frame="icrs").galactic
    return np.asarray(c.l.deg), np.asarray(c.b.deg)

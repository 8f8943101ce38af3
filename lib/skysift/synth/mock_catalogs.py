"""Seeded synthetic catalogs for cross-match tests, notebooks and benchmarks (no truth beyond positions)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.sky.healpix import healpix29


def _offset(ra_deg, dec_deg, sep_arcsec, bearing_rad):
    """Positions ``sep_arcsec`` away from (ra, dec) along ``bearing`` (exact spherical formula)."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    d = np.radians(np.asarray(sep_arcsec) / 3600.0)
    dec2 = np.arcsin(np.sin(dec) * np.cos(d) + np.cos(dec) * np.sin(d) * np.cos(bearing_rad))
    ra2 = ra + np.arctan2(np.sin(bearing_rad) * np.sin(d) * np.cos(dec), np.cos(d) - np.sin(dec) * np.sin(dec2))
    return np.degrees(ra2) % 360.0, np.degrees(dec2)


def uniform_sphere(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    return ra, dec


def hard_sky(n: int, seed: int, radius_arcsec: float = 2.0) -> pd.DataFrame:
    """Positions that stress a cross-match: both poles, the RA 0/360 seam, dense clumps, plus uniform sky.

    Rows are spread so that many pairs lie within a few ``radius_arcsec`` of each other.
    """
    rng = np.random.default_rng(seed)
    parts = []
    k = max(n // 6, 1)
    parts.append(uniform_sphere(k, rng))
    for pole in (90.0, -90.0):  # discs of 30 arcsec around each pole
        r = 30.0 * np.sqrt(rng.uniform(0, 1, k))
        parts.append(_offset(np.zeros(k), np.full(k, pole), r, rng.uniform(0, 2 * np.pi, k)))
    # the RA seam: a 20-arcsec-wide strip around RA 0 at several declinations
    dec = rng.uniform(-80, 80, k)
    parts.append(((rng.uniform(-20, 20, k) / 3600.0 / np.cos(np.radians(dec))) % 360.0, dec))
    # two tight clumps (one on the equator near a base-cell corner, one at Dec 41.8 = polar/equatorial edge)
    clump_a = max((n - 4 * k) // 2, 1)
    clump_b = max(n - 4 * k - clump_a, 1)
    for centre, count in (((45.0, 0.0), clump_a), ((90.0, 41.8103149), clump_b)):
        r = 40.0 * np.sqrt(rng.uniform(0, 1, count))
        parts.append(_offset(np.full(count, centre[0]), np.full(count, centre[1]), r, rng.uniform(0, 2 * np.pi, count)))
    ra = np.concatenate([p[0] for p in parts])[:n]
    dec = np.concatenate([p[1] for p in parts])[:n]
    dec = np.clip(dec, -90.0, 90.0)
    return pd.DataFrame({"ra_deg": ra, "dec_deg": dec})


def neighbours_of(cat: pd.DataFrame, n: int, seed: int, max_sep_arcsec: float) -> pd.DataFrame:
    """``n`` positions each within ``max_sep_arcsec`` of a random row of ``cat``."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(cat), n)
    sep = max_sep_arcsec * np.sqrt(rng.uniform(0, 1, n))
    ra, dec = _offset(cat["ra_deg"].to_numpy()[pick], cat["dec_deg"].to_numpy()[pick], sep, rng.uniform(0, 2 * np.pi, n))
    return pd.DataFrame({"ra_deg": ra, "dec_deg": np.clip(dec, -90, 90)})


def benchmark_pair(
    n_left: int,
    n_right: int,
    seed: int = 0,
    field_deg: float = 10.0,
    centre_deg: tuple[float, float] = (180.0, 0.0),
    clump_fraction: float = 0.2,
    clump_radius_deg: float = 0.1,
    matched_fraction: float = 0.5,
    matched_within_arcsec: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cross-match benchmark's two catalogs: a field of field_deg x field_deg with a dense clump.

    ``matched_fraction`` of the right side lies within ``matched_within_arcsec`` of a left source,
    the rest is random in the field. Both carry ``id``, ``ra_deg``, ``dec_deg``, ``mag``, ``healpix29``.
    """
    rng = np.random.default_rng(seed)

    def field(n):
        n_clump = int(n * clump_fraction)
        half = np.radians(field_deg / 2.0)
        z = rng.uniform(np.sin(np.radians(centre_deg[1]) - half), np.sin(np.radians(centre_deg[1]) + half), n - n_clump)
        ra = centre_deg[0] + rng.uniform(-field_deg / 2, field_deg / 2, n - n_clump)
        dec = np.degrees(np.arcsin(z))
        r = clump_radius_deg * 3600.0 * np.sqrt(rng.uniform(0, 1, n_clump))
        cra, cdec = _offset(np.full(n_clump, centre_deg[0] + 1.0), np.full(n_clump, centre_deg[1] + 1.0), r, rng.uniform(0, 2 * np.pi, n_clump))
        return np.concatenate([ra % 360.0, cra]), np.concatenate([dec, cdec])

    lra, ldec = field(n_left)
    n_matched = int(n_right * matched_fraction)
    pick = rng.integers(0, n_left, n_matched)
    sep = matched_within_arcsec * np.sqrt(rng.uniform(0, 1, n_matched))
    mra, mdec = _offset(lra[pick], ldec[pick], sep, rng.uniform(0, 2 * np.pi, n_matched))
    rra, rdec = field(n_right - n_matched)
    rra, rdec = np.concatenate([mra, rra]), np.concatenate([mdec, rdec])
    perm = rng.permutation(n_right)
    rra, rdec = rra[perm], rdec[perm]

    def frame(ra, dec, prefix):
        return pd.DataFrame(
            {
                "id": np.arange(ra.size, dtype=np.int64),
                "ra_deg": ra,
                "dec_deg": dec,
                "mag": rng.uniform(14, 24, ra.size).astype(np.float32),
                "healpix29": healpix29(ra, dec),
            }
        )

    return frame(lra, ldec, "l"), frame(rra, rdec, "r")

"""Compiled nearest-match kernel (numba): the closest probe row of every build row within a fixed radius,
and how many probe rows lie within it, in one pass and without listing pairs.

Why: ``nearest`` with ``n_matches`` listed every pair (``pairs.tree_pairs``), then sorted them to keep the
closest. In a dense clump (≈ 60 neighbours inside 2 arcsec per row at 10M x 10M) that list has tens of
millions of entries and its sort dominated the cross-match (11.6 s for one 2M-row group). Here the probe
rows are hashed into a 3-D grid of unit-vector cells no smaller than the search chord, so every probe row
within the chord of a build row sits in one of the 27 cells around it; for each build row the kernel walks
those cells (9 contiguous key ranges), keeps a running count and the best (separation, key) pair. Memory
is O(rows); time O(rows log rows + candidate pairs) with a few nanoseconds per candidate.

The separation is the one ``pairs.angle_from_chord_arcsec`` computes, ``2 asin(chord / 2)`` (well
conditioned for chords below 1.4, i.e. radii far beyond any cross-match here); a pair counts when that
angle is <= the radius, and exact ties go to the smaller probe key, as in ``pairs.nearest_per_build``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from skysift.sky.separation import ARCSEC_PER_RAD, chord_for_radius

MAX_CELLS_PER_AXIS = 1 << 20
"""Cells along one axis of [-1, 1]: three coordinates (< 2^21 each with the neighbours' room) pack into
one int64 key without overflow."""
MAX_CHORD = 1.4
"""Above this chord ``2 asin(c / 2)`` loses precision; callers use the pair path instead."""


def grid_cell_size(chord: float) -> float:
    """Cell edge: the search chord with a margin wider than the chord test's (so float rounding of the
    cell index can never hide a candidate), never so small that the key overflows."""
    return max(float(chord) * (1.0 + 1e-6), 2.0 / MAX_CELLS_PER_AXIS)


@njit(cache=True, nogil=True)
def _cell_keys(xyz, cell, n_axis):
    n = xyz.shape[0]
    keys = np.empty(n, np.int64)
    for i in range(n):
        ix = np.int64((xyz[i, 0] + 1.0) / cell)
        iy = np.int64((xyz[i, 1] + 1.0) / cell)
        iz = np.int64((xyz[i, 2] + 1.0) / cell)
        keys[i] = (ix * n_axis + iy) * n_axis + iz
    return keys


@njit(cache=True, nogil=True)
def _nearest(build_xyz, probe_xyz, probe_key, cell, n_axis, chord2_max, radius_arcsec, arcsec_per_rad):
    n_build = build_xyz.shape[0]
    keys = _cell_keys(probe_xyz, cell, n_axis)
    order = np.argsort(keys, kind="mergesort")
    skeys = keys[order]
    px = probe_xyz[order, 0].copy()
    py = probe_xyz[order, 1].copy()
    pz = probe_xyz[order, 2].copy()
    best = np.full(n_build, -1, np.int64)
    best_sep = np.full(n_build, np.inf)
    count = np.zeros(n_build, np.int64)
    # build rows in cell order: neighbouring rows search the same key ranges, which stay in cache
    for i in np.argsort(_cell_keys(build_xyz, cell, n_axis)):
        x, y, z = build_xyz[i, 0], build_xyz[i, 1], build_xyz[i, 2]
        ix = np.int64((x + 1.0) / cell)
        iy = np.int64((y + 1.0) / cell)
        iz = np.int64((z + 1.0) / cell)
        b_sep = np.inf
        b_idx = -1
        b_key = 0
        c = 0
        for dx in range(-1, 2):
            for dy in range(-1, 2):
                base = ((ix + dx) * n_axis + (iy + dy)) * n_axis + iz
                lo = np.searchsorted(skeys, base - 1)
                hi = np.searchsorted(skeys, base + 1, side="right")
                for j in range(lo, hi):
                    ex = px[j] - x
                    ey = py[j] - y
                    ez = pz[j] - z
                    d2 = ex * ex + ey * ey + ez * ez
                    if d2 > chord2_max:
                        continue
                    sep = 2.0 * np.arcsin(min(0.5 * np.sqrt(d2), 1.0)) * arcsec_per_rad
                    if sep > radius_arcsec:
                        continue
                    c += 1
                    k = order[j]
                    if sep < b_sep or (sep == b_sep and probe_key[k] < b_key):
                        b_sep = sep
                        b_idx = k
                        b_key = probe_key[k]
        count[i] = c
        best[i] = b_idx
        best_sep[i] = b_sep
    return best, best_sep, count


def grid_nearest(probe_xyz: np.ndarray, radius_arcsec: float, build_xyz: np.ndarray,
                 probe_key: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(build index, probe index, separation arcsec) of every matched build row, and the number of probe
    rows within ``radius_arcsec`` of every build row (zeros included). Unit vectors in."""
    n_build = len(build_xyz)
    none = np.empty(0, np.int64)
    if n_build == 0 or len(probe_xyz) == 0:
        return none, none, np.empty(0, np.float64), np.zeros(n_build, np.int64)
    chord = float(chord_for_radius(radius_arcsec))
    if chord > MAX_CHORD:
        raise ValueError(f"grid_nearest: radius {radius_arcsec} arcsec is beyond the kernel's chord limit")
    cell = grid_cell_size(chord)
    n_axis = np.int64(np.floor(2.0 / cell)) + 3  # cells 0..floor(2/cell), plus the -1/+1 neighbours' room
    key = np.arange(len(probe_xyz), dtype=np.int64) if probe_key is None else np.ascontiguousarray(probe_key, np.int64)
    # the squared chord bound carries a margin; the exact angle test decides
    chord2_max = (chord * (1.0 + 1e-9)) ** 2
    best, best_sep, count = _nearest(np.ascontiguousarray(build_xyz, np.float64),
                                     np.ascontiguousarray(probe_xyz, np.float64), key, cell, n_axis,
                                     chord2_max, float(radius_arcsec), ARCSEC_PER_RAD)
    b = np.flatnonzero(best >= 0)
    return b, best[b], best_sep[b], count

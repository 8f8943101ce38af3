"""Compiled batch kernels for linear resampling (numba): one call per Arrow batch.

Both reproduce ``numpy.interp``'s arithmetic (``slope * (x - x_left) + f_left``
in float64, with its NaN fallback) on the good pixels of each row, so results
are bit-identical to the per-row reference ``resample_one_reference``.

* Rows on the shared log10 lattice (SDSS/BOSS/LAMOST): the native pixel left of
  each grid point is ``k_left[j] - k0`` and its wavelength comes from a table, so
  there is no search and no ``10**loglam``; only points next to a bad pixel look
  for the nearest good neighbours.
* Other rows: a merge walk over native pixels and the sorted grid, O(N + M).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _lerp(q, xl, xr, fl, fr):
    slope = (fr - fl) / (xr - xl)
    value = slope * (q - xl) + fl
    if np.isnan(value):
        value = slope * (q - xr) + fr
        if np.isnan(value) and fl == fr:
            value = fl
    return value


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ivar_mix(q, xl, xr, ivl, ivr):
    # 1 / ((1-w)^2/ivl + w^2/ivr) with one division: the variance of the interpolated value
    w = (q - xl) / (xr - xl)
    a = (1.0 - w) * (1.0 - w)
    b = w * w
    return (np.float64(ivl) * ivr) / (a * ivr + b * ivl)


@njit(cache=True, nogil=True, error_model="numpy")
def _good_range(base, n, good):
    first = -1
    last = -1
    count = 0
    for p in range(n):
        if good[base + p]:
            count += 1
            if first < 0:
                first = p
            last = p
    return first, last, count


@njit(cache=True, nogil=True, error_model="numpy")
def _lattice_row(
    r, base, n, k0, flux, ivar, good, target, k_left, j_start, table, weight, w_left_sq, w_right_sq, out_flux,
    out_ivar, first, last,
):
    m = target.shape[0]
    # Pass 1, branch-free: every grid point from its two lattice neighbours, as if both were good.
    for j in range(m):
        lft = min(max(k_left[j] - k0, 0), n - 2)
        fl = np.float64(flux[base + lft])
        out_flux[r, j] = fl + weight[j] * (flux[base + lft + 1] - fl)
        ivl = np.float64(ivar[base + lft])
        ivr = np.float64(ivar[base + lft + 1])
        out_ivar[r, j] = (ivl * ivr) / (w_left_sq[j] * ivr + w_right_sq[j] * ivl)
    # Pass 2 visits only what pass 1 got wrong: clamped ends and points over runs of bad pixels.
    # j_start[k] = first grid point whose left lattice neighbour is >= k.
    j_first = j_start[k0 + first]
    j_last = j_start[k0 + last]
    f_first = np.float64(flux[base + first])
    f_last = np.float64(flux[base + last])
    for j in range(0, j_first):
        out_flux[r, j] = f_first
        out_ivar[r, j] = 0.0
    inside = j_last - j_first
    for j in range(j_last, m):
        out_flux[r, j] = f_last
        out_ivar[r, j] = 0.0
        if k_left[j] - k0 == last and target[j] == table[k0 + last]:
            inside += 1
            if last == n - 1 and last >= 1 and good[base + last - 1]:
                out_ivar[r, j] = ivar[base + last]
    a = first
    p = first + 1
    while p <= last:
        if good[base + p]:
            if p > a + 1:  # pixels a+1 .. p-1 are a gap: bridge a -> p
                xa = table[k0 + a]
                xb = table[k0 + p]
                fa = np.float64(flux[base + a])
                fb = np.float64(flux[base + p])
                for j in range(j_start[k0 + a], j_start[k0 + p]):
                    out_flux[r, j] = _lerp(target[j], xa, xb, fa, fb)
                    out_ivar[r, j] = 0.0
            a = p
        p += 1
    return inside


@njit(cache=True, nogil=True, error_model="numpy")
def _walk_row(r, base, n, lbase, loglam, flux, ivar, good, target, out_flux, out_ivar, first, last):
    m = target.shape[0]
    inside = 0
    x_first = 10.0 ** loglam[lbase + first]
    x_last = 10.0 ** loglam[lbase + last]
    f_first = np.float64(flux[base + first])
    f_last = np.float64(flux[base + last])
    left = first
    x_left = x_first
    right = left + 1
    while right <= last and not good[base + right]:
        right += 1
    x_right = 10.0 ** loglam[lbase + right] if right <= last else x_last
    for j in range(m):
        q = target[j]
        if q < x_first:
            out_flux[r, j] = f_first
            out_ivar[r, j] = 0.0
            continue
        if q >= x_last:
            out_flux[r, j] = f_last
            out_ivar[r, j] = 0.0
            if q == x_last:
                inside += 1
                if last == n - 1 and last >= 1 and good[base + last - 1]:
                    out_ivar[r, j] = ivar[base + last]
            continue
        inside += 1
        while x_right <= q:
            left = right
            x_left = x_right
            right = left + 1
            while not good[base + right]:
                right += 1
            x_right = 10.0 ** loglam[lbase + right]
        out_flux[r, j] = _lerp(q, x_left, x_right, np.float64(flux[base + left]), np.float64(flux[base + right]))
        if right == left + 1:
            out_ivar[r, j] = _ivar_mix(q, x_left, x_right, ivar[base + left], ivar[base + right])
        else:
            out_ivar[r, j] = 0.0
    return inside


@njit(cache=True, nogil=True, error_model="numpy")
def interp_rows(
    loglam, loglam_offsets, flux, ivar, good, offsets, lattice_k0, lattice_is32, table32, table64, k_left32, k_left64, j_start32,
    j_start64, weights32, weights64, target, out_flux, out_ivar, covered, n_good,
):
    """Fill out_flux/out_ivar (rows x M) from flat ragged inputs delimited by ``offsets`` (rows + 1).

    ``loglam`` holds only the rows off the lattice (``lattice_k0 < 0``), delimited by ``loglam_offsets``.
    """
    n_rows = offsets.shape[0] - 1
    m = target.shape[0]
    for r in range(n_rows):
        base = offsets[r]
        n = offsets[r + 1] - base
        first, last, count = _good_range(base, n, good)
        n_good[r] = count
        if count == 0:
            for j in range(m):
                out_flux[r, j] = 0.0
                out_ivar[r, j] = 0.0
            covered[r] = 0.0
            continue
        k0 = lattice_k0[r]
        if k0 >= 0 and lattice_is32[r]:
            inside = _lattice_row(r, base, n, k0, flux, ivar, good, target, k_left32, j_start32, table32, weights32[0],
                                  weights32[1], weights32[2], out_flux, out_ivar, first, last)
        elif k0 >= 0:
            inside = _lattice_row(r, base, n, k0, flux, ivar, good, target, k_left64, j_start64, table64, weights64[0],
                                  weights64[1], weights64[2], out_flux, out_ivar, first, last)
        else:
            inside = _walk_row(r, base, n, loglam_offsets[r], loglam, flux, ivar, good, target, out_flux, out_ivar,
                               first, last)
        covered[r] = inside / m

"""Batched square cutouts of a registered band stack at catalogue positions, and their downsampled levels.

Centre convention (the same as ``astropy.nddata.Cutout2D``, so the pixels are
identical): a position (x, y) in 0-based pixel coordinates (pixel centres at
integers) gives the cutout origin ``x0 = ceil(x - size / 2)``, ``y0 = ceil(y - size / 2)``.
For an odd size and an integer position the source's pixel is the central one
(index size // 2). For an even size (64) and an integer position it is pixel
index size / 2 (32): half a pixel right of and above the cutout's geometric centre
(31.5, 31.5); a position on a pixel corner (x = k + 0.5) lands on the geometric
centre. So for an even size an integer position is exactly the rounding tie:
one that has been through world coordinates and back (x = 1000 +- 1e-10) may start
at either of two origins; Cutout2D sees the same value and makes the same choice.
Positions come from the stack's WCS through ``all_world2pix`` (as Cutout2D does for
a SkyCoord).

Flags (bits of ``CutoutBatch.flags``):
``EDGE`` the cutout reaches past the stack's edge (those pixels hold ``fill_value``);
``OUTSIDE`` the position itself is not on the stack (a catalogue row for another
frame: the caller rejects it or cuts it from a frame that holds it);
``NONFINITE`` some pixels inside the stack are NaN (a band that registration left
uncovered, or NaN in the file).

Downsampled levels (Rustamov 2025: 64, 32, 16, 8 px; how the thesis made the small
ones is not stated: skysift uses area averaging): each level is the mean of
factor x factor blocks of the full-size cutout (successive 2 x 2 means for 64 -> 32
-> 16 -> 8, float32), so a pixel keeps the mean surface brightness (nanomaggies per original pixel); multiply by
factor^2 for the flux in the larger pixel. A block holding a NaN is NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from skysift.config import require

__all__ = [
    "EDGE",
    "OUTSIDE",
    "NONFINITE",
    "CutoutConfig",
    "CutoutBatch",
    "cutout_origins",
    "cutouts_at_pixels",
    "cutouts_at_sky",
    "containment_margin_px",
    "downsample_mean",
    "downsample_levels",
]

EDGE = 1
"""Flag: part of the cutout lies outside the stack (filled with ``fill_value``)."""
OUTSIDE = 2
"""Flag: the position is not on the stack at all."""
NONFINITE = 4
"""Flag: NaN/inf pixels inside the stack's area (e.g. a band's uncovered margin after registration)."""


@dataclass(frozen=True)
class CutoutConfig:
    """Cutout size, fill and the downsampled levels."""

    size_px: int = 64
    """Cutout side (Rustamov 2025: 64 x 64)."""
    fill_value: float = float("nan")
    """Value of pixels outside the stack; not stated in the thesis: skysift choice (NaN marks them as missing)."""
    levels_px: tuple[int, ...] = (32, 16, 8)
    """Smaller versions made by area averaging (Rustamov 2025: 32, 16, 8); each must divide size_px."""

    def __post_init__(self):
        require(self.size_px >= 1, f"cutouts.size_px must be >= 1, got {self.size_px}")
        for level in self.levels_px:
            require(
                1 <= level <= self.size_px and self.size_px % level == 0,
                f"cutouts.levels_px: {level} must divide size_px={self.size_px}",
            )


@dataclass(eq=False)
class CutoutBatch:
    """N cutouts of one stack."""

    pixels: np.ndarray
    """(N, bands, size, size), the stack's dtype (float32)."""
    x_px: np.ndarray
    """(N,) float64 position in the stack's pixel grid (0-based column)."""
    y_px: np.ndarray
    """(N,) float64 position (0-based row)."""
    x0: np.ndarray
    """(N,) int64 column of each cutout's first pixel in the stack (may be negative at an edge)."""
    y0: np.ndarray
    """(N,) int64 row of each cutout's first pixel."""
    flags: np.ndarray
    """(N,) int32 bit mask of EDGE / OUTSIDE / NONFINITE."""


def cutout_origins(x_px: np.ndarray, y_px: np.ndarray, size_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(x0, y0) int64 origins of ``size_px`` cutouts centred on (x, y): ceil(pos - size / 2), as Cutout2D."""
    half = size_px / 2.0
    x0 = np.ceil(np.asarray(x_px, dtype=np.float64) - half).astype(np.int64)
    y0 = np.ceil(np.asarray(y_px, dtype=np.float64) - half).astype(np.int64)
    return x0, y0


def cutouts_at_pixels(
    stack: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, size_px: int = 64, fill_value: float = np.nan
) -> CutoutBatch:
    """Cutouts of a (bands, rows, columns) stack (or one 2-D image) at pixel positions (0-based)."""
    stack = np.asarray(stack)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3:
        raise ValueError(f"stack must be (bands, rows, columns) or (rows, columns), got shape {stack.shape}")
    x = np.atleast_1d(np.asarray(x_px, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y_px, dtype=np.float64))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x_px and y_px must be 1-D of equal length, got {x.shape} and {y.shape}")
    n_bands, ny, nx = stack.shape
    n = x.shape[0]
    finite_pos = np.isfinite(x) & np.isfinite(y)
    x0, y0 = cutout_origins(np.where(finite_pos, x, -1e9), np.where(finite_pos, y, -1e9), size_px)
    whole = (x0 >= 0) & (y0 >= 0) & (x0 + size_px <= nx) & (y0 + size_px <= ny)
    out = np.empty((n, n_bands, size_px, size_px), dtype=stack.dtype)
    if whole.any() and ny >= size_px and nx >= size_px:
        # One gather of size x size windows (a strided view, no copy of the stack). Measured on the
        # real g, r, i stack (2 cores shared with other jobs): 5,000 three-band 64 px cutouts in
        # 0.1-0.4 s (10-13 k/s; per-pixel fancy indexing took 0.42 s), a Cutout2D loop over the bands
        # 2.3 s (2.1 k/s).
        windows = sliding_window_view(stack, (size_px, size_px), axis=(1, 2))
        out[whole] = windows[:, y0[whole], x0[whole]].transpose(1, 0, 2, 3)
    for k in np.flatnonzero(~whole):
        # Across an edge: copy the part on the stack, fill the rest.
        out[k] = fill_value
        ya, yb = max(0, y0[k]), min(ny, y0[k] + size_px)
        xa, xb = max(0, x0[k]), min(nx, x0[k] + size_px)
        if ya < yb and xa < xb:
            out[k, :, ya - y0[k] : yb - y0[k], xa - x0[k] : xb - x0[k]] = stack[:, ya:yb, xa:xb]
    partial = ~whole
    flags = np.zeros(n, dtype=np.int32)
    flags[partial] |= EDGE
    on_stack = finite_pos & (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    flags[~on_stack] |= OUTSIDE
    if np.issubdtype(out.dtype, np.floating):
        bad = ~np.isfinite(out).all(axis=(1, 2, 3))
        if partial.any() and not np.isfinite(fill_value):
            # For edge cutouts only the pixels on the stack count: recheck them one by one.
            for k in np.flatnonzero(partial & bad):
                ya, yb = max(0, y0[k]), min(ny, y0[k] + size_px)
                xa, xb = max(0, x0[k]), min(nx, x0[k] + size_px)
                bad[k] = ya < yb and xa < xb and not np.isfinite(stack[:, ya:yb, xa:xb]).all()
        flags[bad] |= NONFINITE
    return CutoutBatch(pixels=out, x_px=x, y_px=y, x0=x0, y0=y0, flags=flags)


def _world2pix(wcs: Any, ra_deg: np.ndarray, dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(wcs, str):
        from skysift.io.frames import wcs_from_header

        wcs = wcs_from_header(wcs)
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=np.float64))
    x, y = wcs.all_world2pix(ra, dec, 0)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def cutouts_at_sky(
    stack: np.ndarray, wcs: Any, ra_deg: np.ndarray, dec_deg: np.ndarray, size_px: int = 64, fill_value: float = np.nan
) -> CutoutBatch:
    """Cutouts at sky positions (degrees) through the stack's WCS (astropy WCS or header text)."""
    x, y = _world2pix(wcs, ra_deg, dec_deg)
    return cutouts_at_pixels(stack, x, y, size_px=size_px, fill_value=fill_value)


def containment_margin_px(wcs: Any, shape: tuple[int, int], ra_deg: np.ndarray, dec_deg: np.ndarray, size_px: int = 64) -> np.ndarray:
    """(N,) pixels between each cutout and the nearest frame edge; >= 0 means the frame holds it whole.

    For a source seen by several overlapping frames, the frame with the largest
    margin is the one to cut it from.
    """
    x, y = _world2pix(wcs, ra_deg, dec_deg)
    ny, nx = shape
    x0, y0 = cutout_origins(np.nan_to_num(x, nan=-1e9), np.nan_to_num(y, nan=-1e9), size_px)
    margin = np.minimum.reduce([x0, y0, nx - (x0 + size_px), ny - (y0 + size_px)])
    return np.where(np.isfinite(x) & np.isfinite(y), margin, np.iinfo(np.int64).min)


def _halve(pixels: np.ndarray) -> np.ndarray:
    """Mean of 2 x 2 blocks of the last two axes (four strided adds: ~8 x faster than a reshape-mean)."""
    return (pixels[..., 0::2, 0::2] + pixels[..., 1::2, 0::2] + pixels[..., 0::2, 1::2] + pixels[..., 1::2, 1::2]) * pixels.dtype.type(0.25)


def downsample_mean(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks of the last two axes (which ``factor`` must divide).

    Powers of two go through successive 2 x 2 means in the input's precision (equal to
    the direct block mean to float32 rounding, ~1e-7 relative); other factors through
    a float64 reshape-mean.
    """
    pixels = np.asarray(pixels)
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    *lead, h, w = pixels.shape
    if h % factor or w % factor:
        raise ValueError(f"factor {factor} does not divide the image size {h} x {w}")
    if factor == 1:
        return pixels.copy()
    if factor & (factor - 1) == 0 and np.issubdtype(pixels.dtype, np.floating):
        out = pixels
        while factor > 1:
            out = _halve(out)
            factor //= 2
        return out
    blocks = pixels.reshape(*lead, h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float64).astype(pixels.dtype)


def downsample_levels(pixels: np.ndarray, levels_px: Sequence[int] = (32, 16, 8)) -> dict[int, np.ndarray]:
    """{size: area-averaged version} of square cutouts (..., S, S) for each size in ``levels_px``.

    Each level is made from the next larger one when that divides it (64 -> 32 -> 16 -> 8),
    which is the same block mean as from the full size, at a third of the cost.
    """
    size = pixels.shape[-1]
    for level in levels_px:
        if level <= 0 or size % level:
            raise ValueError(f"level {level} px does not divide the cutout size {size} px")
    out: dict[int, np.ndarray] = {}
    src, src_size = pixels, size
    for level in sorted(set(levels_px), reverse=True):
        if src_size % level:
            src, src_size = pixels, size
        out[level] = downsample_mean(src, src_size // level)
        src, src_size = out[level], level
    return {level: out[level] for level in levels_px}

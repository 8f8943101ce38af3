"""Overlapping square tiles over a frame: the grid, each tile's WCS, and cutting a band stack into tiles.

Zhao et al. 2025 cut each 2048 x 1489 SDSS frame into 12 tiles of 640 x 640 and
merge the duplicate detections in the overlaps by NMS; the layout is not stated
(their Fig. 1 is missing). skysift's choice: ``n_x`` x ``n_y`` tiles whose origins
are spread evenly from 0 to (width - size), so the first and last tiles touch the
frame edges and every overlap is equal up to one pixel of rounding: 4 x 3 on an SDSS
frame, overlaps 170-171 px across and 215-216 px down.

When the grid is not given it is the smallest one whose overlaps are all at least
``min_overlap_px``: n = ceil((width - overlap) / (size - overlap)). With 640 px
tiles that gives 4 x 3 on 2048 x 1489 for any minimum overlap up to 170 px.
A frame side shorter than the tile gets one tile at 0 whose far part lies outside
the frame and is filled (``cut_tiles``' ``fill_value``).

A tile's WCS is the frame's with CRPIX shifted by the tile origin: pixel (i, j) of
the tile is pixel (x0 + i, y0 + j) of the frame, also through SIP distortion
(whose polynomials are in offsets from CRPIX).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from skysift.config import require

__all__ = ["TileGridConfig", "Tile", "TileGrid", "axis_origins", "tile_grid", "shift_wcs_header", "tile_wcs_header", "cut_tiles", "tile_centres_world"]


@dataclass(frozen=True)
class TileGridConfig:
    """How a frame is cut into tiles."""

    size_px: int = 640
    """Tile side in pixels (Zhao et al. 2025: 640 x 640)."""
    n_x: int | None = None
    """Tiles across (columns); None = derived from size_px and min_overlap_px (4 for an SDSS frame, as Zhao et al.'s 12 = 4 x 3)."""
    n_y: int | None = None
    """Tiles down (rows); None = derived (3 for an SDSS frame)."""
    min_overlap_px: int = 64
    """Smallest overlap between neighbouring tiles when the grid is derived; not stated in the paper: skysift choice
    (64 px = 25 arcsec holds a bright galaxy whole in at least one tile; any value in 0..170 gives 4 x 3 on SDSS)."""

    def __post_init__(self):
        require(self.size_px >= 1, f"tiles.size_px must be >= 1, got {self.size_px}")
        require(self.n_x is None or self.n_x >= 1, f"tiles.n_x must be >= 1 or null, got {self.n_x}")
        require(self.n_y is None or self.n_y >= 1, f"tiles.n_y must be >= 1 or null, got {self.n_y}")
        require(
            0 <= self.min_overlap_px < self.size_px,
            f"tiles.min_overlap_px must be in [0, size_px={self.size_px}), got {self.min_overlap_px}",
        )


@dataclass(frozen=True)
class Tile:
    """One tile: its place in the grid and its pixel origin in the frame."""

    index: int
    """Row-major index: iy * n_x + ix."""
    ix: int
    """Column of the tile in the grid."""
    iy: int
    """Row of the tile in the grid."""
    x0: int
    """Frame column of the tile's first pixel (0-based)."""
    y0: int
    """Frame row of the tile's first pixel (0-based)."""
    size_px: int
    """Tile side in pixels."""

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) slices into the frame (may reach past its edge for a frame smaller than a tile)."""
        return slice(self.y0, self.y0 + self.size_px), slice(self.x0, self.x0 + self.size_px)


@dataclass(frozen=True)
class TileGrid:
    """All tiles of one frame shape."""

    frame_shape: tuple[int, int]
    """(rows, columns) of the frame."""
    size_px: int
    """Tile side."""
    x_origins: tuple[int, ...]
    """Column origins, one per grid column."""
    y_origins: tuple[int, ...]
    """Row origins, one per grid row."""

    @property
    def n_x(self) -> int:
        return len(self.x_origins)

    @property
    def n_y(self) -> int:
        return len(self.y_origins)

    @property
    def tiles(self) -> list[Tile]:
        """Row-major list of tiles."""
        return [
            Tile(iy * self.n_x + ix, ix, iy, x0, y0, self.size_px)
            for iy, y0 in enumerate(self.y_origins)
            for ix, x0 in enumerate(self.x_origins)
        ]

    def __len__(self) -> int:
        return self.n_x * self.n_y

    def overlaps_px(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Overlap in pixels between neighbouring tiles, across and down."""
        ox = tuple(self.size_px - (b - a) for a, b in zip(self.x_origins, self.x_origins[1:]))
        oy = tuple(self.size_px - (b - a) for a, b in zip(self.y_origins, self.y_origins[1:]))
        return ox, oy


def _n_tiles(length: int, size: int, min_overlap: int) -> int:
    if length <= size:
        return 1
    return math.ceil((length - min_overlap) / (size - min_overlap))


def axis_origins(length: int, size: int, n: int) -> tuple[int, ...]:
    """``n`` origins spread evenly over [0, length - size], rounded half up; (0,) for n = 1.

    Raises ValueError when ``n`` tiles of ``size`` cannot cover ``length``.
    """
    if n < 1:
        raise ValueError(f"need at least one tile, got n={n}")
    if n * size < length:
        raise ValueError(f"{n} tiles of {size} px cannot cover {length} px")
    if n == 1:
        return (0,)
    if length <= size:
        raise ValueError(f"a side of {length} px takes one tile of {size} px, not {n}")
    span = length - size
    # round(k * span / (n - 1)) with integers, halves up: no float drift between platforms.
    return tuple((2 * k * span + (n - 1)) // (2 * (n - 1)) for k in range(n))


def tile_grid(frame_shape: tuple[int, int], config: TileGridConfig | None = None) -> TileGrid:
    """The tile grid of a frame of ``frame_shape`` (rows, columns) under ``config`` (default: Zhao et al.'s 640 px)."""
    config = config or TileGridConfig()
    ny, nx = (int(v) for v in frame_shape)
    if ny < 1 or nx < 1:
        raise ValueError(f"frame shape must be positive, got {frame_shape}")
    size = config.size_px
    n_x = config.n_x or _n_tiles(nx, size, config.min_overlap_px)
    n_y = config.n_y or _n_tiles(ny, size, config.min_overlap_px)
    return TileGrid((ny, nx), size, axis_origins(nx, size, n_x), axis_origins(ny, size, n_y))


def shift_wcs_header(wcs_header: str, x0: float, y0: float) -> str:
    """The WCS header text with CRPIX moved so that pixel (0, 0) of the new grid is frame pixel (x0, y0)."""
    from astropy.io import fits

    header = fits.Header.fromstring(wcs_header)
    header["CRPIX1"] = float(header.get("CRPIX1", 0.0)) - x0
    header["CRPIX2"] = float(header.get("CRPIX2", 0.0)) - y0
    return header.tostring(padding=False)


def tile_wcs_header(wcs_header: str, tile: Tile) -> str:
    """The tile's WCS: the frame's with CRPIX shifted by the tile origin (NAXIS not part of it)."""
    return shift_wcs_header(wcs_header, tile.x0, tile.y0)


def cut_tiles(stack: np.ndarray, grid: TileGrid, fill_value: float = np.nan) -> np.ndarray:
    """All tiles of a (bands, rows, columns) or (rows, columns) stack: (n_tiles, [bands,] size, size) copies.

    Parts of a tile outside the frame (only when a frame side is shorter than the tile) get ``fill_value``.
    """
    stack = np.asarray(stack)
    squeeze = stack.ndim == 2
    if squeeze:
        stack = stack[None]
    if stack.ndim != 3 or tuple(stack.shape[1:]) != tuple(grid.frame_shape):
        raise ValueError(f"stack shape {stack.shape} does not match the grid's frame shape {grid.frame_shape}")
    size = grid.size_px
    out = np.full((len(grid), stack.shape[0], size, size), fill_value, dtype=stack.dtype)
    ny, nx = grid.frame_shape
    for t in grid.tiles:
        h, w = min(size, ny - t.y0), min(size, nx - t.x0)
        out[t.index, :, :h, :w] = stack[:, t.y0 : t.y0 + h, t.x0 : t.x0 + w]
    return out[:, 0] if squeeze else out


def tile_centres_world(wcs: Any, grid: TileGrid) -> np.ndarray:
    """(n_tiles, 2) RA, Dec in degrees of each tile's centre (for HEALPix partitioning)."""
    if isinstance(wcs, str):
        from skysift.io.frames import wcs_from_header

        wcs = wcs_from_header(wcs)
    tiles = grid.tiles
    x = np.array([t.x0 + (t.size_px - 1) / 2.0 for t in tiles])
    y = np.array([t.y0 + (t.size_px - 1) / 2.0 for t in tiles])
    ra, dec = wcs.all_pix2world(x, y, 0)
    return np.column_stack([np.asarray(ra) % 360.0, dec])

"""Image stacks to and from Arrow ``list<float32>`` columns, and tiles pasted back into their frame.

An image table row holds its pixels as one flat ``list<float32>`` (row-major bands x rows x columns,
``schema.images``). ``stack_column`` builds that column from an (N, ...) array with one offsets
buffer and no per-row Python; ``column_stack`` gives the (N, ...) numpy view back (no copy when the
column is one chunk without nulls). ``paste_tiles`` rebuilds a field's registered stack from its
tiles (the tiles cover every pixel, ``images.tiling``), which is how make-cutouts gets a field without
decompressing its frames again.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["stack_column", "column_stack", "nested_stack_column", "paste_tiles"]


def stack_column(arrays: np.ndarray) -> pa.ListArray:
    """An (N, ...) float32 array as a length-N ``list<float32>`` array, each row one flattened item."""
    arrays = np.ascontiguousarray(arrays, dtype=np.float32)
    n = arrays.shape[0]
    per_row = int(np.prod(arrays.shape[1:], dtype=np.int64))
    if n * per_row >= 2**31:
        raise ValueError(f"{n} rows of {per_row} values exceed a list<float32> column's 2^31 values; write fewer rows per batch")
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(per_row))
    return pa.ListArray.from_arrays(offsets, pa.array(arrays.reshape(-1)))


def nested_stack_column(levels: Sequence[np.ndarray]) -> pa.ListArray:
    """``list<list<float32>>`` of length N from K arrays (N, ...): row i holds the K flattened items i."""
    if not levels:
        raise ValueError("need at least one level")
    n = levels[0].shape[0]
    per_row = [int(np.prod(a.shape[1:], dtype=np.int64)) for a in levels]
    # Values ordered row by row, level by level: (row 0: level 0, level 1, ...), (row 1: ...).
    flat = np.concatenate([np.ascontiguousarray(a, dtype=np.float32).reshape(n, -1) for a in levels], axis=1).reshape(-1)
    inner_sizes = np.tile(np.asarray(per_row, dtype=np.int64), n)
    inner_offsets = np.concatenate([[0], np.cumsum(inner_sizes)]).astype(np.int32)
    inner = pa.ListArray.from_arrays(pa.array(inner_offsets), pa.array(flat))
    outer_offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(len(levels)))
    return pa.ListArray.from_arrays(outer_offsets, inner)


def column_stack(column: pa.Array | pa.ChunkedArray, shape: tuple[int, ...]) -> np.ndarray:
    """The rows of a ``list<float32>`` column as one (N, *shape) float32 array (every row must hold prod(shape) values)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    n = len(column)
    per_row = int(np.prod(shape, dtype=np.int64))
    if column.null_count:
        raise ValueError(f"{column.null_count} null row(s) in an image column")
    offsets = column.offsets.to_numpy()
    if not np.array_equal(np.diff(offsets), np.full(n, per_row)):
        raise ValueError(f"image column rows do not all hold {per_row} values (shape {shape})")
    values = column.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[0] + n * per_row]
    return values.reshape((n, *shape))


def paste_tiles(tiles: np.ndarray, x0: Sequence[int], y0: Sequence[int], frame_shape: tuple[int, int], fill_value: float = np.nan) -> np.ndarray:
    """(bands, rows, columns) frame stack from (N, bands, S, S) tiles at origins (x0, y0); parts of tiles past the frame dropped.

    Overlapping tiles hold the same pixels (they are cut from one stack), so the order of pasting does not matter.
    """
    tiles = np.asarray(tiles)
    n, n_bands, size, _ = tiles.shape
    ny, nx = frame_shape
    out = np.full((n_bands, ny, nx), fill_value, dtype=tiles.dtype)
    for k in range(n):
        xa, ya = int(x0[k]), int(y0[k])
        h, w = min(size, ny - ya), min(size, nx - xa)
        out[:, ya : ya + h, xa : xa + w] = tiles[k, :, :h, :w]
    return out

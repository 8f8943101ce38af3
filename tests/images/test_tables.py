"""skysift.images.tables: list<float32> columns to and from numpy, nested levels, tiles pasted back."""
import numpy as np
import pyarrow as pa
import pytest

from skysift.images.tables import column_stack, nested_stack_column, paste_tiles, stack_column
from skysift.images.tiling import TileGridConfig, cut_tiles, tile_grid


def test_stack_column_round_trip_through_parquet(tmp_path):
    import pyarrow.parquet as pq

    arr = np.random.default_rng(0).normal(size=(5, 3, 8, 8)).astype(np.float32)
    col = stack_column(arr)
    assert col.type == pa.list_(pa.float32()) and len(col) == 5
    assert np.array_equal(np.asarray(col[2].values), arr[2].ravel())  # row-major (bands, rows, columns)
    pq.write_table(pa.table({"pixels": col}), tmp_path / "t.parquet")
    back = column_stack(pq.read_table(tmp_path / "t.parquet").column("pixels"), (3, 8, 8))
    np.testing.assert_array_equal(back, arr)
    with pytest.raises(ValueError, match="do not all hold"):
        column_stack(col, (3, 8, 7))
    # A sliced column (non-zero first offset) still maps to the right rows.
    np.testing.assert_array_equal(column_stack(col.slice(3), (3, 8, 8)), arr[3:])


def test_nested_levels_column():
    a = np.arange(2 * 4, dtype=np.float32).reshape(2, 1, 2, 2)
    b = np.arange(2 * 1, dtype=np.float32).reshape(2, 1, 1, 1) + 100
    col = nested_stack_column([a, b])
    assert col.to_pylist() == [[[0, 1, 2, 3], [100]], [[4, 5, 6, 7], [101]]]


def test_paste_tiles_rebuilds_the_stack():
    stack = np.random.default_rng(1).normal(size=(2, 150, 230)).astype(np.float32)
    grid = tile_grid(stack.shape[1:], TileGridConfig(size_px=64, min_overlap_px=16))
    tiles = cut_tiles(stack, grid)
    x0 = [t.x0 for t in grid.tiles]
    y0 = [t.y0 for t in grid.tiles]
    np.testing.assert_array_equal(paste_tiles(tiles, x0, y0, stack.shape[1:]), stack)
    small = np.ones((1, 40, 50), np.float32)  # a frame smaller than one tile: padded tile, cropped back
    g = tile_grid((40, 50), TileGridConfig(size_px=64, min_overlap_px=16))
    np.testing.assert_array_equal(paste_tiles(cut_tiles(small, g), [0], [0], (40, 50)), small)

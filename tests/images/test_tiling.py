"""skysift.images.tiling: Zhao et al.'s 12-tile grid, full coverage, tile WCS = frame WCS shifted."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skysift.config import ConfigError
from skysift.images.tiling import (
    TileGridConfig,
    axis_origins,
    cut_tiles,
    tile_centres_world,
    tile_grid,
    tile_wcs_header,
)
from skysift.io.frames import SDSS_FRAME_SHAPE, wcs_from_header


def test_sdss_frame_gives_zhao_4x3_grid():
    grid = tile_grid(SDSS_FRAME_SHAPE)
    assert (grid.n_x, grid.n_y, len(grid)) == (4, 3, 12)
    assert grid.x_origins == (0, 469, 939, 1408) and grid.y_origins == (0, 425, 849)
    ox, oy = grid.overlaps_px()
    # Zhao et al. 2025 (derived): 170.7 px across, 215.5 px down.
    assert set(ox) <= {170, 171} and set(oy) <= {215, 216}
    assert grid.x_origins[-1] + 640 == 2048 and grid.y_origins[-1] + 640 == 1489


@pytest.mark.parametrize(
    "shape, config",
    [
        (SDSS_FRAME_SHAPE, TileGridConfig()),
        (SDSS_FRAME_SHAPE, TileGridConfig(size_px=512, min_overlap_px=100)),
        (SDSS_FRAME_SHAPE, TileGridConfig(n_x=5, n_y=4)),
        ((1000, 777), TileGridConfig(size_px=256, min_overlap_px=0)),
        ((300, 200), TileGridConfig()),  # smaller than one tile
        ((640, 641), TileGridConfig()),
    ],
)
def test_tiles_cover_every_pixel(shape, config):
    grid = tile_grid(shape, config)
    count = np.zeros(shape, dtype=np.int32)
    for t in grid.tiles:
        count[t.slices] += 1
    assert count.min() >= 1
    ox, oy = grid.overlaps_px()
    if config.n_x is None:
        assert all(o >= config.min_overlap_px for o in ox)
        # Minimal: one tile fewer would not cover the side or not keep the minimum overlap.
        if grid.n_x > 1:
            n, size, width = grid.n_x - 1, config.size_px, shape[1]
            fewer_ok = n * size >= width and (n == 1 or (n * size - width) / (n - 1) >= config.min_overlap_px)
            assert not fewer_ok
    assert [t.index for t in grid.tiles] == list(range(len(grid)))


def test_axis_origins_even_spread_and_errors():
    assert axis_origins(2048, 640, 4) == (0, 469, 939, 1408)
    assert axis_origins(1000, 1000, 1) == (0,)
    with pytest.raises(ValueError, match="cannot cover"):
        axis_origins(2048, 640, 3)
    with pytest.raises(ValueError, match="one tile"):
        axis_origins(500, 640, 2)


def test_config_validation():
    with pytest.raises(ConfigError, match="min_overlap_px"):
        TileGridConfig(size_px=64, min_overlap_px=64)
    with pytest.raises(ConfigError, match="n_x"):
        TileGridConfig(n_x=0)


def test_cut_tiles_equal_frame_slices_and_fill():
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(3, 700, 900)).astype(np.float32)
    grid = tile_grid((700, 900), TileGridConfig(size_px=320))
    tiles = cut_tiles(stack, grid)
    assert tiles.shape == (len(grid), 3, 320, 320) and tiles.dtype == np.float32
    for t in grid.tiles:
        np.testing.assert_array_equal(tiles[t.index], stack[:, t.slices[0], t.slices[1]])
    small = rng.normal(size=(100, 150)).astype(np.float32)
    one = cut_tiles(small, tile_grid((100, 150)))
    assert one.shape == (1, 640, 640)
    np.testing.assert_array_equal(one[0, :100, :150], small)
    assert np.isnan(one[0, 100:]).all() and np.isnan(one[0, :, 150:]).all()
    with pytest.raises(ValueError, match="does not match"):
        cut_tiles(stack[:, :600], grid)


def _check_tile_wcs(frame_wcs: WCS, header_text: str, grid, rng) -> float:
    worst = 0.0
    for t in grid.tiles:
        tw = wcs_from_header(tile_wcs_header(header_text, t))
        i = np.r_[0, t.size_px - 1, rng.uniform(-0.5, t.size_px - 0.5, 50)]
        j = np.r_[0, t.size_px - 1, rng.uniform(-0.5, t.size_px - 0.5, 50)]
        tile_sky = np.column_stack(tw.all_pix2world(i, j, 0))
        frame_sky = np.column_stack(frame_wcs.all_pix2world(i + t.x0, j + t.y0, 0))
        worst = max(worst, float(np.abs(tile_sky - frame_sky).max()))
    return worst


def test_tile_wcs_maps_like_the_frame_real(sdss_gri):
    """Every tile of the real r frame: tile pixel (i, j) -> sky == frame pixel (x0 + i, y0 + j) -> sky."""
    frame = sdss_gri["r"]
    grid = tile_grid(frame.shape)
    worst = _check_tile_wcs(frame.wcs, frame.wcs_header, grid, np.random.default_rng(1))
    assert worst < 1e-9  # deg; measured 0 to ~1e-13
    centres = tile_centres_world(frame.wcs_header, grid)
    t = grid.tiles[5]
    ra, dec = frame.wcs.all_pix2world([t.x0 + 319.5], [t.y0 + 319.5], 0)
    assert centres[5] == pytest.approx([float(ra[0]), float(dec[0])], abs=1e-12)


def test_tile_wcs_with_sip_distortion():
    """SIP polynomials are in offsets from CRPIX, so shifting CRPIX keeps them exact."""
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    h["CRVAL1"], h["CRVAL2"] = 10.0, 20.0
    h["CRPIX1"], h["CRPIX2"] = 1024.5, 744.5
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -1.1e-4, 1e-6, 1e-6, 1.1e-4
    h["A_ORDER"], h["B_ORDER"] = 2, 2
    h["A_2_0"], h["A_0_2"], h["A_1_1"] = 2e-6, -1e-6, 3e-6
    h["B_2_0"], h["B_0_2"], h["B_1_1"] = -1e-6, 2e-6, 1e-6
    frame_wcs = wcs_from_header(h)
    text = frame_wcs.to_header_string(relax=True)
    assert "A_2_0" in text
    worst = _check_tile_wcs(frame_wcs, text, tile_grid(SDSS_FRAME_SHAPE), np.random.default_rng(2))
    assert worst < 1e-9

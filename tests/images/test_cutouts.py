"""skysift.images.cutouts against astropy Cutout2D per band, flags, and area-averaged levels against block means."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.nddata import Cutout2D, block_reduce

from skysift.config import ConfigError
from skysift.images.cutouts import (
    EDGE,
    NONFINITE,
    OUTSIDE,
    CutoutConfig,
    containment_margin_px,
    cutout_origins,
    cutouts_at_pixels,
    cutouts_at_sky,
    downsample_levels,
    downsample_mean,
)


@pytest.mark.parametrize("size_px", [64, 51])
def test_identical_to_cutout2d_per_band_real_stack(gri_stack, sdss_gri, size_px):
    """Integer-aligned and fractional centres, inside and across the edges, through the WCS; mode='partial'."""
    rng = np.random.default_rng(0)
    wcs = sdss_gri["r"].wcs
    ny, nx = gri_stack.pixels.shape[1:]
    x = np.r_[rng.integers(40, nx - 40, 20), rng.uniform(40, nx - 40, 20), [3, nx - 2, 1000, 1000.5], rng.uniform(0, nx, 5)]
    y = np.r_[rng.integers(40, ny - 40, 20), rng.uniform(40, ny - 40, 20), [700, 10, 2, ny - 1.5], rng.uniform(0, ny, 5)]
    ra, dec = wcs.all_pix2world(x, y, 0)
    batch = cutouts_at_sky(gri_stack.pixels, gri_stack.wcs_header, ra, dec, size_px=size_px)
    assert batch.pixels.shape == (len(x), 3, size_px, size_px)
    np.testing.assert_allclose(batch.x_px, x, atol=1e-6)
    for n in range(len(x)):
        pos = SkyCoord(ra[n], dec[n], unit="deg")
        for b in range(3):
            ref = Cutout2D(gri_stack.pixels[b], pos, size_px, wcs=wcs, mode="partial", fill_value=np.nan)
            np.testing.assert_array_equal(batch.pixels[n, b], ref.data, err_msg=f"cutout {n} band {b}")
        partial = any(sl.stop - sl.start != size_px for sl in ref.slices_cutout)
        assert bool(batch.flags[n] & EDGE) == partial
        if not partial:
            assert bool(batch.flags[n] & NONFINITE) == bool(np.isnan(batch.pixels[n]).any())
    assert (batch.flags & EDGE).sum() >= 4  # the edge cases above are exercised


def test_centre_convention():
    img = np.zeros((100, 100), np.float32)
    img[50, 40] = 1.0
    for size, idx in ((64, 32), (51, 25)):
        c = cutouts_at_pixels(img, [40.0], [50.0], size_px=size)
        assert np.argwhere(c.pixels[0, 0] == 1.0).tolist() == [[idx, idx]]
    assert cutout_origins(np.array([40.0, 40.5, 40.51]), np.array([50.0, 50.0, 50.0]), 64)[0].tolist() == [8, 9, 9]


def test_flags_edge_outside_nonfinite():
    stack = np.ones((2, 100, 120), np.float32)
    stack[1, 90:] = np.nan  # a band not covering the top rows (as after registration)
    c = cutouts_at_pixels(stack, [60, 5, 60, 500, 60, np.nan], [50, 50, 85, 50, -0.6, 50], size_px=16, fill_value=-1.0)
    assert c.flags.tolist() == [0, EDGE, NONFINITE, EDGE | OUTSIDE, EDGE | OUTSIDE, EDGE | OUTSIDE]
    assert (c.pixels[1, :, :, :3] == -1.0).all() and (c.pixels[1, :, :, 3:] == 1.0).all()
    assert (c.pixels[3] == -1.0).all()


def test_containment_margin_picks_the_frame_holding_a_source_whole(gri_stack, sdss_gri):
    wcs = sdss_gri["r"].wcs
    # Off-integer positions: for an even size an integer position is the rounding tie of ceil(x - 32).
    ra, dec = wcs.all_pix2world([1000.3, 20.3, 2040.3], [700.3, 700.3, 1480.3], 0)
    m = containment_margin_px(wcs, gri_stack.pixels.shape[1:], ra, dec, size_px=64)
    assert m.tolist() == [669, -11, -25]  # origins (969, 669), (-11, 669), (2009, 1449) on 2048 x 1489


def test_downsampling_equals_block_means():
    rng = np.random.default_rng(1)
    pixels = rng.normal(size=(7, 5, 64, 64)).astype(np.float32)
    levels = downsample_levels(pixels, CutoutConfig().levels_px)
    assert sorted(levels) == [8, 16, 32]
    for size, arr in levels.items():
        f = 64 // size
        assert arr.shape == (7, 5, size, size) and arr.dtype == np.float32
        ref = np.stack([[block_reduce(p, f, func=np.mean) for p in obj] for obj in pixels.astype(np.float64)])
        np.testing.assert_allclose(arr, ref, rtol=0, atol=1e-6)
        np.testing.assert_allclose(arr.astype(np.float64).sum(axis=(-2, -1)) * f * f, pixels.astype(np.float64).sum(axis=(-2, -1)), rtol=1e-5)
    # The cascade 64 -> 32 -> 16 -> 8 equals a float64 numpy reshape-mean of 8 x 8 blocks of the full size.
    reshape_mean = pixels.astype(np.float64).reshape(7, 5, 8, 8, 8, 8).mean(axis=(3, 5))
    np.testing.assert_allclose(levels[8], reshape_mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(downsample_mean(pixels, 4), levels[16], rtol=0, atol=1e-7)
    # A factor that is not a power of two takes the reshape-mean path.
    np.testing.assert_allclose(downsample_mean(pixels[..., :60, :60], 3), pixels[..., :60, :60].astype(np.float64).reshape(7, 5, 20, 3, 20, 3).mean(axis=(3, 5)), atol=1e-6)
    nan = pixels[0, 0].copy()
    nan[0, 0] = np.nan
    d = downsample_mean(nan, 8)
    assert np.isnan(d[0, 0]) and np.isfinite(d).sum() == 63
    with pytest.raises(ValueError, match="does not divide"):
        downsample_levels(pixels, (24,))


def test_config_validation():
    with pytest.raises(ConfigError, match="levels_px"):
        CutoutConfig(size_px=64, levels_px=(48,))
    assert CutoutConfig().size_px == 64

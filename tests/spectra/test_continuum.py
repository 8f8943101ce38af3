"""Masked running-median continuum against scipy.ndimage.median_filter and a per-pixel numpy.median reference."""
import numpy as np
import pytest
import scipy.ndimage as ndi

from skysift.spectra.continuum import (
    good_pixel_mask, grid_step_angstrom, median_continuum, median_continuum_reference, window_pixels,
)

WAVE = np.arange(3900.0, 8900.0, 2.0)


def test_window_pixels_from_angstrom():
    assert window_pixels(WAVE, 200.0) == 101  # 100 A each side / 2 A = 50 pixels
    assert window_pixels(np.arange(3900.0, 8900.0, 1.0), 200.0) == 201
    assert window_pixels(WAVE, 1.0) == 3  # never below 3


def test_nonlinear_grid_is_refused():
    with pytest.raises(ValueError, match="linear"):
        grid_step_angstrom(np.geomspace(3900, 8900, 2500))


def test_fully_good_rows_equal_scipy_median_filter_inside():
    rng = np.random.default_rng(0)
    flux = rng.normal(10, 1, (20, len(WAVE))).astype(np.float32)
    ivar = np.ones_like(flux)
    got = median_continuum(flux, ivar, WAVE, 200.0)
    ref = ndi.median_filter(flux, size=(1, 101))
    np.testing.assert_array_equal(got[:, 50:-50], ref[:, 50:-50])


def test_masked_pixels_are_left_out_exactly_like_numpy_median():
    rng = np.random.default_rng(1)
    flux = rng.normal(10, 1, (6, len(WAVE))).astype(np.float32)
    ivar = np.ones_like(flux)
    ivar[rng.random(flux.shape) < 0.3] = 0.0
    ivar[2, 1000:1200] = 0.0  # a gap wider than the window: the middle has no continuum
    flux[ivar == 0] = 1e6  # filler values that must never enter a median
    flux[3, 7] = np.nan
    good = good_pixel_mask(flux, ivar)
    got = median_continuum(flux, ivar, WAVE, 100.0)
    for r in range(flux.shape[0]):
        np.testing.assert_array_equal(got[r], median_continuum_reference(flux[r], good[r], 25))
    assert np.isnan(got[2, 1100]) and np.isfinite(got[2, 1000])
    assert np.nanmax(got) < 100


def test_continuum_ignores_a_narrow_line():
    flux = np.full((1, len(WAVE)), 5.0, np.float32)
    flux[0, 1000:1010] += 100.0  # 20 A line under a 200 A window
    got = median_continuum(flux, np.ones_like(flux), WAVE, 200.0)
    np.testing.assert_array_equal(got, 5.0)


def test_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match="n_pixels"):
        median_continuum(np.zeros((2, 10), np.float32), np.zeros((2, 10)), WAVE, 200.0)


def test_ties_negative_values_and_signed_zeros_match_numpy_median():
    # rank tracking must count equal values (integers repeat) and order negative floats through the int keys
    rng = np.random.default_rng(2)
    flux = rng.integers(-3, 4, (8, len(WAVE))).astype(np.float32)
    flux[0] = -0.0
    flux[1, ::2] = 0.0
    flux[1, 1::2] = -0.0
    flux[2] = rng.normal(-50, 20, len(WAVE))  # all negative
    ivar = np.ones_like(flux)
    ivar[3:, :][rng.random((5, len(WAVE))) < 0.2] = 0.0  # even counts in many windows
    good = good_pixel_mask(flux, ivar)
    got = median_continuum(flux, ivar, WAVE, 28.0)  # half = 7 pixels
    for r in range(flux.shape[0]):
        np.testing.assert_array_equal(got[r], median_continuum_reference(flux[r], good[r], 7))


def test_a_row_that_restarts_after_a_fully_masked_stretch():
    flux = np.linspace(1, 2, len(WAVE), dtype=np.float32)[None, :].repeat(2, 0)
    ivar = np.ones_like(flux)
    ivar[0, :300] = 0.0
    ivar[0, 1500:1800] = 0.0
    ivar[1, :] = 0.0  # nothing usable: all NaN
    got = median_continuum(flux, ivar, WAVE, 48.0)  # half = 12 pixels
    good = good_pixel_mask(flux, ivar)
    np.testing.assert_array_equal(got[0], median_continuum_reference(flux[0], good[0], 12))
    assert np.isnan(got[1]).all()

"""Normalisation kernels against independent per-row computations."""
import numpy as np
import pytest

from skysift.spectra.normalise import FALLBACK_MEDIAN, lu2022, median_rest_window, normalise, unit_l2

WAVE = np.linspace(3850, 9000, 3688)


def test_median_rest_window_matches_per_row_median():
    rng = np.random.default_rng(0)
    flux = rng.uniform(1, 10, (6, WAVE.size))
    ivar = np.ones_like(flux)
    ivar[1, 1000:1100] = 0
    z = np.array([0.0, 0.05, 0.1, 0.3, 0.5, np.nan])
    factor, method = median_rest_window(flux, ivar, WAVE, z)
    for i in range(4):
        sel = (WAVE >= 5300 * (1 + z[i])) & (WAVE <= 5850 * (1 + z[i])) & (ivar[i] > 0)
        assert factor[i] == pytest.approx(np.median(flux[i, sel]))
        assert method[i] == "median_rest_5300_5850"
    # z = 0.5 puts the window at 7950-8775 A: still on the grid
    assert method[4] == "median_rest_5300_5850"
    # unknown z falls back to the median of all good pixels
    assert method[5] == FALLBACK_MEDIAN and factor[5] == pytest.approx(np.median(flux[5]))


def test_window_off_grid_falls_back():
    flux = np.full((1, WAVE.size), 3.0)
    factor, method = median_rest_window(flux, np.ones_like(flux), WAVE, np.array([1.2]))
    assert method[0] == FALLBACK_MEDIAN and factor[0] == 3.0


def test_lu2022_formula_as_printed_and_l2():
    rng = np.random.default_rng(1)
    flux = rng.normal(2, 1, (3, 100))
    f, _ = lu2022(flux)
    np.testing.assert_allclose(f, (flux**2).sum(axis=1))
    out, out_ivar, factor, names = normalise(flux, np.ones_like(flux), WAVE[:100], np.zeros(3), "lu2022")
    np.testing.assert_allclose(out, flux / (flux**2).sum(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(out_ivar, np.ones_like(flux) * factor[:, None] ** 2, rtol=1e-6)
    g, _ = unit_l2(flux)
    out, *_ = normalise(flux, np.ones_like(flux), WAVE[:100], np.zeros(3), "l2")
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(g, np.linalg.norm(flux, axis=1))


def test_non_positive_level_gives_nan_factor():
    flux = -np.ones((1, WAVE.size))
    _, _, factor, _ = normalise(flux, np.ones_like(flux), WAVE, np.array([0.1]), "median_rest_5300_5850")
    assert np.isnan(factor[0])


def test_masked_median_equals_nanmedian_per_row():
    from skysift.spectra.normalise import masked_median

    rng = np.random.default_rng(5)
    values = rng.normal(size=(50, 301))
    mask = rng.random((50, 301)) > rng.random((50, 1))
    mask[3] = False  # nothing selected
    mask[4] = False
    mask[4, :2] = True  # even count
    got = masked_median(values, mask)
    for i in range(50):
        expected = np.median(values[i, mask[i]]) if mask[i].any() else np.nan
        np.testing.assert_equal(got[i], expected) if np.isnan(expected) else pytest.approx(expected)
        if not np.isnan(expected):
            assert got[i] == pytest.approx(expected, rel=1e-12)

"""Batched line finding against synthetic truth, numpy recomputations and a per-spectrum loop."""
import numpy as np
import pytest

from skysift.config import ConfigError
from skysift.spectra.continuum import good_pixel_mask
from skysift.spectra.line_finding import DetectedLines, LineFindingConfig, find_lines, line_thresholds, residual
from skysift.synth.line_spectra import make_line_spectra, paper_grid

WAVE = paper_grid()
STEP = 2.0
NAMES = ("[OII]3728", "Hbeta", "[OIII]5008", "[NII]6550", "Halpha", "[NII]6585", "[SII]6718", "[SII]6733")
NO_SKY = LineFindingConfig(sky_lines_angstrom=())


def galaxies(n=300, seed=0, flux_range=(40.0, 300.0), noise=1.0):
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.05, 0.3, n)
    fluxes = rng.uniform(*flux_range, (n, len(NAMES)))
    return make_line_spectra(n, NAMES, z, fluxes, sigma_kms=rng.uniform(60, 150, n), noise_sigma=noise, seed=seed + 1)


def test_recovers_every_strong_line_within_a_pixel():
    s = galaxies()
    lines = find_lines(s.flux, s.ivar, WAVE, NO_SKY)
    true_c = s.centres()
    found = 0
    for k in range(len(NAMES)):
        # nearest detection of the same spectrum to each true line
        same = lines.spec_index[None, :] == np.arange(len(s.z))[:, None]
        dist = np.where(same, np.abs(lines.center_angstrom[None, :] - true_c[:, k, None]), np.inf).min(axis=1)
        on_grid = (true_c[:, k] > WAVE[0] + 10) & (true_c[:, k] < WAVE[-1] - 10)
        strong = on_grid & (s.line_flux[:, k] >= 80.0)  # detection S/N >~ 12
        assert np.all(dist[strong] < STEP), (NAMES[k], np.sort(dist[strong])[-5:])
        # the weakest (flux 40, S/N ~ 6) can peak one pixel off when noise flattens the top
        assert np.all(dist[on_grid] < 2 * STEP), (NAMES[k], np.sort(dist[on_grid])[-5:])
        found += on_grid.sum()
    # no detection further than a pixel from every true line
    d_all = np.abs(lines.center_angstrom[:, None] - true_c[lines.spec_index]).min(axis=1)
    assert np.mean(d_all > STEP) < 0.002
    assert np.median(d_all) < 0.5
    assert len(lines) >= found


def test_batched_kernel_equals_per_spectrum_loop_exactly():
    s = galaxies(n=40, seed=3, flux_range=(5.0, 200.0))
    s.ivar[5, 100:300] = 0.0
    batch = find_lines(s.flux, s.ivar, WAVE)
    parts = [find_lines(s.flux[i:i + 1], s.ivar[i:i + 1], WAVE) for i in range(len(s.z))]
    loop = DetectedLines.concatenate(parts, list(range(len(s.z))))
    for name, values in batch.columns().items():
        np.testing.assert_array_equal(values, loop.columns()[name], err_msg=name)


def test_detection_flux_and_error_are_the_range_sums():
    s = galaxies(n=30, seed=4)
    cfg = LineFindingConfig()
    lines = find_lines(s.flux, s.ivar, WAVE, cfg)
    resid, _ = residual(s.flux, s.ivar, WAVE, cfg)
    lo = np.rint((lines.start_angstrom - WAVE[0]) / STEP).astype(int)
    hi = np.rint((lines.end_angstrom - WAVE[0]) / STEP).astype(int)
    for i in range(len(lines)):
        r, a, b = lines.spec_index[i], lo[i], hi[i] + 1
        assert lines.flux[i] == pytest.approx(resid[r, a:b].astype(np.float64).sum() * STEP, rel=1e-6)
        assert lines.flux_err[i] == pytest.approx(STEP * np.sqrt(np.sum(1.0 / s.ivar[r, a:b].astype(np.float64))), rel=1e-6)
        assert lines.start_angstrom[i] <= lines.center_angstrom[i] <= lines.end_angstrom[i]
    assert np.all(lines.snr >= cfg.min_snr)
    assert np.all(np.diff(lines.line_index)[np.diff(lines.spec_index) == 0] == 1)


def test_masked_pixels_never_inside_a_line():
    s = galaxies(n=20, seed=5)
    c = s.centres()[:, NAMES.index("Halpha")]
    j = np.rint((c - WAVE[0]) / STEP).astype(int)
    for r in range(len(s.z)):
        if 2 < j[r] < len(WAVE) - 3:
            s.ivar[r, j[r] - 1:j[r] + 2] = 0.0
    lines = find_lines(s.flux, s.ivar, WAVE)
    lo = np.rint((lines.start_angstrom - WAVE[0]) / STEP).astype(int)
    hi = np.rint((lines.end_angstrom - WAVE[0]) / STEP).astype(int)
    for i in range(len(lines)):
        assert np.all(s.ivar[lines.spec_index[i], lo[i]:hi[i] + 1] > 0)


def test_threshold_readings_against_numpy():
    rng = np.random.default_rng(6)
    values = rng.normal(size=(5, 997))
    good = rng.random(values.shape) > 0.2
    rank = line_thresholds(values, good, "rank", 0.1)
    top = line_thresholds(values, good, "top_fraction", 0.1)
    mx = line_thresholds(values, good, "max_fraction", 0.1)
    for r in range(5):
        v = np.sort(values[r][good[r]])[::-1]
        assert rank[r] == v[int(np.floor(0.1 * len(v)))]
        assert np.sum(v > top[r]) == int(np.ceil(0.1 * len(v)))
        assert mx[r] == pytest.approx(0.1 * v[0])
    assert np.isinf(line_thresholds(values[:1], np.zeros((1, 997), bool), "rank", 0.1)[0])


def test_sky_line_veto():
    s = make_line_spectra(1, ("Halpha",), np.array([5578.89 / 6564.61 - 1]), np.array([[200.0]]), seed=7)
    assert len(find_lines(s.flux, s.ivar, WAVE)) == 0
    assert len(find_lines(s.flux, s.ivar, WAVE, NO_SKY)) == 1


def test_white_noise_gives_almost_no_lines():
    rng = np.random.default_rng(8)
    flux = rng.normal(10.0, 1.0, (2000, len(WAVE))).astype(np.float32)
    lines = find_lines(flux, np.ones_like(flux), WAVE)
    assert len(lines) / 2000 < 0.01  # measured 2e-3 per spectrum at the default S/N >= 5


def test_alternative_readings_run_and_flux_source():
    s = galaxies(n=10, seed=9)
    for cfg in (LineFindingConfig(threshold_reading="max_fraction"), LineFindingConfig(threshold_source="flux"),
                LineFindingConfig(threshold_reading="top_fraction")):
        lines = find_lines(s.flux, s.ivar, WAVE, cfg)
        assert len(lines) >= 10  # every spectrum keeps strong lines under every reading


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match="threshold_reading"):
        LineFindingConfig(threshold_reading="median")
    with pytest.raises(ConfigError, match="threshold_fraction"):
        LineFindingConfig(threshold_fraction=1.5)
    with pytest.raises(ConfigError, match="min_snr"):
        LineFindingConfig(min_snr=-1)


def test_all_masked_spectrum_gives_nothing():
    flux = np.full((2, len(WAVE)), np.nan, np.float32)
    assert len(find_lines(flux, np.zeros_like(flux), WAVE)) == 0
    assert not good_pixel_mask(flux, np.ones_like(flux)).any()

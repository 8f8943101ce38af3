"""Resampling kernels against numpy.interp and exact integrals."""
import numpy as np
import pytest

from skysift.spectra.grid import GridConfig
from skysift.spectra.resample import (
    LATTICE_DLOGLAM,
    LATTICE_LOGLAM0,
    resample_batch,
    resample_one_reference,
)

GRID = GridConfig()
LATTICE32 = (LATTICE_LOGLAM0 + LATTICE_DLOGLAM * np.arange(12000)).astype(np.float32)


def _rows(seed, n=40, kind="lattice32"):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        size = int(rng.integers(3700, 3900))
        if kind == "lattice32":
            k0 = int(rng.integers(760, 850))
            loglam = LATTICE32[k0 : k0 + size]
        elif kind == "lattice64":  # LAMOST: COEFF0 + COEFF1 * i in float64
            loglam = 3.5682 + 1e-4 * np.arange(size)
        elif kind == "bigendian":
            k0 = int(rng.integers(760, 850))
            loglam = LATTICE32[k0 : k0 + size].astype(">f4")
        else:  # an arbitrary, irregular but increasing wavelength sampling
            loglam = np.sort(rng.uniform(np.log10(3700), np.log10(9300), size))
        wave = 10.0 ** loglam.astype(np.float64)
        flux = (5 + np.sin(wave / 37.0) + rng.normal(0, 0.3, size)).astype(np.float32)
        ivar = rng.uniform(0.5, 4, size).astype(np.float32)
        mask = np.zeros(size, np.int32)
        for start in rng.integers(0, size - 30, int(rng.integers(0, 5))):
            mask[start : start + int(rng.integers(1, 30))] = 1 << int(rng.integers(0, 30))
        ivar[rng.integers(0, size, 10)] = 0
        if i % 7 == 3:  # edges masked: clamping regions
            mask[:50] = 1
            mask[-80:] = 1
        if i % 11 == 5:
            flux[rng.integers(0, size, 3)] = np.nan
        out.append((loglam, flux, ivar, mask))
    return out


def _numpy_interp(loglam, flux, ivar, mask):
    good = (ivar > 0) & (mask == 0) & np.isfinite(flux)
    return np.interp(GRID.wave_angstrom(), 10.0 ** loglam[good].astype(np.float64), flux[good].astype(np.float64))


@pytest.mark.parametrize("kind", ["lattice32", "lattice64", "bigendian", "irregular"])
def test_linear_equals_numpy_interp(kind):
    rows = _rows(1, kind=kind)
    res = resample_batch(*zip(*rows), GRID)
    for i, row in enumerate(rows):
        expected = _numpy_interp(*row).astype(np.float32)
        # float32 outputs; interior weights are precomputed on the lattice, so allow one float32 ulp
        np.testing.assert_allclose(res.flux[i], expected, rtol=2.5e-7, atol=0)


def test_batch_equals_per_row_reference_including_ivar():
    rows = _rows(2, kind="lattice32") + _rows(3, n=10, kind="irregular")
    res = resample_batch(*zip(*rows), GRID)
    for i, row in enumerate(rows):
        flux, ivar, covered, n_good = resample_one_reference(*row, GRID)
        np.testing.assert_allclose(res.flux[i], flux, rtol=2.5e-7)
        np.testing.assert_allclose(res.ivar[i], ivar, rtol=1e-6)
        assert res.covered_fraction[i] == pytest.approx(covered)
        assert res.n_good_native[i] == n_good


def test_ivar_propagation_formula_and_gap_flags():
    loglam = LATTICE32[800:4700]
    size = len(loglam)
    flux = np.ones(size, np.float32)
    ivar = np.full(size, 4.0, np.float32)
    mask = np.zeros(size, np.int32)
    mask[2000:2010] = 1
    res = resample_batch([loglam], [flux], [ivar], [mask], GRID)
    wave = 10.0 ** loglam.astype(np.float64)
    target = GRID.wave_angstrom()
    j = np.searchsorted(wave, target, side="right") - 1
    w = (target - wave[j]) / (wave[j + 1] - wave[j])
    expected = 1.0 / ((1 - w) ** 2 / 4.0 + w**2 / 4.0)
    bridged = (mask[j] != 0) | (mask[j + 1] != 0)
    np.testing.assert_allclose(res.ivar[0][~bridged], expected[~bridged], rtol=1e-6)
    assert np.all(res.ivar[0][bridged] == 0) and bridged.sum() > 0
    np.testing.assert_allclose(res.flux[0], 1.0)


def test_no_overlap_and_no_good_pixels():
    far = LATTICE32[5000:5500]  # 10^4.0 .. 10^4.05 A: red of the grid
    ok = LATTICE32[800:4700]
    ones = lambda a: np.ones(len(a), np.float32)  # noqa: E731
    res = resample_batch([far, ok, ok], [ones(far), ones(ok), ones(ok)],
                         [ones(far), ones(ok), np.zeros(len(ok), np.float32)],
                         [np.zeros(len(far), np.int32), np.zeros(len(ok), np.int32), np.zeros(len(ok), np.int32)],
                         GRID)
    assert res.covered_fraction.tolist() == [0.0, 1.0, 0.0]
    assert res.n_good_native[2] == 0 and np.all(res.ivar[0] == 0) and np.all(res.ivar[2] == 0)


def test_flux_conserving_keeps_integrated_flux():
    rows = _rows(4, n=12, kind="lattice32")
    edges = GRID.edges_angstrom()
    res = resample_batch(*zip(*rows), GRID, method="flux_conserving")
    for i, (loglam, flux, ivar, mask) in enumerate(rows):
        wave = 10.0 ** loglam.astype(np.float64)
        good = (ivar > 0) & (mask == 0) & np.isfinite(flux)
        filled = np.interp(wave, wave[good], flux[good].astype(np.float64))
        # exact integral of the piecewise-linear spectrum between the outer grid edges, by fine quadrature
        fine = np.linspace(edges[0], edges[-1], 2_000_001)
        integral = np.trapezoid(np.interp(fine, wave, filled), fine)
        ours = np.sum(res.flux[i].astype(np.float64) * np.diff(edges))
        assert ours == pytest.approx(integral, rel=1e-6)
        ref_flux, ref_ivar, _, _ = resample_one_reference(loglam, flux, ivar, mask, GRID, "flux_conserving")
        data = ref_ivar > 0
        np.testing.assert_allclose(res.flux[i][data], ref_flux[data], rtol=1e-5)
        # pixel widths at the last native pixel are one-sided in the reference: 5e-4 covers that
        np.testing.assert_allclose(res.ivar[i], ref_ivar, rtol=5e-4)


def test_lu2022_grid_profile():
    grid = GridConfig(3900.0, 8898.0, 2500)  # Lu et al. 2022: 3900 <= lambda < 8900 A at 2 A, 2500 points
    assert grid.grid_id == "lin:3900:8898:2500"
    assert np.allclose(np.diff(grid.wave_angstrom()), 2.0)
    rows = _rows(5, n=5)
    res = resample_batch(*zip(*rows), grid)
    for i, (loglam, flux, ivar, mask) in enumerate(rows):
        good = (ivar > 0) & (mask == 0) & np.isfinite(flux)
        expected = np.interp(grid.wave_angstrom(), 10.0 ** loglam[good].astype(np.float64), flux[good])
        np.testing.assert_allclose(res.flux[i], expected.astype(np.float32), rtol=2.5e-7)


@pytest.mark.parametrize("frame", ["observed", "rest"])
def test_resample_benchmark_case_agrees_with_its_baseline(frame, tmp_path, capsys):
    from skysift.bench import cases
    from skysift.bench.job import BenchmarkConfig, _line

    cfg = BenchmarkConfig(case="resample", n_spectra=300, batch_spectra=64, frame=frame, record="")
    result = cases.bench_resample(None, cfg, tmp_path, _line)
    assert result["frame"] == frame and result["spectra"] == 300 and result["max_abs_diff"] == 0.0
    assert capsys.readouterr().out.startswith("resample: ours=")


def test_flux_conserving_off_lattice_row_keeps_edge_values_beyond_coverage():
    # a rest-frame row (loglam shifted by log10(1 + z): off the lattice) covering only the middle of the grid:
    # beyond its ends the flux is the edge value (like 'linear'), never the extrapolated edge slope
    wave = np.linspace(4200.0, 5200.0, 400)
    flux = 1.0 + 0.002 * (wave - 4200.0)  # a steep slope: extrapolating it would run far away
    loglam = np.log10(wave) - np.log10(1.137)
    ivar = np.ones_like(flux)
    mask = np.zeros(len(flux), np.int64)
    out, out_ivar, covered, _ = resample_one_reference(loglam, flux, ivar, mask, GRID, "flux_conserving")
    lin, _, _, _ = resample_one_reference(loglam, flux, ivar, mask, GRID, "linear")
    target = GRID.wave_angstrom()
    rest = wave / 1.137
    outside = (target < rest[0] - 5) | (target > rest[-1] + 5)
    assert outside.any() and 0 < covered < 1
    assert np.all(out_ivar[outside] == 0)
    np.testing.assert_allclose(out[outside], lin[outside], rtol=1e-6)  # flux[0] blue-ward, flux[-1] red-ward
    assert out.min() >= flux.min() - 1e-6 and out.max() <= flux.max() + 1e-6

"""spectra.processing: which and_mask bits make a gap, per survey; the real SDSS sample under both rules."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.config import ConfigError, load_config
from skysift.spectra.grid import GridConfig
from skysift.spectra.native import NativeSpectrum
from skysift.spectra.processing import ProcessingConfig, process_spectra_arrow

# written out from the two surveys' data models (not imported), so that a change of a default fails here
SDSS = {"NOPLUG": 0, "BADARC": 3, "MANYBADCOLUMNS": 4, "NEARBADPIXEL": 16, "FULLREJECT": 18, "BRIGHTSKY": 23}
LAMOST = {"BADCCD": 0, "BRIGHTSKY": 3, "BADCENTER": 4}

LOGLAM = (3.5 + 1e-4 * np.arange(800, 6000)).astype(np.float32)  # the SDSS lattice, 3802-9120 A
WAVE = 10.0 ** LOGLAM.astype(np.float64)
GRID = GridConfig()  # 3850-9000 A, 3688 points


def _spiked(survey: str, bits: dict[int, int]) -> tuple[NativeSpectrum, np.ndarray]:
    """Flat flux 1 with ivar 1 everywhere; pixel p has flux 1 + 10 * (its rank + 1) and and_mask bits[p]."""
    flux = np.ones(LOGLAM.size, np.float32)
    mask = np.zeros(LOGLAM.size, np.int32)
    for rank, (pixel, value) in enumerate(sorted(bits.items())):
        flux[pixel] = 1.0 + 10.0 * (rank + 1)
        mask[pixel] = value
    spec = NativeSpectrum(f"{survey}-1", survey, LOGLAM, flux, np.ones_like(flux), mask, 10.0, 20.0, 0.1,
                          source_file=f"{survey}.fits")
    return spec, flux


def _row(spec: NativeSpectrum, cfg: ProcessingConfig) -> tuple[np.ndarray, np.ndarray]:
    table, rejects = process_spectra_arrow([spec], cfg)
    assert not rejects and table.num_rows == 1
    factor = table.column("norm_factor")[0].as_py()
    return (np.asarray(table.column("flux")[0].as_py(), np.float64) * factor,
            np.asarray(table.column("ivar")[0].as_py()))


# pixels near 5000 / 6000 / 7000 / 8000 A, far apart so that each spike is bracketed on its own
PIXELS = [int(np.argmin(np.abs(WAVE - w))) for w in (5000.0, 6000.0, 7000.0, 8000.0)]


@pytest.mark.parametrize(
    "survey, bits, gaps",
    [
        # SDSS: fibre-level MANYBADCOLUMNS / BADARC and NEARBADPIXEL are kept, FULLREJECT / BRIGHTSKY are gaps
        ("sdss", [SDSS["MANYBADCOLUMNS"], SDSS["NEARBADPIXEL"], SDSS["FULLREJECT"], SDSS["BRIGHTSKY"]],
         [False, False, True, True]),
        ("boss", [SDSS["BADARC"], SDSS["NOPLUG"], SDSS["MANYBADCOLUMNS"], SDSS["FULLREJECT"]],
         [False, True, False, True]),
        ("synth", [SDSS["BADARC"], SDSS["BRIGHTSKY"], SDSS["NEARBADPIXEL"], SDSS["FULLREJECT"]],
         [False, True, False, True]),
        # LAMOST numbers its bits differently: 3 = BRIGHTSKY and 4 = BADCENTER are gaps there; 18 and 23 mean nothing
        ("lamost", [LAMOST["BRIGHTSKY"], LAMOST["BADCENTER"], SDSS["FULLREJECT"], LAMOST["BADCCD"]],
         [True, True, False, True]),
        # a survey without a table of fatal bits: every bit is a gap
        ("newsurvey", [SDSS["MANYBADCOLUMNS"], SDSS["BADARC"], 30, 1], [True, True, True, True]),
    ],
)
def test_fatal_bits_follow_the_rows_survey(survey, bits, gaps):
    spec, flux = _spiked(survey, {p: 1 << b for p, b in zip(PIXELS, bits)})
    got_flux, got_ivar = _row(spec, ProcessingConfig())
    good = np.ones(LOGLAM.size, bool)
    good[[p for p, g in zip(PIXELS, gaps) if g]] = False
    expected = np.interp(GRID.wave_angstrom(), WAVE[good], flux[good].astype(np.float64))
    np.testing.assert_allclose(got_flux, expected, rtol=1e-5, atol=1e-5)
    grid = GRID.wave_angstrom()
    for pixel, gap in zip(PIXELS, gaps):
        # grid points whose bracketing native pixels include this one
        near = (grid > WAVE[pixel - 1]) & (grid < WAVE[pixel + 1])
        assert near.any()
        if gap:
            assert (got_ivar[near] == 0).all(), (survey, pixel)  # bridged: no data there
            assert got_flux[near].max() < 1.5  # the spike is gone
        else:
            assert (got_ivar[near] > 0).all(), (survey, pixel)
            assert got_flux[near].max() > 1.5  # the spike's pixel was used


def test_mask_rule_any_makes_every_bit_a_gap():
    bits = [SDSS["MANYBADCOLUMNS"], SDSS["NEARBADPIXEL"], SDSS["BADARC"], 31]
    for survey in ("sdss", "lamost"):
        spec, flux = _spiked(survey, {p: (1 << b) if b < 31 else -(1 << 31) for p, b in zip(PIXELS, bits)})
        got_flux, got_ivar = _row(spec, ProcessingConfig(mask_rule="any"))
        good = np.ones(LOGLAM.size, bool)
        good[PIXELS] = False
        expected = np.interp(GRID.wave_angstrom(), WAVE[good], flux[good].astype(np.float64))
        np.testing.assert_allclose(got_flux, expected, rtol=1e-5, atol=1e-5)


def test_bit_31_is_not_lost_to_the_sign_of_int32():
    spec, flux = _spiked("sdss", {PIXELS[0]: -(1 << 31)})
    got_flux, got_ivar = _row(spec, ProcessingConfig(mask_bits_sdss=(31,)))
    near = (GRID.wave_angstrom() > WAVE[PIXELS[0] - 1]) & (GRID.wave_angstrom() < WAVE[PIXELS[0] + 1])
    assert (got_ivar[near] == 0).all()


def test_mask_config_is_validated():
    with pytest.raises(ConfigError, match="mask_rule"):
        load_config(ProcessingConfig, None, ["mask_rule=some"])
    with pytest.raises(ConfigError, match=r"mask_bits_sdss must be bit numbers 0\.\.31"):
        ProcessingConfig(mask_bits_sdss=(40,))
    with pytest.raises(ConfigError, match="mask_bits_lamost"):
        ProcessingConfig(mask_bits_lamost=(-1,))
    cfg = load_config(ProcessingConfig, None, ["mask_bits_sdss=[18, 24]"])
    assert cfg.mask_bits_sdss == (18, 24) and cfg.mask_bits_lamost == (0, 1, 2, 3, 4, 5)


def _ivar_span(spec: NativeSpectrum, grid: np.ndarray) -> float:
    wave = 10.0 ** spec.loglam.astype(np.float64)
    positive = spec.ivar > 0
    return float(((grid >= wave[positive].min()) & (grid <= wave[positive].max())).mean())


def test_real_sdss_files_with_ivar_over_the_grid_are_all_kept(shared_data):
    """The default keeps every real SDSS spectrum whose ivar > 0 pixels span the grid; 'any' loses two."""
    from skysift.io.spectra_fits import read_spectra_file

    files = sorted((shared_data / "sdss-spectra").glob("*.fits"))
    spectra = [s for f in files for s in read_spectra_file(f)]
    assert len(spectra) == len(files) == 17 and all(hasattr(s, "flux") for s in spectra)
    grid = GRID.wave_angstrom()
    assert min(_ivar_span(s, grid) for s in spectra) >= 0.5  # the quasar (to 7350 A) spans 0.68
    table, rejects = process_spectra_arrow(spectra, ProcessingConfig())
    assert table.num_rows == 17 and not rejects, [r.reason for r in rejects]
    # the old rule: the two files whose red camera carries the fibre-level MANYBADCOLUMNS bit
    table, rejects = process_spectra_arrow(spectra, ProcessingConfig(mask_rule="any"))
    lost = sorted(r.source_file.rsplit("/", 1)[-1] for r in rejects)
    assert lost == ["spec-0266-51630-0174.fits", "spec-0332-52367-0639.fits", "spec-1931-53358-0251.fits"]
    assert all("covers 0.45 of grid" in r.reason for r in rejects)


def test_real_lamost_files_are_all_kept(shared_data):
    from skysift.io.spectra_fits import read_spectra_file

    spectra = [s for f in sorted((shared_data / "lamost-spectra").glob("*.fits")) for s in read_spectra_file(f)]
    table, rejects = process_spectra_arrow(spectra, ProcessingConfig())
    assert table.num_rows == 11 and not rejects

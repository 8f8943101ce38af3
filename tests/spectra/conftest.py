"""The real SDSS / LAMOST sample resampled onto the Lu et al. 2022 grid (3900 <= lambda < 8900 A, 2 A)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass
class GridSample:
    spectra: list  # NativeSpectrum, in file order
    flux: np.ndarray
    ivar: np.ndarray
    wave: np.ndarray

    def rows(self, survey_prefix: str) -> np.ndarray:
        return np.array([i for i, s in enumerate(self.spectra) if s.spec_id.startswith(survey_prefix)])


@pytest.fixture(scope="session")
def paper_grid_sample(shared_data) -> GridSample:
    from skysift.io.spectra_fits import read_spectra_file
    from skysift.spectra.grid import GridConfig
    from skysift.spectra.resample import resample_batch

    files = sorted((shared_data / "sdss-spectra").glob("*.fits")) + sorted((shared_data / "lamost-spectra").glob("*.fits"))
    spectra = [s for f in files for s in read_spectra_file(f) if hasattr(s, "flux")]
    grid = GridConfig(3900.0, 8898.0, 2500)  # the paper's half-open grid np.arange(3900, 8900, 2)
    wave = grid.wave_angstrom()
    np.testing.assert_allclose(wave, np.arange(3900.0, 8900.0, 2.0))
    batch = resample_batch([s.loglam for s in spectra], [s.flux for s in spectra], [s.ivar for s in spectra],
                           [s.and_mask for s in spectra], grid)
    return GridSample(spectra, batch.flux, batch.ivar, wave)

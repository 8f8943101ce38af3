"""Spectra on their native sampling: what readers and the synthetic survey hand to resampling.

A ``NativeSpectrum`` is one spectrum as the survey delivered it: wavelengths as
log10(Angstrom) (SDSS ``loglam``; LAMOST ``COEFF0 + COEFF1 * i`` or log10 of its
WAVELENGTH row/column), flux, inverse variance and a pixel mask (non-zero = bad,
SDSS ``and_mask`` / LAMOST ``andmask``), plus the metadata columns of the
``spectra`` table. Arrays keep the file's dtype (loglam typically float32);
resampling converts them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class NativeSpectrum:
    """One spectrum on its native wavelength sampling, with its catalogue metadata."""

    spec_id: str
    """Unique id: sdss-PLATE-MJD-FIBER, lamost-OBSID or lamost-LMJD-PLANID-SPID-FIBER, synth-N."""
    survey: str
    """sdss | boss | lamost | synth."""
    loglam: np.ndarray
    """log10 of vacuum wavelength in Angstrom per pixel, ascending (float32 or float64)."""
    flux: np.ndarray
    """Flux density per pixel (SDSS: 1e-17 erg/s/cm2/A)."""
    ivar: np.ndarray
    """Inverse variance of flux per pixel; 0 marks no data."""
    and_mask: np.ndarray
    """Pixel mask, non-zero = bad pixel (SDSS and_mask, LAMOST andmask); zeros when the file has none."""
    ra_deg: float
    """Right ascension, degrees."""
    dec_deg: float
    """Declination, degrees."""
    z: float | None
    """Pipeline redshift, None when unknown."""
    z_err: float | None = None
    """Redshift error, None when unknown."""
    class_: str | None = None
    """Pipeline class (GALAXY/QSO/STAR)."""
    subclass: str | None = None
    """Pipeline subclass."""
    source_file: str = ""
    """Path of the file it was read from."""
    row_index: int | None = None
    """Index of the spectrum inside its file, when a file holds several."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else a reader wants to carry (not written to the spectra table)."""

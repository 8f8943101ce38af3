"""What every spectrum reader shares: the problem type and the validation of a read spectrum."""
from __future__ import annotations

import math

import numpy as np

from skysift.spectra.native import NativeSpectrum

# log10(Angstrom) bounds of anything we accept as optical/near-IR wavelengths (about 316 A to 316,000 A).
# Spectra inside these bounds but off the output grid pass: the resampler rejects them with its own reason.
LOGLAM_PLAUSIBLE = (2.5, 5.5)


class SpectrumProblem(Exception):
    """A reader could not produce a usable spectrum; ``stage`` is 'read' or 'validate'."""

    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


def clean_text(value) -> str | None:
    """Header/column text stripped; '' and None become None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip()
    return text or None


def finite_or_none(value, sentinel: float = -9999.0) -> float | None:
    """A float, or None for missing / unparsable / NaN / the survey's 'unknown' sentinel (LAMOST writes -9999)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value == sentinel:
        return None
    return value


def as_1d(name: str, arr: np.ndarray, where: str) -> np.ndarray:
    """Squeeze a one-row array column to 1-D; anything else that is not 1-D is a shape problem."""
    arr = np.asarray(arr)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise SpectrumProblem("read", f"{where} column {name} has shape {arr.shape}, expected one value per pixel")
    return arr


def validate(spec: NativeSpectrum) -> NativeSpectrum:
    """Check one spectrum and mend what is mendable; raise SpectrumProblem otherwise.

    Mended in place: pixels whose flux or ivar is NaN/inf, or whose ivar is negative, get
    ivar = 0 (the resampler's gap marker) and flux = 0 (so that no NaN reaches a kernel
    that multiplies by ivar); the count goes to ``extra['n_bad_pixels_zeroed']``.
    """
    n = spec.loglam.shape[0]
    shapes = {"loglam": spec.loglam.shape, "flux": spec.flux.shape, "ivar": spec.ivar.shape, "and_mask": spec.and_mask.shape}
    if any(len(s) != 1 or s[0] != n for s in shapes.values()):
        raise SpectrumProblem("read", "arrays differ in shape: " + ", ".join(f"{k}{v}" for k, v in shapes.items()))
    if n < 2:
        raise SpectrumProblem("read", f"spectrum has {n} pixel(s)")
    loglam = spec.loglam
    if not np.all(np.isfinite(loglam)):
        raise SpectrumProblem("validate", f"wavelength has {int(np.sum(~np.isfinite(loglam)))} NaN/inf value(s)")
    step = np.diff(loglam)
    if not np.all(step > 0):
        bad = int(np.argmax(step <= 0))
        raise SpectrumProblem(
            "validate",
            f"wavelength not strictly increasing (log10 {float(loglam[bad]):.6f} then {float(loglam[bad + 1]):.6f} at pixel {bad})",
        )
    lo, hi = float(loglam[0]), float(loglam[-1])
    if lo < LOGLAM_PLAUSIBLE[0] or hi > LOGLAM_PLAUSIBLE[1]:
        raise SpectrumProblem(
            "validate", f"wavelength log10(A) range {lo:.4f}..{hi:.4f} is outside the plausible {LOGLAM_PLAUSIBLE[0]}..{LOGLAM_PLAUSIBLE[1]}"
        )
    flux_ok = np.isfinite(spec.flux)
    if not flux_ok.any():
        raise SpectrumProblem("validate", f"all {n} flux values are NaN/inf")
    ivar = spec.ivar
    ivar_ok = np.isfinite(ivar) & (ivar > 0)
    good = flux_ok & ivar_ok
    if not good.any():
        why = "ivar is 0 (or NaN/negative)" if not ivar_ok.any() else "pixels with ivar > 0 have NaN flux"
        raise SpectrumProblem("validate", f"no usable pixel: {why} for all {n} pixels")
    if not np.any(spec.flux[good] != 0):
        raise SpectrumProblem("validate", f"flux is 0 at all {int(good.sum())} pixels with ivar > 0")
    bad_px = ~good & (~flux_ok | ~np.isfinite(ivar) | (ivar < 0))
    n_bad = int(bad_px.sum())
    if n_bad:
        spec.flux = spec.flux.copy()
        spec.ivar = spec.ivar.copy()
        spec.flux[bad_px] = 0
        spec.ivar[bad_px] = 0
    spec.extra["n_bad_pixels_zeroed"] = n_bad
    ra, dec = spec.ra_deg, spec.dec_deg
    if ra is None or not math.isfinite(ra) or not 0.0 <= ra <= 360.0:
        raise SpectrumProblem("validate", f"RA {ra!r} is not a finite angle in [0, 360] deg")
    if dec is None or not math.isfinite(dec) or not -90.0 <= dec <= 90.0:
        raise SpectrumProblem("validate", f"Dec {dec!r} is not a finite angle in [-90, 90] deg")
    if ra == 360.0:
        spec.ra_deg = 0.0
    return spec

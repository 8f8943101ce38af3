"""Native spectra -> rows of the ``spectra`` table: resample, check coverage, normalise, index the sky.

``process_spectra_arrow`` is the per-batch worker shared by ``ingest-spectra``
(spectra read from FITS files on executors) and ``synth-survey --set
format=parquet`` (spectra generated on executors): both hand it a list of
``NativeSpectrum`` and get back an Arrow table in the SPECTRA schema plus the
rows it rejected. It is plain Python + numpy, so the sequential benchmark
baseline and the tests call the same function Spark calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import pyarrow as pa

from skysift.config import ConfigError, require
from skysift.io.readers import lamost, sdss
from skysift.sky.healpix import degrade, healpix_index, valid_position
from skysift.schema import SPECTRA
from skysift.spectra.grid import GridConfig
from skysift.spectra.native import NativeSpectrum
from skysift.runtime.rejects import Reject
from skysift.spectra.normalise import normalise
from skysift.spectra.resample import resample_batch


@dataclass(frozen=True)
class ProcessingConfig:
    """How native spectra become rows of the spectra table."""

    grid: GridConfig = field(default_factory=GridConfig)
    """Output wavelength grid (default Tang et al. 2025: linear 3850-9000 A, 3688 points, observed frame).
    With ``grid.frame: rest`` each spectrum is moved to its rest frame with the survey's z first
    (conf/ingest_spectra_rest.yaml); rows without a usable z are rejected."""
    resample_method: Literal["linear", "flux_conserving"] = "linear"
    """'linear' = numpy.interp of flux over good pixels (Tang et al.); 'flux_conserving' = bin means."""
    normalisation: Literal["median_rest_5300_5850", "lu2022", "l2", "none"] = "median_rest_5300_5850"
    """Tang et al. 2025: median flux in rest 5300-5850 A = 1; Lu et al. 2022: f_i / sum f_j^2; l2; none."""
    rest_window_angstrom: tuple[float, float] = (5300.0, 5850.0)
    """Rest-frame window for the median normalisation (Tang et al. 2025)."""
    min_window_pixels: int = 20
    """Fewer good pixels than this in the rest window -> fall back to the median over the whole spectrum."""
    min_coverage_fraction: float = 0.5
    """Reject spectra whose good native pixels span less than this fraction of the output grid."""
    partition_order: int = 3
    """HEALPix order of the coarse partition column healpix_part (order 3 = 768 pixels of ~54 deg^2)."""
    mask_rule: Literal["fatal", "any"] = "fatal"
    """Which and_mask bits make a pixel a gap (ivar = 0 and non-finite values always do). 'fatal' (default,
    SDSS's own practice: trust ivar, treat a few bits as fatal): only the bits of mask_bits_sdss (rows of
    survey sdss / boss / synth) or mask_bits_lamost (lamost); rows of any other survey fall back to 'any'.
    'any' = every set bit is a gap (the rule before issue 19: it rejected 2 of the 17 real SDSS files,
    whose fibre-level MANYBADCOLUMNS bit covers their red camera)."""
    mask_bits_sdss: tuple[int, ...] = tuple(sdss.SPPIXMASK[name] for name in sdss.FATAL_MASK_BITS)
    """SDSS/BOSS spPixMask bits that are fatal under mask_rule 'fatal': 0 NOPLUG, 18 FULLREJECT, 22 NOSKY,
    23 BRIGHTSKY, 24 NODATA (skysift choice after SDSS practice; why each: io/readers/sdss.py)."""
    mask_bits_lamost: tuple[int, ...] = tuple(lamost.ANDMASK_BITS[name] for name in lamost.FATAL_MASK_BITS)
    """LAMOST andmask bits that are fatal under mask_rule 'fatal': 0 BADCCD, 1 BADPROFILE, 2 NOSKY,
    3 BRIGHTSKY, 4 BADCENTER, 5 NODATA, i.e. all of LAMOST's (io/readers/lamost.py)."""

    def __post_init__(self):
        require(0.0 < self.min_coverage_fraction <= 1.0, "min_coverage_fraction must be in (0, 1]")
        require(0 <= self.partition_order <= 12, "partition_order must be in 0..12")
        require(self.mask_rule in ("fatal", "any"), f"mask_rule must be 'fatal' or 'any', got {self.mask_rule!r}")
        for name in ("mask_bits_sdss", "mask_bits_lamost"):
            bits = getattr(self, name)
            require(all(0 <= b <= 31 for b in bits), f"{name} must be bit numbers 0..31 (32-bit masks), got {bits}")
        require(self.min_window_pixels >= 1, "min_window_pixels must be >= 1")
        lo, hi = self.rest_window_angstrom
        require(0 < lo < hi, f"rest_window_angstrom must be (lo, hi) with 0 < lo < hi, got {self.rest_window_angstrom}")


def process_spectra_arrow(
    spectra: Sequence[NativeSpectrum], cfg: ProcessingConfig
) -> tuple[pa.Table, list[Reject]]:
    """Resample, normalise and index one batch; returns (SPECTRA-schema table, rejects)."""
    if cfg.grid.from_model:
        raise ConfigError(f"processing.grid.from_model={cfg.grid.from_model}: resolve it on the driver first "
                          "(spectra.grid.resolve_grid, as ingest-spectra does)")
    rejects: list[Reject] = []
    ra = np.array([s.ra_deg for s in spectra], dtype=np.float64)
    dec = np.array([s.dec_deg for s in spectra], dtype=np.float64)
    ok_pos = valid_position(ra, dec) if len(spectra) else np.zeros(0, bool)
    for i in np.flatnonzero(~ok_pos):
        s = spectra[i]
        rejects.append(_reject(s, "validate", f"invalid position ra={s.ra_deg!r} dec={s.dec_deg!r}"))
    keep = [s for s, ok in zip(spectra, ok_pos) if ok]
    rest_frame = cfg.grid.frame == "rest"
    if rest_frame:
        keep, bad_z = _with_redshift(keep)
        rejects += [_reject(s, "rest_frame", f"rest-frame grid needs a redshift, z={s.z!r}") for s in bad_z]
    if not keep:
        return SPECTRA.empty_table(), rejects
    masks = [gap_mask(s, cfg) for s in keep]
    loglam = [_rest_loglam(s) for s in keep] if rest_frame else [s.loglam for s in keep]
    res = resample_batch(loglam, [s.flux for s in keep], [s.ivar for s in keep], masks, cfg.grid, cfg.resample_method)
    usable = (res.n_good_native > 0) & (res.covered_fraction >= cfg.min_coverage_fraction)
    for i in np.flatnonzero(~usable):
        s = keep[i]
        if res.n_good_native[i] == 0:
            reason = "no good pixels (all ivar=0, masked or non-finite)"
        elif res.covered_fraction[i] == 0:
            lo, hi = 10 ** float(np.min(loglam[i])), 10 ** float(np.max(loglam[i]))
            at_z = f" in the rest frame at z={s.z:.4g}" if rest_frame else ""
            reason = (
                f"no overlap with grid {cfg.grid.start_angstrom:g}-{cfg.grid.stop_angstrom:g} A "
                f"(spectrum covers {lo:.0f}-{hi:.0f} A{at_z})"
            )
        else:
            at_z = f" at z={s.z:.4g}" if rest_frame else ""
            reason = (
                f"covers {res.covered_fraction[i]:.2f} of grid {cfg.grid.grid_id}{at_z}, "
                f"below min_coverage_fraction={cfg.min_coverage_fraction}"
            )
        rejects.append(_reject(s, "resample", reason))
    idx = np.flatnonzero(usable)
    keep = [keep[i] for i in idx]
    flux, ivar = res.flux[idx], res.ivar[idx]
    z = np.array([np.nan if s.z is None else s.z for s in keep], dtype=np.float64)
    if rest_frame:
        z = np.zeros_like(z)  # the grid is already rest frame: the rest window needs no shift
    flux, ivar, factor, method = normalise(
        flux, ivar, cfg.grid.wave_angstrom(), z, cfg.normalisation, cfg.rest_window_angstrom, cfg.min_window_pixels
    )
    normal = np.isfinite(factor)
    for i in np.flatnonzero(~normal):
        rejects.append(_reject(keep[i], "normalise", f"cannot normalise ({cfg.normalisation}): flux level <= 0"))
    sel = np.flatnonzero(normal)
    keep = [keep[i] for i in sel]
    flux, ivar, factor, method = flux[sel], ivar[sel], factor[sel], method[sel]
    return _to_table(keep, flux, ivar, factor, method, cfg), rejects


# Which fatal-bit list applies to a row, by NativeSpectrum.survey (synthetic SDSS-layout rows carry SDSS bits,
# synthetic LAMOST files LAMOST bits: synth.fits_writers.lamost_and_mask).
MASK_FAMILY = {"sdss": "sdss", "boss": "sdss", "synth": "sdss", "lamost": "lamost"}


def fatal_bits(survey: str, cfg: ProcessingConfig) -> int | None:
    """The and_mask bits (as one integer) that make a pixel of a ``survey`` row a gap; None = every bit."""
    family = MASK_FAMILY.get(survey)
    if cfg.mask_rule == "any" or family is None:
        return None
    bits = cfg.mask_bits_sdss if family == "sdss" else cfg.mask_bits_lamost
    return sum(1 << b for b in set(bits))


def gap_mask(s: NativeSpectrum, cfg: ProcessingConfig) -> np.ndarray:
    """The row's and_mask reduced to its gap-making bits (non-zero = gap), for the resampler."""
    selected = fatal_bits(s.survey, cfg)
    mask = np.asarray(s.and_mask)
    if selected is None:
        return mask
    # int64 first: a 32-bit mask with bit 31 set is negative in int32, and & must keep it
    return mask.astype(np.int64) & np.int64(selected)


def _with_redshift(spectra: Sequence[NativeSpectrum]) -> tuple[list[NativeSpectrum], list[NativeSpectrum]]:
    """(rows with a finite z > -1, the others): a rest-frame grid cannot place the rest."""
    good, bad = [], []
    for s in spectra:
        ok = s.z is not None and np.isfinite(s.z) and s.z > -1.0
        (good if ok else bad).append(s)
    return good, bad


def _rest_loglam(s: NativeSpectrum) -> np.ndarray:
    """log10 rest-frame wavelength, lambda_rest = lambda_obs / (1 + z).

    The flux density is not multiplied by (1 + z): every normalisation but 'none' divides that constant
    out again. The shifted pixels leave the survey lattice, so these rows take the resampler's general
    (per-row numpy.interp) path, which gives the same answer.
    """
    return np.asarray(s.loglam, dtype=np.float64) - np.log10(1.0 + float(s.z))


def _reject(s: NativeSpectrum, stage: str, reason: str) -> Reject:
    where = s.source_file or s.spec_id
    return Reject(source_file=s.source_file, stage=stage, reason=f"{where}: {reason}", row_index=s.row_index,
                  spec_id=s.spec_id)


def _list_column(matrix: np.ndarray) -> pa.ListArray:
    """A (rows, n) float32 matrix as an Arrow list<float32> column without per-row copies."""
    rows, n = matrix.shape
    values = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
    offsets = pa.array(np.arange(0, (rows + 1) * n, n, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values, type=pa.list_(pa.float32()))


def _to_table(keep, flux, ivar, factor, method, cfg: ProcessingConfig) -> pa.Table:
    if not keep:
        return SPECTRA.empty_table()
    ra = np.array([s.ra_deg for s in keep], dtype=np.float64)
    dec = np.array([s.dec_deg for s in keep], dtype=np.float64)
    hpx = healpix_index(ra, dec)
    with np.errstate(invalid="ignore"):
        snr = flux * np.sqrt(ivar)
    snr_median = _median_where(snr, ivar > 0)
    columns = {
        "spec_id": pa.array([s.spec_id for s in keep], pa.string()),
        "survey": pa.array([s.survey for s in keep], pa.string()),
        "ra_deg": pa.array(ra),
        "dec_deg": pa.array(dec),
        "healpix29": pa.array(hpx, pa.int64()),
        "z": pa.array([s.z for s in keep], pa.float64()),
        "z_err": pa.array([s.z_err for s in keep], pa.float64()),
        "class": pa.array([s.class_ for s in keep], pa.string()),
        "subclass": pa.array([s.subclass for s in keep], pa.string()),
        "source_file": pa.array([s.source_file for s in keep], pa.string()),
        "flux": _list_column(flux),
        "ivar": _list_column(ivar),
        "masked_fraction": pa.array((ivar == 0).mean(axis=1).astype(np.float32)),
        "norm_factor": pa.array(factor.astype(np.float32)),
        "norm_method": pa.array(list(method), pa.string()),
        "snr_median": pa.array(snr_median.astype(np.float32)),
        "grid_id": pa.array([cfg.grid.grid_id] * len(keep), pa.string()),
        "healpix_part": pa.array(degrade(hpx, 29, cfg.partition_order).astype(np.int32)),
    }
    return pa.table(columns, schema=SPECTRA)


def _median_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skysift.spectra.normalise import masked_median

    return np.nan_to_num(masked_median(values, mask & np.isfinite(values)), nan=0.0)


def process_spectra(spectra: Sequence[NativeSpectrum], cfg: ProcessingConfig):
    """Like process_spectra_arrow but returns a pandas DataFrame (list columns as numpy arrays).

    Prefer the Arrow form inside Spark (``mapInArrow``): it avoids a per-row copy of every spectrum.
    """
    table, rejects = process_spectra_arrow(spectra, cfg)
    return table.to_pandas(), rejects

"""Survey geometry: runs, camcols, fields, sky cells, each band's TAN WCS, and a field's observing conditions.

A run scans along RA at constant Dec, as SDSS stripe 82 does. Frame columns (x,
2048) run along +Dec and rows (y, 1489) along +RA, exactly as in the real frames
in ../shared/data (CD1_2 = dRA/dy and CD2_1 = dDec/dx are the non-zero terms).
Field k of a camcol is centred ``k * field_step_rows`` rows after field 0, so
consecutive fields overlap by ``rows - field_step_rows`` rows (SDSS: 128 of 1489).

Objects live on the sky in *cells*: cell k of a camcol is the part of the scan
nearer to field k's centre than to any other (``field_step_rows`` long), as wide as
a frame plus ``cell_margin_px`` on both sides. Field k is covered by cells k-1, k,
k+1, so a field is made from (seed, field index) alone and an object in an overlap
is the same object in both fields. Cells -1 and n_fields exist too: their objects
fill the outer overlaps of the first and last field.

Every random quantity of a field comes from ``default_rng([seed, stream, camcol, k + 1])``
(four entropy words: never equal to the spectral model's [seed, row] or the plates'
[seed, 1, plate]).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS

from skysift.synth.imaging.bands import BANDS, WAVE_EFF_ANGSTROM
from skysift.synth.imaging.config import ImagingSurveyConfig, PSFConfig

FIELD_STREAM = 11
OBJECT_STREAM = 12
NOISE_STREAM = 13
CATALOG_STREAM = 14
STAMP_STREAM = 15
ARTEFACT_STREAM = 16
MJD0 = 57000.0
"""MJD of the first field of a synthetic run (arbitrary; written into headers)."""
SECONDS_PER_ROW = 0.026322
"""Drift-scan row time (the real frames' C_OBS = 26322 us per row)."""


@dataclass(frozen=True)
class FieldId:
    """Where a field sits in the survey."""

    index: int
    """Global field index 0 .. n_camcols * n_fields - 1 (camcol-major)."""
    camcol: int
    """Camera column 1..6."""
    k: int
    """Field position along the run, 0 .. n_fields - 1."""
    field: int
    """SDSS field number (first_field + k)."""
    run: int
    """Run number."""


def n_field_indices(cfg: ImagingSurveyConfig) -> int:
    """Number of fields of the survey (all camcols)."""
    return len(cfg.camcols) * cfg.n_fields


def field_id(cfg: ImagingSurveyConfig, index: int) -> FieldId:
    """The field of global index ``index``; a clear error outside the survey."""
    n = n_field_indices(cfg)
    if not 0 <= int(index) < n:
        raise ValueError(f"field index {index} outside the survey: expected 0 .. {n - 1} ({len(cfg.camcols)} camcols x {cfg.n_fields} fields)")
    c, k = divmod(int(index), cfg.n_fields)
    return FieldId(index=int(index), camcol=cfg.camcols[c], k=k, field=cfg.first_field + k, run=cfg.run)


def pixel_scale_deg(cfg: ImagingSurveyConfig) -> float:
    """Pixel scale in degrees."""
    return cfg.pixel_scale_arcsec / 3600.0


def camcol_dec_deg(cfg: ImagingSurveyConfig, camcol: int) -> float:
    """Dec of a camcol's centre line: camcol 1 at dec0, the others ``camcol_spacing_deg`` apart."""
    return cfg.dec0_deg + (camcol - 1) * cfg.camcol_spacing_deg


def _ra_step_deg(cfg: ImagingSurveyConfig, camcol: int) -> float:
    return cfg.field_step_rows * pixel_scale_deg(cfg) / np.cos(np.radians(camcol_dec_deg(cfg, camcol)))


def field_centre_deg(cfg: ImagingSurveyConfig, camcol: int, k: int) -> tuple[float, float]:
    """(RA, Dec) of the centre of field k of ``camcol`` (the r frame's reference pixel)."""
    return (cfg.ra0_deg + k * _ra_step_deg(cfg, camcol)) % 360.0, camcol_dec_deg(cfg, camcol)


def cell_bounds_deg(cfg: ImagingSurveyConfig, camcol: int, k: int) -> tuple[float, float, float, float]:
    """(ra_lo, ra_hi, dec_lo, dec_hi) of sky cell k (ra_lo may exceed 360 for wrap; use modulo)."""
    step = _ra_step_deg(cfg, camcol)
    ra_lo = cfg.ra0_deg + (k - 0.5) * step
    half_width = (cfg.shape_px[1] / 2 + cfg.cell_margin_px) * pixel_scale_deg(cfg)
    dec = camcol_dec_deg(cfg, camcol)
    return ra_lo, ra_lo + step, dec - half_width, dec + half_width


def cell_area_deg2(cfg: ImagingSurveyConfig, camcol: int, k: int) -> float:
    """Solid angle of a cell in deg2 (exact for the RA x Dec box)."""
    ra_lo, ra_hi, dec_lo, dec_hi = cell_bounds_deg(cfg, camcol, k)
    return (ra_hi - ra_lo) * (np.sin(np.radians(dec_hi)) - np.sin(np.radians(dec_lo))) * 180.0 / np.pi


@dataclass(frozen=True)
class FieldConditions:
    """Observing conditions of one field: PSF per band, band WCS offsets and rotations, time."""

    fwhm_arcsec: np.ndarray
    """(5,) PSF FWHM per band u g r i z."""
    offset_px: np.ndarray
    """(5, 2) offset (x, y) of each band's pixel grid from the r band's, in pixels (r: 0)."""
    rotation_rad: np.ndarray
    """(5,) rotation of each band's grid from the r band's (r: 0)."""
    mjd: float
    """MJD of the field's first row in r."""
    airmass: float
    """Airmass (written into the trace HDU)."""


def draw_fwhm(gen: np.random.Generator, psf: PSFConfig, bands: tuple[str, ...] = BANDS) -> np.ndarray:
    """Per-band FWHM: an r-band seeing uniform in [min, max], scaled by (lambda / lambda_r)^slope and clipped."""
    fwhm_r = gen.uniform(psf.fwhm_min_arcsec, psf.fwhm_max_arcsec)
    lam = WAVE_EFF_ANGSTROM[[BANDS.index(b) for b in bands]]
    return np.clip(fwhm_r * (lam / WAVE_EFF_ANGSTROM[2]) ** psf.wavelength_slope, psf.fwhm_min_arcsec, psf.fwhm_max_arcsec)


def field_conditions(seed: int, cfg: ImagingSurveyConfig, fid: FieldId) -> FieldConditions:
    """The conditions of field ``fid``, from (seed, camcol, k) only."""
    gen = np.random.default_rng([int(seed), FIELD_STREAM, fid.camcol, fid.k + 1])
    fwhm = draw_fwhm(gen, cfg.psf)
    offset = gen.uniform(-cfg.band_offset_max_px, cfg.band_offset_max_px, (5, 2))
    rotation = gen.uniform(-cfg.band_rotation_max_rad, cfg.band_rotation_max_rad, 5)
    offset[2] = 0.0
    rotation[2] = 0.0
    mjd = MJD0 + fid.k * cfg.field_step_rows * SECONDS_PER_ROW / 86400.0 + (fid.camcol - 1) * 1e-6
    return FieldConditions(fwhm_arcsec=fwhm, offset_px=offset, rotation_rad=rotation, mjd=mjd, airmass=float(gen.uniform(1.05, 1.4)))


def reference_pixel(cfg: ImagingSurveyConfig) -> tuple[float, float]:
    """FITS (1-based) CRPIX1, CRPIX2 of a frame: 1025, 745 for 2048 x 1489, as in the real frames."""
    return float(cfg.shape_px[1] // 2 + 1), float(cfg.shape_px[0] // 2 + 1)


def _r_wcs(cfg: ImagingSurveyConfig, fid: FieldId) -> WCS:
    ra, dec = field_centre_deg(cfg, fid.camcol, fid.k)
    return _tan_wcs(cfg, ra, dec, 0.0)


def _tan_wcs(cfg: ImagingSurveyConfig, ra_deg: float, dec_deg: float, rotation_rad: float) -> WCS:
    s = pixel_scale_deg(cfg)
    c, sn = np.cos(rotation_rad), np.sin(rotation_rad)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.crpix = list(reference_pixel(cfg))
    w.wcs.crval = [ra_deg, dec_deg]
    # x (columns) -> +Dec, y (rows) -> +RA, then a small rotation.
    base = np.array([[0.0, s], [s, 0.0]])
    rot = np.array([[c, -sn], [sn, c]])
    w.wcs.cd = rot @ base
    w.wcs.set()
    return w


def band_wcs(cfg: ImagingSurveyConfig, fid: FieldId, band_index: int, cond: FieldConditions) -> WCS:
    """The TAN WCS of one band of a field: the r frame's, shifted by the band offset and slightly rotated."""
    r = _r_wcs(cfg, fid)
    if band_index == 2:
        return r
    crpix = np.array(reference_pixel(cfg)) + cond.offset_px[band_index]
    # The band's reference pixel sees the sky that the r frame sees at crpix + offset (1-based pixels).
    ra, dec = r.wcs_pix2world([crpix], 1)[0]
    return _tan_wcs(cfg, float(ra), float(dec), float(cond.rotation_rad[band_index]))


def wcs_cards(w: WCS) -> list[tuple[str, object, str]]:
    """The WCS keywords in the order and with the comments of the real frames' headers."""
    cd = w.wcs.cd
    return [
        ("RADECSYS", "ICRS", "International Celestial Ref. System"),
        ("CTYPE1", "RA---TAN", "Coordinate type"),
        ("CTYPE2", "DEC--TAN", "Coordinate type"),
        ("CUNIT1", "deg", "Units"),
        ("CUNIT2", "deg", "Units"),
        ("CRPIX1", float(w.wcs.crpix[0]), "X of reference pixel"),
        ("CRPIX2", float(w.wcs.crpix[1]), "Y of reference pixel"),
        ("CRVAL1", float(w.wcs.crval[0]), "RA of reference pixel (deg)"),
        ("CRVAL2", float(w.wcs.crval[1]), "Dec of reference pixel (deg)"),
        ("CD1_1", float(cd[0, 0]), "RA deg per column pixel"),
        ("CD1_2", float(cd[0, 1]), "RA deg per row pixel"),
        ("CD2_1", float(cd[1, 0]), "Dec deg per column pixel"),
        ("CD2_2", float(cd[1, 1]), "Dec deg per row pixel"),
    ]


def inside_frame(cfg: ImagingSurveyConfig, x: np.ndarray, y: np.ndarray, margin_px: float = 0.0) -> np.ndarray:
    """True where 0-based pixel (x, y) lies on the frame (pixel centres at integers), widened by ``margin_px``."""
    ny, nx = cfg.shape_px
    return (x >= -0.5 - margin_px) & (x < nx - 0.5 + margin_px) & (y >= -0.5 - margin_px) & (y < ny - 0.5 + margin_px)

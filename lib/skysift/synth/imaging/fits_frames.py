"""Write a rendered field as SDSS corrected frames: frame-BAND-RUN-CAMCOL-FIELD.fits[.bz2].

The layout copies the real frames in ../shared/data/sdss-imaging (HDU order, header
keywords and their order, column names, shapes and dtypes):

* HDU0 (primary): 1489 x 2048 float32 image in nanomaggies; the SDSS header keywords
  (RUN, FRAME, CAMCOL, FILTER, EXPTIME, BUNIT, NMGY, ...) and a TAN WCS with CD matrix,
  including the deprecated RADECSYS that astropy warns about, as the real files do;
  provenance cards SYNTH, SYNSEED, SYNFIELD, PSFWIDTH, SKYSIG say it is synthetic.
* HDU1: the calibration vector, float32 (2048,), nanomaggies per DN per column.
* HDU2: one-row table ALLSKY (E, TDIM (n_sky_cols, n_sky_rows)), XINTERP (2048 E), YINTERP (1489 E).
* HDU3: one-row astrometric trace table with the 31 columns of the real files
  (NODE = INCL = 0, so the great-circle coordinates mu, nu are RA, Dec; no distortion terms).

No time-dependent keyword (DATE, CHECKSUM) is written, so the same field gives the same bytes;
bzip2 output is deterministic too.
"""
from __future__ import annotations

import bz2
import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time

from skysift.synth.imaging.bands import BANDS
from skysift.synth.imaging.frames import FieldImage

CAMROW = {"r": 1, "i": 2, "u": 3, "z": 4, "g": 5}
"""SDSS camera row of each filter (CCDLOC = 10 * camrow + camcol; the real r frame of camcol 2 has 12)."""
EXPTIME_S = "53.907456"
TRACE_DTYPE = np.dtype(
    [("RUN", ">i4"), ("RERUN", "S3"), ("CAMCOL", ">i4"), ("FILTER", "S1"), ("NODE", ">f8"), ("INCL", ">f8"),
     ("NAXIS", ">i4", (2,)), ("FIELD", ">i4"), ("A", ">f8"), ("B", ">f8"), ("C", ">f8"), ("D", ">f8"), ("E", ">f8"),
     ("F", ">f8"), ("DROW0", ">f8"), ("DROW1", ">f8"), ("DROW2", ">f8"), ("DROW3", ">f8"), ("DCOL0", ">f8"),
     ("DCOL1", ">f8"), ("DCOL2", ">f8"), ("DCOL3", ">f8"), ("CSROW", ">f8"), ("CSCOL", ">f8"), ("CCROW", ">f8"),
     ("CCCOL", ">f8"), ("RICUT", ">f8"), ("MJD", ">f8"), ("AIRMASS", ">f8"), ("MUERR", ">f4"), ("NUERR", ">f4")]
)


def frame_name(band: str, run: int, camcol: int, field: int, compress: bool = True) -> str:
    """SDSS corrected-frame file name, e.g. frame-r-009000-1-0011.fits.bz2."""
    return f"frame-{band}-{run:06d}-{camcol}-{field:04d}.fits" + (".bz2" if compress else "")


def primary_header(fi: FieldImage, band_index: int, seed: int, rerun: str) -> fits.Header:
    """HDU0 header of one band, in the real frames' keyword order."""
    from skysift.synth.imaging.geometry import wcs_cards

    band = BANDS[band_index]
    fid, cond = fi.fid, fi.cond
    w = fi.wcs[band_index]
    ny, nx = fi.images.shape[1:]
    t = Time(cond.mjd, format="mjd", scale="tai")
    ra_c, dec_c = w.wcs.crval
    h = fits.Header()
    cards = [
        ("TAI", round(cond.mjd * 86400.0, 2), "1st row - Number of seconds since Nov 17 1858"),
        ("RA", round(float(ra_c), 5), "1st row - Right ascension of telescope boresigh"),
        ("DEC", round(float(dec_c), 6), "1st row - Declination of telescope boresight (d"),
        ("SPA", 90.0, "1st row - Camera col position angle wrt north ("),
        ("DATE-OBS", t.strftime("%Y-%m-%d"), "1st row - TAI date"),
        ("TAIHMS", t.strftime("%H:%M:%S.%f")[:11], "1st row - TAI time (HH:MM:SS.SS) (TAI-UT = appr"),
        ("ORIGIN", "skysift", "synthetic frame (skysift synth.imaging)"),
        ("TELESCOP", "2.5m", ""),
        ("TIMESYS", "TAI", ""),
        ("RUN", fid.run, "Run number"),
        ("FRAME", fid.field, "Frame sequence number within the run"),
        ("CCDLOC", 10 * CAMROW[band] + fid.camcol, "Survey location of CCD (e.g., rowCol)"),
        ("STRIPE", 82, "Stripe index number (23 <--> eta=0)"),
        ("STRIP", "S", "Strip in the stripe being tracked."),
        ("FLAVOR", "science", "Flavor of this run"),
        ("SYS_SCN", "mean", "System of the scan great circle (e.g., mean)"),
        ("EQNX_SCN", 2000.0, "Equinox of the scan great circle. (years)"),
        ("NODE", 0.0, "RA of the great circle's ascending node (deg)"),
        ("INCL", 0.0, "Great circle's inclination wrt cel. eq. (deg)"),
        ("OBJECT", "synthetic", "e.g., 'stripe 50.6 degrees, north strip'"),
        ("EXPTIME", EXPTIME_S, "Exposure time (seconds)"),
        ("SYSTEM", "FK5", "System of the TCC coordinates (e.g., mean)"),
        ("CCDMODE", "DRIFT", "'STARING' or 'DRIFT'"),
        ("C_OBS", 26322, "CCD row clock rate (usec/row)"),
        ("COLBIN", 1, "Binning factor perpendicular to the columns"),
        ("ROWBIN", 1, "Binning factor perpendicular to the rows"),
        ("CAMROW", CAMROW[band], "Row in the imaging camera"),
        ("BADLINES", 0, "Number of bad lines in frame"),
        ("EQUINOX", 2000.0, ""),
        ("SOFTBIAS", 1000, 'software "bias" added to all DN'),
        ("BUNIT", "nanomaggy", "1 nanomaggy = 3.631e-6 Jy"),
        ("FILTER", band, "filter used"),
        ("CAMCOL", fid.camcol, "column in the imaging camera"),
        ("VERSION", "v5_6_3", ""),
        *[(k, v, c) for k, v, c in wcs_cards(w)],
        ("NMGY", float(np.float32(np.median(fi.calib[band_index]))), "Calibration factor [nMgy per count]"),
        ("NMGYIVAR", 1.0e4, "Calibration factor inverse variance"),
        ("RERUN", rerun, "rerun"),
        ("SYNTH", True, "skysift synthetic frame: objects and truth known"),
        ("SYNSEED", int(seed), "survey seed"),
        ("SYNFIELD", fid.index, "field index in the synthetic survey"),
        ("PSFWIDTH", round(float(cond.fwhm_arcsec[band_index]), 4), "true PSF FWHM (arcsec)"),
        ("SKYSIG", round(float(fi.sigma_sky_nmgy[band_index]), 6), "true sky noise per pixel (nanomaggies)"),
    ]
    for key, value, comment in cards:
        card = fits.Card(key, value)
        room = 80 - len(card.image.rstrip()) - 3
        h.append((key, value, comment[: max(room, 0)]))
    if fi.mantissa_bits < 23:
        h.add_comment(f"Floats truncated at {fi.mantissa_bits + 1} binary digits with FLOATCOMPRESS")
    return h


def _trace(fi: FieldImage, band_index: int, rerun: str) -> np.ndarray:
    w = fi.wcs[band_index]
    ny, nx = fi.images.shape[1:]
    cd = w.wcs.cd
    ra0, dec0 = w.wcs_pix2world([[0.0, 0.0]], 0)[0]
    rec = np.zeros(1, dtype=TRACE_DTYPE)
    rec["RUN"], rec["RERUN"], rec["CAMCOL"], rec["FILTER"] = fi.fid.run, rerun.encode(), fi.fid.camcol, BANDS[band_index].encode()
    rec["NODE"], rec["INCL"] = 0.0, 0.0
    rec["NAXIS"] = [nx, ny]
    rec["FIELD"] = fi.fid.field
    # mu = A + B row + C col, nu = D + E row + F col (row = y, col = x), linearised at pixel (0, 0).
    rec["A"], rec["B"], rec["C"] = ra0, cd[0, 1], cd[0, 0]
    rec["D"], rec["E"], rec["F"] = dec0, cd[1, 1], cd[1, 0]
    rec["RICUT"] = 100.0
    rec["MJD"] = fi.cond.mjd
    rec["AIRMASS"] = fi.cond.airmass
    rec["MUERR"], rec["NUERR"] = 0.0, 0.0
    return rec


def hdulist(fi: FieldImage, band_index: int, seed: int, rerun: str = "301") -> fits.HDUList:
    """The four HDUs of one band's frame."""
    primary = fits.PrimaryHDU(data=fi.images[band_index], header=primary_header(fi, band_index, seed, rerun))
    calib = fits.ImageHDU(data=fi.calib[band_index].astype(np.float32))
    grid = fi.sky_grid[band_index]
    x_interp, y_interp = fi.sky_interp
    sky_dtype = np.dtype([("ALLSKY", ">f4", grid.shape), ("XINTERP", ">f4", x_interp.shape), ("YINTERP", ">f4", y_interp.shape)])
    sky_rec = np.zeros(1, dtype=sky_dtype)
    sky_rec["ALLSKY"][0], sky_rec["XINTERP"][0], sky_rec["YINTERP"][0] = grid, x_interp, y_interp
    sky = fits.BinTableHDU(data=sky_rec)
    trace = fits.BinTableHDU(data=_trace(fi, band_index, rerun))
    return fits.HDUList([primary, calib, sky, trace])


def frame_bytes(fi: FieldImage, band_index: int, seed: int, rerun: str = "301", compress: bool = True, level: int = 9) -> bytes:
    """The file content of one band's frame (bzip2-compressed when ``compress``)."""
    buf = io.BytesIO()
    hdulist(fi, band_index, seed, rerun).writeto(buf, output_verify="silentfix")
    raw = buf.getvalue()
    return bz2.compress(raw, compresslevel=level) if compress else raw


def write_field(fi: FieldImage, out_dir: str | Path, seed: int, rerun: str = "301", compress: bool = True,
                bands: tuple[str, ...] = BANDS, level: int = 9) -> list[Path]:
    """Write the field's frames into ``out_dir`` (created); returns the paths (u g r i z order)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for band in bands:
        b = BANDS.index(band)
        path = out / frame_name(band, fi.fid.run, fi.fid.camcol, fi.fid.field, compress)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(frame_bytes(fi, b, seed, rerun, compress, level))
        tmp.replace(path)
        paths.append(path)
    return paths

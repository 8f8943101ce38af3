"""A deterministic corpus of broken spectrum files, for testing that nothing is lost.

``write_broken_corpus(folder)`` writes one file per failure mode and returns
``{file name: stage expected in the _rejects table}``. Stages: 'read' (the file
or its layout cannot be read), 'validate' (read, but the content is unusable),
'resample' (a valid spectrum that the reader passes and the resampler must
reject, e.g. no overlap with the output grid). Same folder contents every call:
seeded random bytes, gzip written with mtime 0, no dates in headers.

The valid-looking files are minimal SDSS ``spec`` layouts (COADD + SPECOBJ) or
LAMOST 5xN images written with astropy here, independent of the readers.
"""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

N_PIX = 400
SEED = 20250101


def _sdss_hdus(
    loglam: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    and_mask: np.ndarray | None = None,
    ra: float = 150.0,
    dec: float = 2.0,
    plate: int = 9999,
    mjd: int = 55555,
    fiber: int = 1,
    z: float = 0.1,
    drop_columns: tuple[str, ...] = (),
    meta_name: str = "SPECOBJ",
) -> fits.HDUList:
    primary = fits.PrimaryHDU()
    primary.header["PLATEID"] = plate
    primary.header["MJD"] = mjd
    primary.header["FIBERID"] = fiber
    primary.header["TELESCOP"] = "SDSS 2.5-M"
    if and_mask is None:
        and_mask = np.zeros(loglam.shape, np.int32)
    cols = [
        fits.Column(name="flux", format="E", array=np.asarray(flux, np.float32)),
        fits.Column(name="loglam", format="E", array=np.asarray(loglam, np.float32)),
        fits.Column(name="ivar", format="E", array=np.asarray(ivar, np.float32)),
        fits.Column(name="and_mask", format="J", array=np.asarray(and_mask, np.int32)),
    ]
    coadd = fits.BinTableHDU.from_columns([c for c in cols if c.name not in drop_columns], name="COADD")
    meta = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="PLATE", format="J", array=np.array([plate], np.int32)),
            fits.Column(name="MJD", format="J", array=np.array([mjd], np.int32)),
            fits.Column(name="FIBERID", format="J", array=np.array([fiber], np.int32)),
            fits.Column(name="CLASS", format="6A", array=np.array(["GALAXY"])),
            fits.Column(name="SUBCLASS", format="21A", array=np.array([""])),
            fits.Column(name="Z", format="E", array=np.array([z], np.float32)),
            fits.Column(name="Z_ERR", format="E", array=np.array([1e-5], np.float32)),
            fits.Column(name="ZWARNING", format="J", array=np.array([0], np.int32)),
            fits.Column(name="PLUG_RA", format="D", array=np.array([ra], np.float64)),
            fits.Column(name="PLUG_DEC", format="D", array=np.array([dec], np.float64)),
        ],
        name=meta_name,
    )
    return fits.HDUList([primary, coadd, meta])


def _good_arrays(rng: np.random.Generator, lo: float = 3.58, step: float = 1e-4, n: int = N_PIX):
    loglam = (lo + step * np.arange(n)).astype(np.float32)
    flux = (10.0 + rng.normal(0.0, 1.0, n)).astype(np.float32)
    ivar = np.full(n, 1.0, np.float32)
    return loglam, flux, ivar


def _to_bytes(hdul: fits.HDUList) -> bytes:
    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def _lamost_image(rows: int, with_solution: bool = True, wave_row: np.ndarray | None = None, n: int = N_PIX) -> fits.HDUList:
    rng = np.random.default_rng(SEED + rows)
    data = np.zeros((rows, n), np.float32)
    data[0] = 100.0 + rng.normal(0, 1, n)
    if rows > 1:
        data[1] = 0.5
    if rows > 2:
        data[2] = rng.uniform(0.2, 1.3, n) if wave_row is None else wave_row
    hdu = fits.PrimaryHDU(data)
    h = hdu.header
    h["TELESCOP"] = "LAMOST"
    h["OBSID"] = 100000 + rows
    h["RA"] = 99.0
    h["DEC"] = 27.0
    h["CLASS"] = "STAR"
    h["SUBCLASS"] = "G5"
    h["Z"] = 0.0001
    if with_solution:
        h["COEFF0"] = 3.5682
        h["COEFF1"] = 1e-4
    return fits.HDUList([hdu])


def write_broken_corpus(folder: str | os.PathLike) -> dict[str, str]:
    """Write the corpus into ``folder`` (created if needed); return {file name: expected reject stage}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    expected: dict[str, str] = {}

    def put(name: str, payload: bytes, stage: str) -> None:
        (folder / name).write_bytes(payload)
        expected[name] = stage

    put("empty.fits", b"", "read")
    put("random_bytes.fits", rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes(), "read")
    put("html_error_page.fits", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", "read")

    good = _to_bytes(_sdss_hdus(*_good_arrays(rng)))
    with fits.open(io.BytesIO(good)) as hl:
        coadd_start = hl.fileinfo(1)["datLoc"]
        coadd_len = hl[1].header["NAXIS1"] * hl[1].header["NAXIS2"]
    put("truncated_in_coadd.fits", good[: coadd_start + coadd_len // 2], "read")
    put("truncated_in_header.fits", good[:1000], "read")
    put("truncated.fits.gz", gzip.compress(good, mtime=0)[:1500], "read")

    image = fits.PrimaryHDU(rng.normal(0, 1, (64, 64)).astype(np.float32))
    put("wrong_layout_image.fits", _to_bytes(fits.HDUList([image])), "read")
    put("coadd_without_flux.fits", _to_bytes(_sdss_hdus(*_good_arrays(rng), drop_columns=("flux",))), "read")
    no_meta = _sdss_hdus(*_good_arrays(rng))
    del no_meta[2]
    put("coadd_without_specobj.fits", _to_bytes(no_meta), "read")

    loglam, flux, ivar = _good_arrays(rng)
    put("all_nan_flux.fits", _to_bytes(_sdss_hdus(loglam, np.full_like(flux, np.nan), ivar)), "validate")
    loglam, flux, ivar = _good_arrays(rng)
    put("all_ivar_zero.fits", _to_bytes(_sdss_hdus(loglam, flux, np.zeros_like(ivar))), "validate")
    loglam, flux, ivar = _good_arrays(rng)
    loglam = loglam.copy()
    loglam[200:210] = loglam[200:210][::-1]
    put("nonmonotonic_loglam.fits", _to_bytes(_sdss_hdus(loglam, flux, ivar)), "validate")
    put("nan_ra.fits", _to_bytes(_sdss_hdus(*_good_arrays(rng), ra=float("nan"))), "validate")
    put("dec_out_of_range.fits", _to_bytes(_sdss_hdus(*_good_arrays(rng), dec=95.0)), "validate")

    # 10**4.0 .. 10**4.1 = 10,000-12,600 A: a sound spectrum with no overlap with 3850-9000 A.
    loglam, flux, ivar = _good_arrays(rng, lo=4.0, step=0.1 / (N_PIX - 1))
    put("outside_grid_4.0_4.1.fits", _to_bytes(_sdss_hdus(loglam, flux, ivar)), "resample")

    put("lamost_three_rows.fits", _to_bytes(_lamost_image(3)), "read")
    put("lamost_no_wavelength.fits", _to_bytes(_lamost_image(5, with_solution=False)), "read")
    return expected

"""Write synthetic spectra as real-format survey FITS files.

Layouts copy the real files in ../shared/data (HDU names, column names, dtypes,
keyword names), with only the keywords a reader needs plus provenance:

* ``sdss``: ``spec-PLATE-MJD-FIBER.fits`` spec-lite: PRIMARY (header only), COADD
  (flux, loglam, ivar, and_mask, or_mask, wdisp, sky, model: E E E J J E E E, one row
  per pixel), SPECOBJ (one row: PLATE, MJD, FIBERID, CLASS, SUBCLASS, Z, Z_ERR,
  ZWARNING, PLUG_RA, PLUG_DEC).
* ``boss``: the same with HDU2 named SPALL.
* ``lamost_image`` (DR1-DR7): primary 5 x N float32 image, rows flux, ivar,
  wavelength, andmask, ormask; catalogue and wavelength-solution keywords (COEFF0,
  COEFF1, ...) in the primary header.
* ``lamost_table`` (DR8+): primary header with the catalogue keywords, HDU1 ``COADD``
  a one-row binary table with array columns FLUX, IVAR, WAVELENGTH, ANDMASK, ORMASK.

No time-dependent keyword (DATE, CHECKSUM) is written: the same batch gives the
same bytes. Two back ends: ``astropy`` and ``fitsio`` (cfitsio); ``backend='auto'``
takes fitsio when installed (faster here: see ``benchmark_writers``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from skysift.synth import plates
from skysift.io.readers import lamost as lamost_format
from skysift.synth.model import BRIGHTSKY, DLOGLAM, FULLREJECT, LOGLAM0, SynthBatch, model_loglam

COADD_COLUMNS = ("flux", "loglam", "ivar", "and_mask", "or_mask", "wdisp", "sky", "model")
SPECOBJ_DTYPE = np.dtype(
    [
        ("PLATE", ">i4"),
        ("MJD", ">i4"),
        ("FIBERID", ">i4"),
        ("CLASS", "S6"),
        ("SUBCLASS", "S21"),
        ("Z", ">f4"),
        ("Z_ERR", ">f4"),
        ("ZWARNING", ">i4"),
        ("PLUG_RA", ">f8"),
        ("PLUG_DEC", ">f8"),
    ]
)
COADD_DTYPE = np.dtype(
    [
        ("flux", ">f4"),
        ("loglam", ">f4"),
        ("ivar", ">f4"),
        ("and_mask", ">i4"),
        ("or_mask", ">i4"),
        ("wdisp", ">f4"),
        ("sky", ">f4"),
        ("model", ">f4"),
    ]
)
ORIGIN = "skysift synth-survey"


def _row_arrays(batch: SynthBatch, i: int) -> dict[str, np.ndarray]:
    s = batch.pixel_slice(i)
    return {
        "flux": batch.flux[i, s],
        "loglam": model_loglam()[s],
        "ivar": batch.ivar[i, s],
        "and_mask": batch.and_mask[i, s],
        "or_mask": batch.and_mask[i, s],
        "wdisp": batch.wdisp[i, s],
        "sky": batch.sky[i, s],
        "model": batch.model[i, s],
    }


def _coadd_records(arrays: dict[str, np.ndarray]) -> np.ndarray:
    rec = np.empty(len(arrays["flux"]), dtype=COADD_DTYPE)
    for name in COADD_COLUMNS:
        rec[name] = arrays[name]
    return rec


def _specobj_record(batch: SynthBatch, i: int) -> np.ndarray:
    t = batch.truth
    rec = np.zeros(1, dtype=SPECOBJ_DTYPE)
    rec["PLATE"] = batch.meta["plate"][i]
    rec["MJD"] = batch.meta["mjd"][i]
    rec["FIBERID"] = batch.meta["fiber"][i]
    rec["CLASS"] = t["class"].iat[i].encode()
    rec["SUBCLASS"] = (t["subclass"].iat[i] or "").encode()
    rec["Z"] = t["z"].iat[i]
    rec["Z_ERR"] = t["z_err"].iat[i]
    rec["ZWARNING"] = 0
    rec["PLUG_RA"] = t["ra_deg"].iat[i]
    rec["PLUG_DEC"] = t["dec_deg"].iat[i]
    return rec


def _sdss_primary_cards(batch: SynthBatch, i: int, seed: int) -> list[tuple[str, object, str]]:
    t = batch.truth
    return [
        ("TELESCOP", "SDSS 2.5-M", "Sloan Digital Sky Survey (synthetic)"),
        ("PLATEID", int(batch.meta["plate"][i]), "Plate Id"),
        ("MJD", int(batch.meta["mjd"][i]), "MJD of observation"),
        ("FIBERID", int(batch.meta["fiber"][i]), "Fiber Id"),
        ("PLUG_RA", float(t["ra_deg"].iat[i]), "[deg] fibre RA"),
        ("PLUG_DEC", float(t["dec_deg"].iat[i]), "[deg] fibre Dec"),
        ("ORIGIN", ORIGIN, "synthetic spectrum with known truth"),
        ("SYNSEED", int(seed), "synth-survey seed"),
        ("SYNROW", int(batch.rows[i]), "synth-survey row number"),
    ]


def _lamost_cards(batch: SynthBatch, i: int, seed: int, image: bool) -> list[tuple[str, object, str]]:
    t = batch.truth
    k0 = int(batch.k0[i])
    coeff0 = round(LOGLAM0 + DLOGLAM * k0, 6)
    cards = [
        ("TELESCOP", "LAMOST", "GuoShouJing Telescope (synthetic)"),
        ("OBSID", int(batch.meta["obsid"][i]), "Unique number ID of this spectrum"),
        ("DATA_V", "LAMOST DR7" if image else "LAMOST DR8", "Data release version (layout copied)"),
    ]
    if image:
        cards.append(("EXTEN0", "Flux, Inverse, Wavelength, Andmask, Ormask", "image rows"))
    cards += [
        ("LMJD", int(batch.meta["mjd"][i]), "Local Modified Julian Day"),
        ("PLANID", str(batch.meta["planid"][i]), "Plan ID in use"),
        ("RA", float(t["ra_deg"].iat[i]), "[deg] Right ascension of object"),
        ("DEC", float(t["dec_deg"].iat[i]), "[deg] Declination of object"),
        ("SPID", int(batch.meta["spid"][i]), "Spectrograph ID"),
        ("FIBERID", int(batch.meta["lamost_fiber"][i]), "Fiber ID of Object"),
        ("VACUUM", True, "Wavelengths are in vacuum"),
    ]
    if image:
        cards += [
            ("NWORDER", 2, "Number of linear-log10 coefficients"),
            ("WFITTYPE", "LOG-LINEAR", "Linear-log10 dispersion"),
            ("COEFF0", coeff0, "Central wavelength (log10) of first pixel"),
            ("COEFF1", DLOGLAM, "Log10 dispersion per pixel"),
            ("CRVAL1", coeff0, "Central wavelength (log10) of first pixel"),
            ("CD1_1", DLOGLAM, "Log10 dispersion per pixel"),
            ("CRPIX1", 1, "Starting pixel (1-indexed)"),
            ("CTYPE1", "LINEAR", ""),
            ("DC-FLAG", 1, "Log-linear flag"),
        ]
    cards += [
        ("CLASS", t["class"].iat[i], "Class of object"),
        ("SUBCLASS", t["subclass"].iat[i] or "", "Subclass of object"),
        ("Z", float(t["z"].iat[i]), "Redshift of object"),
        ("Z_ERR", float(t["z_err"].iat[i]), "Redshift error of object"),
        ("ORIGIN", ORIGIN, "synthetic spectrum with known truth"),
        ("SYNSEED", int(seed), "synth-survey seed"),
        ("SYNROW", int(batch.rows[i]), "synth-survey row number"),
    ]
    return cards


def _lamost_rows(batch: SynthBatch, i: int) -> np.ndarray:
    """(5, N) float32: flux, ivar, wavelength, andmask, ormask (LAMOST stores masks as floats)."""
    s = batch.pixel_slice(i)
    wave = (10.0 ** (LOGLAM0 + DLOGLAM * (batch.k0[i] + np.arange(batch.n_pix[i])))).astype(np.float32)
    mask = lamost_and_mask(batch.and_mask[i, s]).astype(np.float32)
    return np.stack([batch.flux[i, s], batch.ivar[i, s], wave, mask, mask])


def lamost_and_mask(sdss_mask: np.ndarray) -> np.ndarray:
    """The model's SDSS spPixMask bits in LAMOST's andmask numbering (a LAMOST file must carry LAMOST bits:
    the reader applies LAMOST's fatal list to it): FULLREJECT -> NODATA (no usable value), BRIGHTSKY -> BRIGHTSKY."""
    bits = lamost_format.ANDMASK_BITS
    out = np.zeros(sdss_mask.shape, np.int64)
    out[(sdss_mask & FULLREJECT) != 0] |= 1 << bits["NODATA"]
    out[(sdss_mask & BRIGHTSKY) != 0] |= 1 << bits["BRIGHTSKY"]
    return out


# ---------------------------------------------------------------- astropy back end
def _astropy_header(cards):
    from astropy.io import fits

    h = fits.Header()
    for key, value, comment in cards:
        h[key] = (value, comment)
    return h


def _write_astropy(path: str, batch: SynthBatch, i: int, seed: int, layout: str) -> None:
    from astropy.io import fits

    if layout in ("sdss", "boss"):
        primary = fits.PrimaryHDU(header=_astropy_header(_sdss_primary_cards(batch, i, seed)))
        coadd = fits.BinTableHDU(data=_coadd_records(_row_arrays(batch, i)), name="COADD")
        meta = fits.BinTableHDU(data=_specobj_record(batch, i), name="SPECOBJ" if layout == "sdss" else "SPALL")
        hdus = fits.HDUList([primary, coadd, meta])
    elif layout == "lamost_image":
        hdus = fits.HDUList([fits.PrimaryHDU(data=_lamost_rows(batch, i), header=_astropy_header(_lamost_cards(batch, i, seed, True)))])
    else:
        rows = _lamost_rows(batch, i)
        n = rows.shape[1]
        rec = np.zeros(1, dtype=[(c, ">f4", (n,)) for c in ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")])
        for j, c in enumerate(("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")):
            rec[c][0] = rows[j]
        primary = fits.PrimaryHDU(header=_astropy_header(_lamost_cards(batch, i, seed, False)))
        hdus = fits.HDUList([primary, fits.BinTableHDU(data=rec, name="COADD")])
    hdus.writeto(path, overwrite=True)


# ---------------------------------------------------------------- fitsio back end
def _fitsio_header(cards):
    return [{"name": k, "value": v, "comment": c} for k, v, c in cards]


def _write_fitsio(path: str, batch: SynthBatch, i: int, seed: int, layout: str) -> None:
    import fitsio

    if os.path.exists(path):
        os.remove(path)
    with fitsio.FITS(path, "rw", clobber=True) as f:
        if layout in ("sdss", "boss"):
            f.write(None, header=_fitsio_header(_sdss_primary_cards(batch, i, seed)))
            f.write_table(_coadd_records(_row_arrays(batch, i)), extname="COADD")
            f.write_table(_specobj_record(batch, i), extname="SPECOBJ" if layout == "sdss" else "SPALL")
        elif layout == "lamost_image":
            f.write(_lamost_rows(batch, i), header=_fitsio_header(_lamost_cards(batch, i, seed, True)))
        else:
            rows = _lamost_rows(batch, i)
            n = rows.shape[1]
            rec = np.zeros(1, dtype=[(c, ">f4", (n,)) for c in ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")])
            for j, c in enumerate(("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")):
                rec[c][0] = rows[j]
            f.write(None, header=_fitsio_header(_lamost_cards(batch, i, seed, False)))
            f.write_table(rec, extname="COADD")


WRITERS = {"astropy": _write_astropy, "fitsio": _write_fitsio}


def resolve_backend(backend: str) -> str:
    """'auto' -> fitsio when importable, else astropy."""
    if backend != "auto":
        if backend not in WRITERS:
            raise ValueError(f"FITS writer backend must be auto, {' or '.join(WRITERS)}; got {backend!r}")
        return backend
    try:
        import fitsio  # noqa: F401

        return "fitsio"
    except ImportError:
        return "astropy"


def write_batch(batch: SynthBatch, root: str | os.PathLike, seed: int, backend: str = "auto") -> list[str]:
    """Write every spectrum of ``batch`` under ``root`` at its truth ``source_file`` path; return those paths."""
    writer = WRITERS[resolve_backend(backend)]
    root = Path(root)
    rel_paths = list(batch.truth["source_file"])
    made: set[Path] = set()
    for i, rel in enumerate(rel_paths):
        path = root / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        writer(str(path), batch, i, seed, plates.LAYOUTS[batch.meta["layout"][i]])
    return rel_paths


def benchmark_writers(batch: SynthBatch, root: str | os.PathLike, seed: int = 0) -> dict[str, float]:
    """Files per second of each available back end on ``batch`` (written under root/<backend>/)."""
    out = {}
    for name in WRITERS:
        try:
            t0 = time.perf_counter()
            write_batch(batch, Path(root) / name, seed, backend=name)
            out[name] = len(batch) / (time.perf_counter() - t0)
        except ImportError:
            continue
    return out

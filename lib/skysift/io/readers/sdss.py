"""SDSS and BOSS ``spec`` / ``spec-lite`` files.

Layout (SDSS DR8+ data model, ``spec-PLATE-MJD-FIBER.fits``): HDU1 ``COADD`` is a
binary table with one row per pixel (``loglam``, ``flux``, ``ivar``, ``and_mask``,
...); HDU2 is a one-row table of the pipeline's fit, named ``SPECOBJ`` for SDSS-I/II
and ``SPALL`` for BOSS. Full ``spec`` files add per-exposure HDUs after HDU3,
which are never touched here.
"""
from __future__ import annotations

import numpy as np

from skysift.spectra.native import NativeSpectrum
from skysift.io.readers.common import SpectrumProblem, as_1d, clean_text, finite_or_none
from skysift.io.readers.fitsview import FitsView, Hdu

META_HDUS = {"SPECOBJ": "sdss", "SPALL": "boss"}
PIXEL_COLUMNS = ("loglam", "flux", "ivar")
META_COLUMNS = ("PLATE", "MJD", "FIBERID", "CLASS", "SUBCLASS", "Z", "Z_ERR", "ZWARNING", "PLUG_RA", "PLUG_DEC")
# When a column is missing from HDU2, these stand in for it (BOSS SPALL carries RA/DEC too;
# the primary header repeats PLATEID/MJD/FIBERID/PLUG_RA/PLUG_DEC).
COLUMN_FALLBACKS = {"PLUG_RA": ("RA",), "PLUG_DEC": ("DEC",)}
HEADER_FALLBACKS = {"PLATE": "PLATEID", "MJD": "MJD", "FIBERID": "FIBERID", "PLUG_RA": "PLUG_RA", "PLUG_DEC": "PLUG_DEC"}
REQUIRED_META = ("PLATE", "MJD", "FIBERID", "PLUG_RA", "PLUG_DEC")

# The SDSS / BOSS spectral pixel mask (``and_mask`` / ``or_mask``), bit number by name: the SPPIXMASK
# table of idlutils' sdssMaskbits.par (SDSS DR8+ data model "spPixMask"; bits 13-15 and 29-31 unused).
# Bits 0-12 are FIBRE-level: the 2-D pipeline sets them on every pixel of a fibre (or of one camera) to
# describe the fibre (e.g. MANYBADCOLUMNS = more than 10 % of the fibre's columns are bad somewhere),
# not this pixel. Bits 16-28 are pixel-level.
SPPIXMASK = {
    "NOPLUG": 0, "BADTRACE": 1, "BADFLAT": 2, "BADARC": 3, "MANYBADCOLUMNS": 4, "MANYREJECTED": 5,
    "LARGESHIFT": 6, "BADSKYFIBER": 7, "NEARWHOPPER": 8, "WHOPPER": 9, "SMEARIMAGE": 10, "SMEARHIGHSN": 11,
    "SMEARMEDSN": 12, "NEARBADPIXEL": 16, "LOWFLAT": 17, "FULLREJECT": 18, "PARTIALREJECT": 19,
    "SCATTEREDLIGHT": 20, "CROSSTALK": 21, "NOSKY": 22, "BRIGHTSKY": 23, "NODATA": 24, "COMBINEREJ": 25,
    "BADFLUXFACTOR": 26, "BADSKYCHI": 27, "REDMONSTER": 28,
}
# and_mask bits that make a pixel a gap even where ivar > 0 (the default ``processing.mask_rule: fatal``).
# SDSS's own practice is to trust ivar: the pipeline already sets ivar = 0 where extraction or combination
# failed (in spec-0266-51630-0174, 8 % of pixels carry FULLREJECT, none of them with ivar > 0). On top of it:
# - NOPLUG: the fibre is not in the plug map, so the light is not the catalogued object's;
# - FULLREJECT, NODATA: no measurement at this wavelength, should ivar ever be left positive;
# - NOSKY: no sky model here, so the sky-subtracted flux is undefined;
# - BRIGHTSKY: sky above flux + 10 sigma; the SDSS 1-D pipeline does not fit these pixels (idlspec2d
#   skymask: ivar set to 0 where and_mask has BRIGHTSKY, grown by 2 pixels); skysift's synthetic survey
#   flags its variance-boosted sky-line pixels with it.
# Not fatal: the fibre-level bits (MANYBADCOLUMNS, BADTRACE, BADFLAT, ... over whole cameras: in the
# shared sample MANYBADCOLUMNS covers the red camera, 6150-9200 A, of spec-0332-52367-0639 with ivar > 0 on
# 98 % of those pixels, and of spec-0266-51630-0174 with BADTRACE) and NEARBADPIXEL (a bad pixel within 3
# pixels of the trace, not this one). Under the old rule "any bit is bad" both files covered 0.45 of the
# grid and were rejected.
FATAL_MASK_BITS = ("NOPLUG", "FULLREJECT", "NOSKY", "BRIGHTSKY", "NODATA")


def coadd_hdu(view: FitsView) -> Hdu | None:
    """HDU1 when it is a per-pixel table with ``loglam`` (or a COADD without LAMOST's WAVELENGTH), else an HDU named COADD."""
    h1 = view.hdu(1)
    if h1 is not None and h1.kind == "table":
        if h1.column("loglam") or (h1.name.upper() == "COADD" and not h1.column("WAVELENGTH")):
            return h1
    found = view.find("COADD", limit=8)
    if found is not None and found.kind == "table" and found.column("loglam"):
        return found
    return None


def spec_id(plate: int, mjd: int, fiber: int) -> str:
    """``sdss-PPPP-MJD-FFFF``: plate and fibre zero-padded to 4 digits, as SDSS names its files."""
    return f"sdss-{plate:04d}-{mjd}-{fiber:04d}"


def read(view: FitsView, path: str) -> list[NativeSpectrum]:
    coadd = coadd_hdu(view)
    if coadd is None:  # pragma: no cover - dispatch only calls us when there is one
        raise SpectrumProblem("read", f"no COADD table ({view.summary()})")
    have = {c: coadd.column(c) for c in (*PIXEL_COLUMNS, "and_mask")}
    have = {c: written for c, written in have.items() if written is not None}
    missing = [c for c in PIXEL_COLUMNS if c not in have]
    if missing:
        raise SpectrumProblem(
            "read", f"{coadd.name or 'HDU1'} table lacks column(s) {', '.join(missing)} (found: {', '.join(coadd.columns) or 'none'})"
        )
    if coadd.shape[0] < 2:
        raise SpectrumProblem("read", f"{coadd.name} table has {coadd.shape[0]} row(s), expected one row per pixel")

    meta_hdu = view.hdu(2)
    if meta_hdu is None or meta_hdu.name.upper() not in META_HDUS:
        meta_hdu = view.find(*META_HDUS, limit=8)
    if meta_hdu is None or meta_hdu.kind != "table":
        raise SpectrumProblem("read", f"COADD found but no SPECOBJ or SPALL table ({view.summary()})")
    if meta_hdu.shape[0] < 1:
        raise SpectrumProblem("read", f"{meta_hdu.name} table has no rows")
    survey = META_HDUS[meta_hdu.name.upper()]

    wanted = [have[c] for c in PIXEL_COLUMNS] + ([have["and_mask"]] if "and_mask" in have else [])
    pix = view.read_columns(coadd, wanted)
    loglam = as_1d("loglam", pix[have["loglam"]], coadd.name)
    flux = as_1d("flux", pix[have["flux"]], coadd.name)
    ivar = as_1d("ivar", pix[have["ivar"]], coadd.name)
    if "and_mask" in have:
        and_mask = as_1d("and_mask", pix[have["and_mask"]], coadd.name)
    else:
        and_mask = np.zeros(loglam.shape, dtype=np.int32)

    meta_cols: dict[str, str] = {}
    for key in META_COLUMNS:
        for candidate in (key, *COLUMN_FALLBACKS.get(key, ())):
            col = meta_hdu.column(candidate)
            if col is not None:
                meta_cols[key] = col
                break
    row = view.read_columns(meta_hdu, list(dict.fromkeys(meta_cols.values())), n_rows=1)
    meta = {key: row[col][0] for key, col in meta_cols.items()}
    primary = view.hdu(0).header
    for key, hkey in HEADER_FALLBACKS.items():
        if key not in meta and hkey in primary:
            meta[key] = primary.get(hkey)
    absent = [k for k in REQUIRED_META if meta.get(k) is None]
    if absent:
        raise SpectrumProblem(
            "read",
            f"{meta_hdu.name} lacks {', '.join(absent)} and the primary header has no stand-in "
            f"(found {len(meta_hdu.columns)} columns: {', '.join(meta_hdu.columns[:12])}{'...' if len(meta_hdu.columns) > 12 else ''})",
        )
    try:
        plate, mjd, fiber = int(meta["PLATE"]), int(meta["MJD"]), int(meta["FIBERID"])
    except (TypeError, ValueError):
        raise SpectrumProblem("read", f"PLATE/MJD/FIBERID not integers: {meta.get('PLATE')!r}/{meta.get('MJD')!r}/{meta.get('FIBERID')!r}") from None
    ra = finite_or_none(meta["PLUG_RA"])
    dec = finite_or_none(meta["PLUG_DEC"])
    zwarning = meta.get("ZWARNING")
    return [
        NativeSpectrum(
            spec_id=spec_id(plate, mjd, fiber),
            survey=survey,
            loglam=loglam,
            flux=flux,
            ivar=ivar,
            and_mask=and_mask,
            ra_deg=float("nan") if ra is None else ra,
            dec_deg=float("nan") if dec is None else dec,
            z=finite_or_none(meta.get("Z")),
            z_err=finite_or_none(meta.get("Z_ERR")),
            class_=clean_text(meta.get("CLASS")),
            subclass=clean_text(meta.get("SUBCLASS")),
            source_file=path,
            row_index=None,
            extra={
                "plate": plate,
                "mjd": mjd,
                "fiberid": fiber,
                "zwarning": None if zwarning is None else int(zwarning),
                "layout": f"{survey}-spec",
                "meta_hdu": meta_hdu.name.upper(),
            },
        )
    ]

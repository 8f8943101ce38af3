"""LAMOST low-resolution spectra, in both layouts the public releases used.

* Image layout (DR1-DR7): the primary HDU is a 5 x N float image, rows flux,
  inverse variance, (DR1: "subcontinuum"; DR7: wavelength), andmask, ormask, as
  the EXTEN0 keyword says. The wavelength solution is in the header:
  log10(lambda_i) = COEFF0 + COEFF1 * i (WFITTYPE = 'LOG-LINEAR'; the same
  numbers as CRVAL1 / CD1_1 with DC-FLAG = 1). Row 2 is used only as a
  cross-check (DR7) or when the header has no solution and the row holds
  plausible, increasing Angstrom values.
* Table layout (DR8 onwards): HDU1 (``COADD``) is a binary table with one row
  whose array columns are FLUX, IVAR, WAVELENGTH, ANDMASK, ORMASK (column
  names matched case-insensitively); catalogue keywords sit in the primary header.

Ids: ``lamost-OBSID`` when OBSID is present (DR2+), else
``lamost-LMJD-PLANID-SPID-FIBERID`` with SPID 2 and FIBERID 3 digits, as in the
file names (``spec-55862-B6212_sp06-003.fits`` -> ``lamost-55862-B6212-06-003``).
"""
from __future__ import annotations

import numpy as np

from skysift.spectra.native import NativeSpectrum
from skysift.io.readers.common import LOGLAM_PLAUSIBLE, SpectrumProblem, as_1d, clean_text, finite_or_none
from skysift.io.readers.fitsview import FitsView, Hdu

IMAGE_ROWS = 5
TABLE_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH")
TABLE_OPTIONAL = ("ANDMASK", "ORMASK")
# Per-row metadata columns a multi-spectrum table may carry instead of header keywords.
ROW_META = ("OBSID", "RA", "DEC", "CLASS", "SUBCLASS", "Z", "Z_ERR", "LMJD", "PLANID", "SPID", "FIBERID")

# The LAMOST low-resolution pixel mask (ANDMASK / ORMASK), bit number by name (values 1, 2, 4, 8, 16, 32 in
# the LAMOST data model). The numbers differ from SDSS's: LAMOST bit 3 is BRIGHTSKY, SDSS bit 3 is BADARC.
ANDMASK_BITS = {"BADCCD": 0, "BADPROFILE": 1, "NOSKY": 2, "BRIGHTSKY": 3, "BADCENTER": 4, "NODATA": 5}
# and_mask bits that make a pixel a gap (``processing.mask_rule: fatal``): all six. Unlike SDSS, LAMOST has no
# fibre-level bits that describe the fibre rather than the pixel: each bit says this pixel's value is missing
# (NODATA, BADCENTER: trace off the CCD, BADCCD: CCD defect), badly extracted (BADPROFILE) or not sky-subtracted
# (NOSKY, BRIGHTSKY, kept fatal as for SDSS). Bits above 5 are not defined by LAMOST and are ignored.
FATAL_MASK_BITS = ("BADCCD", "BADPROFILE", "NOSKY", "BRIGHTSKY", "BADCENTER", "NODATA")


def looks_like_lamost_header(header) -> bool:
    telescop = str(header.get("TELESCOP", "") or "").upper()
    return "LAMOST" in telescop or "COEFF0" in header or "EXTEN0" in header


def table_hdu(view: FitsView) -> Hdu | None:
    """The first table among HDU1..HDU3 with FLUX and WAVELENGTH columns (any case)."""
    for i in (1, 2, 3):
        h = view.hdu(i)
        if h is None:
            return None
        if h.kind == "table" and h.column("FLUX") and h.column("WAVELENGTH"):
            return h
    return None


def spec_id(meta: dict) -> str | None:
    obsid = meta.get("OBSID")
    if obsid is not None and not isinstance(obsid, bool):
        text = str(int(obsid)) if isinstance(obsid, (int, np.integer, float, np.floating)) and float(obsid) == int(obsid) else clean_text(obsid)
        if text and text not in ("-9999", "0"):
            return f"lamost-{text}"
    lmjd, planid, spid, fiber = (meta.get(k) for k in ("LMJD", "PLANID", "SPID", "FIBERID"))
    planid = clean_text(planid)
    if lmjd is None or planid is None or spid is None or fiber is None:
        return None
    try:
        return f"lamost-{int(lmjd)}-{planid}-{int(spid):02d}-{int(fiber):03d}"
    except (TypeError, ValueError):
        return None


def _header_solution(header, n: int) -> np.ndarray | None:
    c0, c1 = header.get("COEFF0"), header.get("COEFF1")
    if c0 is None or c1 is None:
        # Same numbers under their IRAF names, valid when DC-FLAG says log-linear.
        if header.get("DC-FLAG") == 1 and header.get("CRVAL1") is not None and header.get("CD1_1") is not None:
            c0, c1 = header.get("CRVAL1"), header.get("CD1_1")
            crpix = float(header.get("CRPIX1", 1) or 1)
            return float(c0) + float(c1) * (np.arange(n, dtype=np.float64) - (crpix - 1.0))
        return None
    try:
        return float(c0) + float(c1) * np.arange(n, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpectrumProblem("read", f"COEFF0/COEFF1 not numbers: {c0!r}/{c1!r}") from None


def _plausible_wavelength_row(row: np.ndarray) -> bool:
    if not np.all(np.isfinite(row)) or np.any(row <= 0):
        return False
    lo, hi = np.log10(row[0]), np.log10(row[-1])
    return LOGLAM_PLAUSIBLE[0] <= lo and hi <= LOGLAM_PLAUSIBLE[1] and bool(np.all(np.diff(row) > 0))


def _spectrum(meta: dict, loglam, flux, ivar, andmask, path: str, layout: str, row_index=None, suffix="") -> NativeSpectrum:
    sid = spec_id(meta)
    if sid is None:
        raise SpectrumProblem("read", "no OBSID and no complete LMJD/PLANID/SPID/FIBERID to form a spectrum id")
    ra = finite_or_none(meta.get("RA"))
    dec = finite_or_none(meta.get("DEC"))
    return NativeSpectrum(
        spec_id=sid + suffix,
        survey="lamost",
        loglam=loglam,
        flux=flux,
        ivar=ivar,
        and_mask=andmask,
        ra_deg=float("nan") if ra is None else ra,
        dec_deg=float("nan") if dec is None else dec,
        z=finite_or_none(meta.get("Z")),
        z_err=finite_or_none(meta.get("Z_ERR")),
        class_=clean_text(meta.get("CLASS")),
        subclass=clean_text(meta.get("SUBCLASS")),
        source_file=path,
        row_index=row_index,
        extra={
            "obsid": meta.get("OBSID"),
            "lmjd": meta.get("LMJD"),
            "planid": clean_text(meta.get("PLANID")),
            "spid": meta.get("SPID"),
            "fiberid": meta.get("FIBERID"),
            "layout": layout,
        },
    )


def _mask_as_int(mask: np.ndarray) -> np.ndarray:
    """LAMOST stores its bit masks as floats in the image; bits survive an exact cast to int32.

    NaN reads as 0 (no flag); a value outside the int32 range (inf, 1e30: a damaged file) as -1, every bit
    set, instead of the platform's undefined cast (numpy warns and gives INT_MIN on x86).
    """
    if mask.dtype.kind in "iu":
        return mask.astype(np.int32, copy=False)
    values = np.nan_to_num(mask.astype(np.float64), nan=0.0)
    inside = (values >= np.iinfo(np.int32).min) & (values <= np.iinfo(np.int32).max)
    return np.where(inside, values, -1.0).astype(np.int32)


def read_image(view: FitsView, path: str) -> list[NativeSpectrum]:
    primary = view.hdu(0)
    header = primary.header
    shape = primary.shape
    if len(shape) != 2 or shape[0] != IMAGE_ROWS:
        raise SpectrumProblem(
            "read", f"LAMOST primary image has shape {'x'.join(map(str, shape))}, expected {IMAGE_ROWS} x N (flux, ivar, wavelength, andmask, ormask)"
        )
    n = shape[1]
    data = view.read_image(primary)
    wave_row = data[2].astype(np.float64)
    loglam = _header_solution(header, n)
    if loglam is None:
        if not _plausible_wavelength_row(wave_row):
            raise SpectrumProblem(
                "read", "no wavelength: header has no COEFF0/COEFF1 (or CRVAL1/CD1_1 with DC-FLAG=1) and image row 2 is not increasing Angstrom values"
            )
        loglam = np.log10(wave_row)
        source = "row2"
    else:
        source = "header"
        if _plausible_wavelength_row(wave_row):
            # DR7 also stores the wavelengths: they must agree with the header to half a pixel.
            step = abs(float(loglam[1] - loglam[0])) if n > 1 else 1e-4
            worst = float(np.max(np.abs(np.log10(wave_row) - loglam)))
            if worst > 0.5 * step:
                raise SpectrumProblem(
                    "validate", f"image row 2 wavelengths disagree with the header COEFF0/COEFF1 solution by up to {worst:.2e} dex ({worst / step:.1f} pixels)"
                )
    meta = {k: header.get(k) for k in ("OBSID", "RA", "DEC", "CLASS", "SUBCLASS", "Z", "Z_ERR", "LMJD", "PLANID", "SPID", "FIBERID")}
    spec = _spectrum(meta, loglam, data[0], data[1], _mask_as_int(data[3]), path, "lamost-image")
    spec.extra["wavelength_from"] = source
    spec.extra["ormask"] = _mask_as_int(data[4])
    return [spec]


def read_table(view: FitsView, path: str, table: Hdu) -> list[NativeSpectrum]:
    names = {c: table.column(c) for c in (*TABLE_COLUMNS, *TABLE_OPTIONAL, *ROW_META)}
    names = {c: written for c, written in names.items() if written is not None}
    missing = [c for c in TABLE_COLUMNS if c not in names]
    if missing:  # pragma: no cover - table_hdu() only selects tables with FLUX and WAVELENGTH
        raise SpectrumProblem("read", f"{table.name} lacks column(s) {', '.join(missing)} (found: {', '.join(table.columns)})")
    if table.shape[0] < 1:
        raise SpectrumProblem("read", f"{table.name} table has no rows")
    wanted = [names[c] for c in TABLE_COLUMNS + TABLE_OPTIONAL if c in names]
    row_meta = [names[c] for c in ROW_META if c in names]
    cols = view.read_columns(table, wanted + row_meta)
    n_rows = table.shape[0]
    header0 = view.hdu(0).header
    header_meta = {}
    for k in ROW_META:
        value = header0.get(k)
        if value is None:
            value = table.header.get(k)
        header_meta[k] = value
    out: list[NativeSpectrum] = []
    for r in range(n_rows):  # one row per spectrum; the public files hold a single row
        def pick(name):
            arr = cols[names[name]]
            return arr[r] if arr.ndim == 2 else (arr if n_rows == 1 else None)

        wave = pick("WAVELENGTH")
        flux, ivar = pick("FLUX"), pick("IVAR")
        if wave is None or flux is None or ivar is None:
            raise SpectrumProblem("read", f"{table.name}: FLUX/IVAR/WAVELENGTH are not array columns ({n_rows} rows)")
        wave = as_1d("WAVELENGTH", wave, table.name).astype(np.float64)
        if np.any(~np.isfinite(wave)) or np.any(wave <= 0):
            raise SpectrumProblem("validate", f"{table.name} WAVELENGTH has non-positive or NaN values")
        andmask = pick("ANDMASK") if "ANDMASK" in names else np.zeros(wave.shape, np.int32)
        meta = dict(header_meta)
        for k in ROW_META:
            if k in names:
                v = cols[names[k]][r]
                meta[k] = v.item() if hasattr(v, "item") else v
        spec = _spectrum(
            meta,
            np.log10(wave),
            as_1d("FLUX", flux, table.name),
            as_1d("IVAR", ivar, table.name),
            _mask_as_int(as_1d("ANDMASK", andmask, table.name)),
            path,
            "lamost-table",
            row_index=r if n_rows > 1 else None,
            suffix=f"-{r}" if n_rows > 1 and "OBSID" not in names and "FIBERID" not in names else "",
        )
        if "ORMASK" in names:
            spec.extra["ormask"] = _mask_as_int(as_1d("ORMASK", pick("ORMASK"), table.name))
        out.append(spec)
    return out

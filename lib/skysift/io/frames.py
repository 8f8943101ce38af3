"""Read survey image frames (SDSS corrected frames, stamps, cutouts, any FITS image with a celestial WCS).

``read_frame(path, data=None)`` returns a ``Frame`` (float32 image, the celestial WCS
as a header string, band / run / camcol / field when known, pixel scale) or a
``Reject`` whose one-line reason names the file: it never raises for a bad file.
Executors that already hold the file's bytes pass them as ``data`` (the path is
then only the name used in messages and for parsing the SDSS name).

Compression (gzip, bzip2) is detected from the magic bytes, not the name, as for
spectra (``io/readers/fitsview.read_source``), and streamed with a cap on the
decompressed size (``max_bytes``, default ``DEFAULT_MAX_FRAME_BYTES`` = 64 MiB:
an SDSS frame is 12.4 MB decompressed; ``skysift.io.decompression``). The primary HDU is parsed by a few
lines of our own (header text to ``astropy.io.fits.Header``, pixels by
``np.frombuffer``); files whose image is not in the primary HDU (empty primary +
image extension, tile-compressed images) go through ``astropy.io.fits``.

Where the time goes for one real SDSS frame (frame-r-002583-2-0136.fits.bz2,
3.5 MB -> 12.4 MB; 2-core machine shared with other jobs): bz2 decompression
0.39 s; header parse 0.3 ms, pixels (byte swap to native float32) 3 ms, WCS 4 ms.
Decompression is ~97 % of reading: plain or gzip frames read in ~10-40 ms.

SDSS names: ``frame-BAND-RUN6-CAMCOL-FIELD4.fits[.bz2|.gz]``. The header's FILTER,
RUN and CAMCOL must agree with the name (a mislabelled frame would silently join the
wrong field stack, so it is rejected). The header has no FIELD keyword: its FRAME is
the raw frame sequence number, FRAME = FIELD + 2 (CAMROW - 1) on the four real frames
(r 136 at camrow 1, i 138 at 2, u 273 for field 269 at 3, g 144 at 5); that relation
gives the field when the name does not.
"""
from __future__ import annotations

import io
import math
import os
import re
import time
import warnings
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Iterable

import numpy as np

from skysift.runtime.rejects import Reject
from skysift.io.decompression import DEFAULT_MAX_FRAME_BYTES, DecompressionError, decompress_bounded, read_bounded
from skysift.io.readers.fitsview import BLOCK, CARD, _one_line

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "Frame",
    "FrameName",
    "FrameProblem",
    "SdssCalibration",
    "SDSS_FRAME_SHAPE",
    "decompress",
    "parse_frame_name",
    "read_frame",
    "read_frames",
    "group_frame_paths",
    "group_frames",
    "missing_bands",
    "wcs_from_header",
]

SDSS_FRAME_SHAPE = (1489, 2048)
"""(rows, columns) of an SDSS corrected frame's HDU0 (SDSS data model, ``frame``)."""

SDSS_BANDS = ("u", "g", "r", "i", "z")

_FRAME_NAME = re.compile(r"^frame-([ugriz])-(\d{6})-([1-6])-(\d{4})\.fits(\.bz2|\.gz)?$")
_BITPIX = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
MAX_EXTENSIONS = 16
"""Extensions searched for an image when the primary HDU has none."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FrameName:
    """What an SDSS frame's file name says."""

    band: str
    """u, g, r, i or z."""
    run: int
    """Imaging run."""
    camcol: int
    """Camera column 1-6."""
    field: int
    """Field number within the run."""

    @property
    def field_id(self) -> str:
        """``RUN-CAMCOL-FIELD`` without zero padding, e.g. '2583-2-136'."""
        return f"{self.run}-{self.camcol}-{self.field}"


@dataclass(eq=False)
class SdssCalibration:
    """HDU1-2 of an SDSS frame: what turns the frame back into counts and gives the subtracted sky."""

    calib_nmgy_per_dn: np.ndarray
    """HDU1, one value per column (2048,): nanomaggies per count."""
    sky_dn: np.ndarray
    """HDU2 ALLSKY, the sky in counts on a coarse (192, 256) grid."""
    sky_x: np.ndarray
    """HDU2 XINTERP (2048,): each image column's x position on the sky grid."""
    sky_y: np.ndarray
    """HDU2 YINTERP (1489,): each image row's y position on the sky grid."""


@dataclass(eq=False)
class Frame:
    """One 2-D image with its celestial WCS; SDSS metadata when the file is an SDSS frame or stamp."""

    image: np.ndarray
    """float32 (rows, columns), native byte order; NaN where the file has no value."""
    wcs_header: str
    """The celestial WCS as FITS header text (``WCS.to_header_string(relax=True)``; SIP kept)."""
    source_file: str
    """Path (or name) it was read from."""
    pixel_scale_arcsec: float
    """Mean pixel side in arcsec (``proj_plane_pixel_scales``); SDSS 0.396."""
    band: str | None = None
    """Filter (u/g/r/i/z for SDSS; header FILTER / BAND otherwise), None when unknown."""
    run: int | None = None
    """SDSS run, None when unknown."""
    camcol: int | None = None
    """SDSS camera column, None when unknown."""
    field: int | None = None
    """SDSS field, None when unknown."""
    kind: str = "image"
    """'sdss-frame' for an SDSS corrected frame, 'image' for anything else."""
    unit: str | None = None
    """BUNIT (SDSS frames: 'nanomaggy')."""
    calibration: SdssCalibration | None = None
    """HDU1-2 of an SDSS frame, read only when asked for (``with_calibration=True``)."""
    extra: dict[str, Any] = dc_field(default_factory=dict)
    """compression, hdu, n_nonfinite, seconds {'decompress', 'parse', 'wcs'}."""
    _wcs: Any = dc_field(default=None, init=False, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return tuple(self.image.shape)  # type: ignore[return-value]

    @property
    def field_id(self) -> str | None:
        """``RUN-CAMCOL-FIELD`` when all three are known, else None."""
        if self.run is None or self.camcol is None or self.field is None:
            return None
        return f"{self.run}-{self.camcol}-{self.field}"

    @property
    def wcs(self):
        """The celestial ``astropy.wcs.WCS`` (built once from ``wcs_header``)."""
        if self._wcs is None:
            self._wcs = wcs_from_header(self.wcs_header)
        return self._wcs


class FrameProblem(Exception):
    """A reason the file cannot be used (``stage`` 'read' or 'validate'; message without the path)."""

    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


def _reject(path: str, stage: str, reason: str) -> Reject:
    return Reject(source_file=path, stage=stage, reason=_one_line(f"{path}: {reason}", 400))


# --------------------------------------------------------------------------- names and WCS


def parse_frame_name(path: str | os.PathLike) -> FrameName | None:
    """Band/run/camcol/field from an SDSS ``frame-BAND-RUN-CAMCOL-FIELD.fits[.bz2|.gz]`` name, else None."""
    m = _FRAME_NAME.match(os.path.basename(str(path)))
    if not m:
        return None
    return FrameName(band=m.group(1), run=int(m.group(2)), camcol=int(m.group(3)), field=int(m.group(4)))


def wcs_from_header(header: str | Any):
    """An astropy WCS from header text or a Header, with astropy's FITSFixedWarning (old keywords) silenced."""
    from astropy.io import fits
    from astropy.wcs import WCS

    if isinstance(header, str):
        header = fits.Header.fromstring(header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(header)


# --------------------------------------------------------------------------- bytes


def decompress(data: bytes, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[bytes, str]:
    """(decompressed bytes, 'gzip' | 'bzip2' | 'none') by magic bytes, at most ``max_bytes`` of output.

    Raise FrameProblem on an empty, corrupt or cut stream, and on content over ``max_bytes`` (plain or
    decompressed: a decompression bomb stops after ``max_bytes`` of output, see ``skysift.io.decompression``).
    """
    if len(data) == 0:
        raise FrameProblem("read", "empty file (0 bytes)")
    try:
        out, kind = decompress_bounded(data, max_bytes)
    except DecompressionError as exc:
        raise FrameProblem("read", str(exc)) from None
    if len(out) == 0:
        raise FrameProblem("read", f"{kind} stream decompresses to 0 bytes")
    return out, kind


def _read_file(path: str, max_bytes: int) -> tuple[bytes, str]:
    """(content, compression) of a frame file, streamed from disk with the cap (never the whole compressed file at once)."""
    try:
        data, kind = read_bounded(path, max_bytes)
    except DecompressionError as exc:
        raise FrameProblem("read", str(exc)) from None
    if len(data) == 0:
        raise FrameProblem("read", "empty file (0 bytes)" if kind == "none" else f"{kind} stream decompresses to 0 bytes")
    return data, kind


def _structure(data: bytes, index: int):
    """HDU ``index`` as the raw scanner's structure walk sees it (BITPIX / NAXIS / NAXISn / PCOUNT / GCOUNT
    checked against the FITS standard before astropy parses anything); None past the last HDU."""
    from skysift.io.readers.fitsview import FitsError, RawView

    try:
        view = RawView("<bytes>", data=data, structure_only=True)
    except FitsError as exc:
        raise FrameProblem("read", str(exc)) from None
    try:
        for i in range(index + 1):
            hdu = view.hdu(i)
            if hdu is None:
                return None
        return hdu
    except FitsError as exc:
        raise FrameProblem("read", str(exc)) from None
    finally:
        view.close()


def _primary_header(data: bytes):
    """(astropy Header of HDU0, byte offset of its data); raise FrameProblem when there is no complete, sound header."""
    from astropy.io import fits

    if not data.startswith(b"SIMPLE  ="):
        raise FrameProblem("read", f"not a FITS file (starts with {data[:16]!r}, expected 'SIMPLE  =')")
    hdu0 = _structure(data, 0)
    pos = hdu0.data_offset
    if hdu0.kind == "image" and pos + hdu0.data_bytes > len(data):  # before astropy parses a long damaged header
        raise FrameProblem(
            "read", f"truncated: primary image needs bytes up to {pos + hdu0.data_bytes} but the file ends at byte {len(data)}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            header = fits.Header.fromstring(data[:pos].decode("ascii", "replace").replace("\ufffd", "?"))
        except Exception as exc:  # noqa: BLE001 - astropy raises ValueError / VerifyError / KeyError for bad cards
            raise FrameProblem("read", f"primary header unreadable ({type(exc).__name__}: {_one_line(exc, 160)})") from None
    return header, pos


def _number(header, key: str, default: float) -> float:
    value = header.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FrameProblem("read", f"{key} = {_one_line(repr(value), 40)} is not a finite number")
    return value


def _scaled(raw: np.ndarray, header) -> np.ndarray:
    """float32 pixels, BSCALE/BZERO applied (as astropy does) and integer BLANK values set to NaN."""
    bscale = float(_number(header, "BSCALE", 1.0))
    bzero = float(_number(header, "BZERO", 0.0))
    out = raw.astype(np.float32)  # native order copy
    if raw.dtype.kind in "iu" and "BLANK" in header:
        blank = header["BLANK"]
        if isinstance(blank, int) and not isinstance(blank, bool):
            info = np.iinfo(raw.dtype)
            if info.min <= blank <= info.max:  # a BLANK outside the type's range marks no pixel
                out[raw == blank] = np.nan
    if bscale != 1.0 or bzero != 0.0:
        out = (out * np.float32(bscale) + np.float32(bzero)).astype(np.float32)
    return out


def _image_from_primary(data: bytes):
    """(header, float32 pixels) of HDU0, or (header, None) when HDU0 holds no image."""
    header, offset = _primary_header(data)
    hdu0 = _structure(data, 0)
    bitpix = int(hdu0.header.get("BITPIX"))
    dims = list(reversed(hdu0.shape))
    if not dims or 0 in dims:
        return header, None
    dtype = np.dtype(_BITPIX[bitpix])
    n = math.prod(dims)
    end = offset + n * dtype.itemsize
    if end > len(data):
        raise FrameProblem("read", f"truncated: primary image needs bytes up to {end} but the file ends at byte {len(data)}")
    raw = np.frombuffer(data, dtype=dtype, count=n, offset=offset).reshape(tuple(reversed(dims)))
    return header, _scaled(raw, header)


def _image_from_extensions(data: bytes):
    """(header, float32 pixels, hdu index) of the first HDU with a >= 2-D image, through astropy."""
    from astropy.io import fits

    n_checked = 0
    for index in range(MAX_EXTENSIONS + 1):  # every header astropy may parse passes the structure walk first
        if _structure(data, index) is None:
            break
        n_checked = index + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hdul = fits.open(io.BytesIO(data), memmap=False, lazy_load_hdus=True)
        except Exception as exc:  # noqa: BLE001 - astropy's zoo of types for a damaged header
            raise FrameProblem("read", f"astropy cannot open it as FITS ({type(exc).__name__}: {_one_line(exc, 160)})") from None
        try:
            for index in range(n_checked):
                try:
                    hdu = hdul[index]
                except IndexError:
                    break
                if isinstance(hdu, (fits.ImageHDU, fits.CompImageHDU, fits.PrimaryHDU)) and hdu.header.get("NAXIS", 0) >= 2:
                    _inside(data, index)
                    pixels = hdu.data
                    if pixels is None:
                        continue
                    return hdu.header.copy(), np.asarray(pixels, dtype=np.float32), index
        except FrameProblem:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FrameProblem("read", f"HDU unreadable ({type(exc).__name__}: {_one_line(exc, 160)})") from None
        finally:
            hdul.close()
    raise FrameProblem("read", "no image HDU (checked the primary and the extensions: none has a 2-D image)")


def _inside(data: bytes, index: int) -> None:
    """FrameProblem when HDU ``index`` announces more data than the file holds (astropy would pad or fail late)."""
    hdu = _structure(data, index)
    if hdu is not None and hdu.data_offset + hdu.data_bytes > len(data):
        raise FrameProblem(
            "read", f"truncated: HDU {index} data needs bytes up to {hdu.data_offset + hdu.data_bytes} but the file ends at byte {len(data)}"
        )


def _squeeze_2d(pixels: np.ndarray) -> np.ndarray:
    """Drop length-1 leading axes (NAXIS3 = 1); anything else that is not 2-D is a shape problem."""
    while pixels.ndim > 2 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 2:
        raise FrameProblem("read", f"image has shape {pixels.shape}, expected a 2-D image (rows, columns)")
    return pixels


def _celestial_wcs(header, shape: tuple[int, int]):
    """(celestial WCS, pixel scale arcsec) or FrameProblem when the header has none that works."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    try:
        wcs = wcs_from_header(header)
    except Exception as exc:  # noqa: BLE001 - wcslib raises a zoo of types for bad keywords
        raise FrameProblem("read", f"WCS keywords unreadable ({type(exc).__name__}: {_one_line(exc, 160)})") from None
    if not wcs.has_celestial:
        ctypes = ", ".join(f"CTYPE{i}={header.get(f'CTYPE{i}')!r}" for i in (1, 2))
        raise FrameProblem("read", f"no celestial WCS ({ctypes}); expected e.g. RA---TAN / DEC--TAN")
    cel = wcs.celestial
    if cel.pixel_shape is None or tuple(cel.pixel_shape) != (shape[1], shape[0]):
        cel.pixel_shape = (shape[1], shape[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            centre = cel.all_pix2world([[(shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0]], 0)
            scales = proj_plane_pixel_scales(cel)
    except Exception as exc:  # noqa: BLE001
        raise FrameProblem("read", f"celestial WCS does not map pixels to the sky ({_one_line(exc, 160)})") from None
    scale_arcsec = float(np.mean(scales)) * 3600.0
    if not np.all(np.isfinite(centre)) or not math.isfinite(scale_arcsec) or scale_arcsec <= 0:
        raise FrameProblem("read", "celestial WCS does not map the image centre to a finite sky position")
    return cel, scale_arcsec


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _sdss_identity(header, name: FrameName | None) -> dict[str, Any]:
    """band/run/camcol/field from the header, checked against the file name when it is an SDSS frame name."""
    band = _text(header.get("FILTER")) or _text(header.get("BAND"))
    band = band.lower() if band and band.lower() in SDSS_BANDS else band
    run = _int_or_none(header.get("RUN"))
    camcol = _int_or_none(header.get("CAMCOL"))
    fld = _int_or_none(header.get("FIELD"))
    if fld is None and header.get("FRAME") is not None and header.get("CAMROW") is not None:
        frame_no, camrow = _int_or_none(header.get("FRAME")), _int_or_none(header.get("CAMROW"))
        if frame_no is not None and camrow is not None:
            fld = frame_no - 2 * (camrow - 1)
    if name is not None:
        for key, from_header, from_name in (("band (FILTER)", band, name.band), ("RUN", run, name.run), ("CAMCOL", camcol, name.camcol)):
            if from_header is not None and from_header != from_name:
                raise FrameProblem("validate", f"file name says {key} {from_name!r} but the header says {from_header!r}")
        band, run, camcol, fld = name.band, name.run, name.camcol, name.field
    return {"band": band, "run": run, "camcol": camcol, "field": fld}


def _read_calibration(data: bytes) -> SdssCalibration:
    """HDU1 (calibration vector) and HDU2 (sky grid) of an SDSS frame."""
    from skysift.io.readers.fitsview import FitsError, RawView, Unsupported

    view = RawView("<bytes>", data=data)
    try:
        h1, h2 = view.hdu(1), view.hdu(2)
        if h1 is None or h1.kind != "image" or h2 is None or h2.kind != "table":
            raise FrameProblem("read", "SDSS frame lacks HDU1 (calibration vector) or HDU2 (sky table)")
        calib = view.read_image(h1).astype(np.float32).reshape(-1)
        cols = view.read_columns(h2, ["ALLSKY", "XINTERP", "YINTERP"])
        dims = str(h2.header.get("TDIM1", "")).strip("() ")
        nx, ny = (int(v) for v in dims.split(","))
        return SdssCalibration(
            calib_nmgy_per_dn=calib,
            sky_dn=cols["ALLSKY"].reshape(ny, nx).astype(np.float32),
            sky_x=cols["XINTERP"].reshape(-1).astype(np.float32),
            sky_y=cols["YINTERP"].reshape(-1).astype(np.float32),
        )
    except (KeyError, ValueError, FitsError, Unsupported) as exc:
        raise FrameProblem("read", f"SDSS calibration HDUs unreadable ({_one_line(exc, 160)})") from None
    finally:
        view.close()


# --------------------------------------------------------------------------- reading


def read_frame(
    path: str | os.PathLike,
    data: bytes | None = None,
    *,
    with_calibration: bool = False,
    max_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> Frame | Reject:
    """One FITS image with a celestial WCS as a ``Frame``, or a ``Reject`` naming the file and the problem.

    ``data``: the file's bytes (compressed or not) when the caller already holds them;
    ``path`` is then only used for messages and the SDSS name. ``with_calibration``
    also reads an SDSS frame's HDU1-2 (``Frame.calibration``; a frame without them is
    then rejected; ignored for other images). Rejected (stage 'read'
    unless noted): unreadable / empty / corrupt-compressed / truncated files, no
    image, an image that is not 2-D, a file over ``max_bytes`` after decompression
    (a decompression bomb costs at most ``max_bytes`` of output), an SDSS frame whose image is not 1489 x 2048,
    no celestial WCS, an image with no finite pixel or with all finite pixels equal
    (stage 'validate'), a frame whose header contradicts its SDSS name ('validate').
    """
    path = str(path)
    seconds: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        if data is None:
            try:
                data, compression = _read_file(path, max_bytes)
            except OSError as exc:
                return _reject(path, "read", f"cannot open ({exc.strerror or type(exc).__name__})")
        else:
            data, compression = decompress(data, max_bytes)
        t1 = time.perf_counter()
        seconds["decompress"] = t1 - t0
        header, pixels = _image_from_primary(data)
        hdu_index = 0
        if pixels is None:
            header, pixels, hdu_index = _image_from_extensions(data)
        pixels = _squeeze_2d(pixels)
        name = parse_frame_name(path)
        is_sdss_frame = name is not None or (
            _text(header.get("ORIGIN")) == "SDSS" and _text(header.get("BUNIT")) == "nanomaggy" and "CAMROW" in header
        )
        if is_sdss_frame and pixels.shape != SDSS_FRAME_SHAPE:
            raise FrameProblem("read", f"SDSS frame image has shape {pixels.shape}, expected {SDSS_FRAME_SHAPE} (rows, columns)")
        finite = np.isfinite(pixels)
        n_finite = int(finite.sum())
        if n_finite == 0:
            raise FrameProblem("validate", f"all {pixels.size} pixels are NaN/inf")
        vals = pixels[finite] if n_finite < pixels.size else pixels
        lo, hi = float(vals.min()), float(vals.max())
        if lo == hi:
            raise FrameProblem("validate", f"all {n_finite} finite pixels equal {lo!r} (blank image)")
        t2 = time.perf_counter()
        seconds["parse"] = t2 - t1
        wcs, scale = _celestial_wcs(header, pixels.shape)
        seconds["wcs"] = time.perf_counter() - t2
        ident = _sdss_identity(header, name)
        frame = Frame(
            image=np.ascontiguousarray(pixels, dtype=np.float32),
            wcs_header=wcs.to_header_string(relax=True),
            source_file=path,
            pixel_scale_arcsec=scale,
            kind="sdss-frame" if is_sdss_frame else "image",
            unit=_text(header.get("BUNIT")),
            extra={"compression": compression, "hdu": hdu_index, "n_nonfinite": pixels.size - n_finite, "seconds": seconds},
            **ident,
        )
        frame._wcs = wcs
        if with_calibration and is_sdss_frame:
            frame.calibration = _read_calibration(data)
        return frame
    except FrameProblem as problem:
        return _reject(path, problem.stage, problem.reason)
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop a job
        from astropy.io.fits.verify import VerifyError

        if isinstance(exc, VerifyError):  # astropy parses a card when it is first read
            return _reject(path, "read", f"header card unparsable ({_one_line(exc, 200)})")
        return _reject(path, "read", f"unexpected {type(exc).__name__}: {_one_line(exc, 200)}")


def read_frames(
    paths: Iterable[str | os.PathLike], *, with_calibration: bool = False, max_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> list[Frame | Reject]:
    """``read_frame`` over several files, in order."""
    return [read_frame(p, with_calibration=with_calibration, max_bytes=max_bytes) for p in paths]


# --------------------------------------------------------------------------- grouping


def group_frame_paths(paths: Iterable[str | os.PathLike]) -> tuple[dict[str, dict[str, str]], list[str], list[Reject]]:
    """Group file paths by SDSS field from their names alone (what a driver can do without reading them).

    Returns ``(fields, others, rejects)``: ``fields`` maps 'RUN-CAMCOL-FIELD' to {band: path}
    (sorted by field id); ``others`` are paths whose names are not SDSS frame names
    (read them with ``read_frame`` and key them by their own path); a second file for a
    band already present (e.g. both .fits and .fits.bz2) becomes a Reject (stage 'group')
    naming the file kept.
    """
    fields: dict[str, dict[str, str]] = {}
    others: list[str] = []
    rejects: list[Reject] = []
    for p in sorted(str(p) for p in paths):
        name = parse_frame_name(p)
        if name is None:
            others.append(p)
            continue
        bands = fields.setdefault(name.field_id, {})
        if name.band in bands:
            rejects.append(_reject(p, "group", f"duplicate {name.band} frame for field {name.field_id} (kept {bands[name.band]})"))
            continue
        bands[name.band] = p
    return dict(sorted(fields.items())), others, rejects


def group_frames(frames: Iterable[Frame]) -> tuple[dict[str, dict[str, Frame]], list[Reject]]:
    """Group read frames by field id ('RUN-CAMCOL-FIELD'; a frame without one is keyed by its source path)."""
    fields: dict[str, dict[str, Frame]] = {}
    rejects: list[Reject] = []
    for fr in frames:
        key = fr.field_id or fr.source_file
        band = fr.band or "?"
        bands = fields.setdefault(key, {})
        if band in bands:
            rejects.append(
                _reject(fr.source_file, "group", f"duplicate {band} frame for field {key} (kept {bands[band].source_file})")
            )
            continue
        bands[band] = fr
    return dict(sorted(fields.items())), rejects


def missing_bands(field_id: str, bands: dict[str, Any], required: Iterable[str], source_file: str | None = None) -> Reject | None:
    """A Reject for the whole field (stage 'group') when a required band is absent, naming the band(s); else None."""
    required = list(required)
    lacking = [b for b in required if b not in bands]
    if not lacking:
        return None
    have = ", ".join(sorted(bands)) or "none"
    where = source_file or next((str(v) if isinstance(v, (str, os.PathLike)) else v.source_file for v in bands.values()), field_id)
    return Reject(
        source_file=where,
        stage="group",
        reason=f"field {field_id} lacks band(s) {', '.join(lacking)} (has {have}; required {', '.join(required)})",
    )

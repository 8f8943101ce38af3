"""A minimal, read-only view of a FITS file: HDU names, headers, table columns, images.

Three interchangeable back ends expose the same small interface (``FitsView``):

* ``RawView`` scans the file itself with ``os.pread``: it parses only the header
  cards it walks over, locates HDUs by their sizes, and slices the wanted table
  columns out of the row bytes with numpy. No per-column objects are built, so a
  full SDSS spec file (126-column SPECOBJ, dozens of per-exposure HDUs) costs
  well under a millisecond. It handles the plain binary-table and image layouts
  the spectrum readers need; anything else (scaled columns, heap arrays, ASCII
  tables) raises ``Unsupported`` and the caller falls back to astropy.
* ``AstropyView`` wraps ``astropy.io.fits`` (lazy HDU loading, no memmap); the
  pure-astropy reference path.
* ``FitsioView`` wraps ``fitsio`` (cfitsio), kept for timing comparisons.

gzip and bzip2 files are recognised by their magic bytes (not the file name)
and decompressed into memory first.
"""
from __future__ import annotations

import bz2
import gzip
import io
import os
import re
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BLOCK = 2880
CARD = 80


class FitsError(Exception):
    """The file cannot be used; the message is the one-line reason (without the path)."""


class NotFits(FitsError):
    """Empty, not FITS, or a compressed stream that does not decompress."""


class Truncated(FitsError):
    """The file ends before a header or data unit it announces."""


class Unsupported(Exception):
    """The raw scanner does not handle this construct; use another back end."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- sources


def read_source(path: str) -> tuple[bytes | None, str]:
    """Return (decompressed bytes or None for a plain file, compression name).

    Compression is detected from the first bytes so a mislabelled file still
    reads; a plain FITS file is left on disk and read piecewise.
    """
    with open(path, "rb") as fh:
        head = fh.read(3)
        if len(head) == 0:
            raise NotFits("empty file (0 bytes)")
        if head[:2] == b"\x1f\x8b":
            fh.seek(0)
            try:
                return gzip.decompress(fh.read()), "gzip"
            except (OSError, EOFError, zlib.error) as exc:
                raise NotFits(f"corrupt or truncated gzip stream ({_one_line(exc, 120)})") from None
        if head == b"BZh":
            fh.seek(0)
            try:
                return bz2.decompress(fh.read()), "bzip2"
            except (OSError, EOFError, ValueError) as exc:
                raise NotFits(f"corrupt or truncated bzip2 stream ({_one_line(exc, 120)})") from None
    return None, "none"


class _Source:
    """Random access to the (decompressed) file bytes."""

    def __init__(self, path: str, data: bytes | None):
        self._data = data
        self._fd = None
        if data is None:
            self._fd = os.open(path, os.O_RDONLY)
            self.size = os.fstat(self._fd).st_size
        else:
            self.size = len(data)

    def read(self, offset: int, nbytes: int) -> bytes:
        if self._data is not None:
            return self._data[offset : offset + nbytes]
        return os.pread(self._fd, nbytes, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# --------------------------------------------------------------------------- headers

_STRING = re.compile(r"\s*'((?:[^']|'')*)'")


def parse_value(raw: str) -> Any:
    """Value of a header card from the text after '= ' (string, bool, int, float or None)."""
    m = _STRING.match(raw)
    if m:
        return m.group(1).replace("''", "'").rstrip()
    token = raw.split("/", 1)[0].strip()
    if token == "":
        return None
    if token == "T":
        return True
    if token == "F":
        return False
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token.replace("D", "E").replace("d", "e"))
    except ValueError:
        return token


class RawHeader:
    """Header cards of one HDU, values parsed on first access. First occurrence of a key wins."""

    def __init__(self, cards: dict[str, str]):
        self._raw = cards
        self._parsed: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        key = key.upper()
        if key in self._parsed:
            return self._parsed[key]
        raw = self._raw.get(key)
        if raw is None:
            return default
        value = parse_value(raw)
        self._parsed[key] = value
        return value

    def __contains__(self, key: str) -> bool:
        return key.upper() in self._raw

    def keys(self):
        return self._raw.keys()


@dataclass
class Hdu:
    """What a reader needs to know about one HDU before touching its data."""

    index: int
    name: str
    kind: str
    """'image' (NAXIS > 0 array), 'table' (binary table), 'empty' (no data), 'other'."""
    shape: tuple[int, ...]
    """numpy order: images (NAXIS2, NAXIS1); tables (n_rows,)."""
    header: Any
    """Mapping with .get(KEY, default) and `in`."""
    columns: list[str] = field(default_factory=list)
    """Column names of a table, as written."""
    data_offset: int = 0
    data_bytes: int = 0

    def column(self, name: str) -> str | None:
        """The column's name as written, matched case-insensitively."""
        low = name.lower()
        for col in self.columns:
            if col.lower() == low:
                return col
        return None

    def describe(self) -> str:
        name = self.name or f"HDU{self.index}"
        if self.kind == "table":
            cols = ",".join(self.columns[:8]) + (",..." if len(self.columns) > 8 else "")
            return f"{name}(table {self.shape[0]} rows: {cols})"
        if self.kind == "image":
            return f"{name}(image {'x'.join(str(s) for s in self.shape)})"
        return f"{name}({self.kind})"


class FitsView:
    """Interface shared by the back ends."""

    backend = "?"
    compression = "none"

    def hdu(self, index: int) -> Hdu | None:  # pragma: no cover - interface
        raise NotImplementedError

    def read_columns(self, hdu: Hdu, names: list[str], n_rows: int | None = None) -> dict[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def read_image(self, hdu: Hdu) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def find(self, *names: str, limit: int = 64) -> Hdu | None:
        """First HDU whose EXTNAME is one of ``names`` (case-insensitive), scanning at most ``limit``."""
        wanted = {n.upper() for n in names}
        for i in range(limit):
            h = self.hdu(i)
            if h is None:
                return None
            if h.name.upper() in wanted:
                return h
        return None

    def summary(self, limit: int = 6) -> str:
        """One-line list of the first HDUs, for reject reasons."""
        parts = []
        for i in range(limit + 1):
            try:
                h = self.hdu(i)
            except (FitsError, Unsupported) as exc:
                parts.append(f"[HDU {i} unreadable: {_one_line(exc, 80)}]")
                break
            if h is None:
                break
            if i == limit:
                parts.append("...")
                break
            parts.append(h.describe())
        return "HDUs: " + ", ".join(parts) if parts else "no HDUs"


def _native(arr: np.ndarray) -> np.ndarray:
    """A native-byte-order copy (Arrow and torch reject big-endian buffers)."""
    if arr.dtype.byteorder in ("=", "|") or (arr.dtype.byteorder == "<") == (np.little_endian):
        return np.array(arr, copy=True)
    return arr.astype(arr.dtype.newbyteorder("="))


# --------------------------------------------------------------------------- raw scanner

_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])")
_ITEM = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}
_NPTYPE = {"L": "S1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16"}
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


class RawView(FitsView):
    """Our own scanner over the file bytes (see module doc)."""

    backend = "raw"

    def __init__(self, path: str, data: bytes | None = None, compression: str = "none"):
        self.path = path
        self.compression = compression
        self._src = _Source(path, data)
        self._hdus: list[Hdu] = []
        self._next_offset = 0
        self._done = False
        first = self._src.read(0, CARD)
        if not first.startswith(b"SIMPLE  =") or parse_value(first[10:].decode("ascii", "replace")) is not True:
            self._src.close()
            raise NotFits(f"not a FITS file (starts with {first[:16]!r}, expected 'SIMPLE  =                    T')")

    def close(self) -> None:
        self._src.close()

    def _read_header(self, offset: int) -> tuple[dict[str, str], int]:
        cards: dict[str, str] = {}
        pos = offset
        while True:
            block = self._src.read(pos, BLOCK)
            if len(block) < BLOCK:
                raise Truncated(
                    f"truncated: header starting at byte {offset} has no END card before the file ends at byte {self._src.size}"
                )
            text = block.decode("ascii", "replace")
            pos += BLOCK
            for i in range(0, BLOCK, CARD):
                key = text[i : i + 8].rstrip()
                if key == "END":
                    return cards, pos
                if text[i + 8 : i + 10] == "= " and key not in cards:
                    cards[key] = text[i + 10 : i + CARD]

    def _scan_next(self) -> Hdu | None:
        if self._done:
            return None
        offset = self._next_offset
        index = len(self._hdus)
        if index > 0:
            prev = self._hdus[-1]
            if prev.data_offset + prev.data_bytes > self._src.size:
                raise Truncated(
                    f"truncated: HDU {prev.index} ({prev.name}) data needs bytes up to "
                    f"{prev.data_offset + prev.data_bytes} but the file ends at byte {self._src.size}"
                )
            lead = self._src.read(offset, 9)
            if len(lead) == 0:
                self._done = True
                return None
            if lead != b"XTENSION=":
                # Trailing padding or junk after the last HDU: astropy also stops here.
                self._done = True
                return None
        cards, data_offset = self._read_header(offset)
        header = RawHeader(cards)
        try:
            bitpix = int(header.get("BITPIX"))
            naxis = int(header.get("NAXIS"))
            dims = [int(header.get(f"NAXIS{i}")) for i in range(1, naxis + 1)]
            pcount = int(header.get("PCOUNT", 0) or 0)
            gcount = int(header.get("GCOUNT", 1) or 1)
        except (TypeError, ValueError):
            raise Unsupported(f"HDU {index}: missing or malformed BITPIX/NAXIS keywords") from None
        n_elem = int(np.prod(dims, dtype=np.int64)) if naxis > 0 else 0
        data_bytes = abs(bitpix) // 8 * gcount * (pcount + n_elem)
        self._next_offset = data_offset + (data_bytes + BLOCK - 1) // BLOCK * BLOCK
        xtension = header.get("XTENSION") if index > 0 else None
        name = header.get("EXTNAME") or ("PRIMARY" if index == 0 else "")
        name = str(name).strip()
        columns: list[str] = []
        if index == 0 or xtension == "IMAGE":
            kind = "image" if n_elem > 0 else "empty"
            shape = tuple(reversed(dims))
        elif xtension == "BINTABLE":
            kind = "table"
            shape = (dims[1] if naxis >= 2 else 0,)
            nfields = int(header.get("TFIELDS", 0) or 0)
            columns = [str(header.get(f"TTYPE{i}", f"col{i}")).strip() for i in range(1, nfields + 1)]
        else:
            kind = "other"
            shape = tuple(reversed(dims))
        hdu = Hdu(index, name, kind, shape, header, columns, data_offset, data_bytes)
        self._hdus.append(hdu)
        return hdu

    def hdu(self, index: int) -> Hdu | None:
        while len(self._hdus) <= index:
            if self._scan_next() is None:
                return None
        return self._hdus[index]

    def _need(self, hdu: Hdu, nbytes: int) -> None:
        end = hdu.data_offset + nbytes
        if end > self._src.size:
            raise Truncated(
                f"truncated: HDU {hdu.index} ({hdu.name}) data needs bytes up to {end} but the file ends at byte {self._src.size}"
            )

    def read_columns(self, hdu: Hdu, names: list[str], n_rows: int | None = None) -> dict[str, np.ndarray]:
        h = hdu.header
        row_bytes = int(h.get("NAXIS1"))
        total_rows = hdu.shape[0]
        rows = total_rows if n_rows is None else min(n_rows, total_rows)
        layout: dict[str, tuple[int, int, str, int]] = {}
        offset = 0
        wanted = {n.lower(): n for n in names}
        for i, col in enumerate(hdu.columns, start=1):
            m = _TFORM.match(str(h.get(f"TFORM{i}", "")))
            if not m:
                raise Unsupported(f"column {col}: TFORM {h.get(f'TFORM{i}')!r}")
            repeat = int(m.group(1)) if m.group(1) else 1
            code = m.group(2)
            size = (repeat + 7) // 8 if code == "X" else repeat * _ITEM[code]
            if col.lower() in wanted:
                if code in "PQX":
                    raise Unsupported(f"column {col}: variable-length or bit column ({code})")
                if h.get(f"TSCAL{i}", 1) not in (1, 1.0) or h.get(f"TZERO{i}", 0) not in (0, 0.0):
                    raise Unsupported(f"column {col}: scaled (TSCAL/TZERO)")
                layout[wanted[col.lower()]] = (offset, repeat, code, i)
            offset += size
        if offset != row_bytes:
            raise Unsupported(f"HDU {hdu.index}: TFORM widths sum to {offset}, NAXIS1 is {row_bytes}")
        missing = [n for n in names if n not in layout]
        if missing:
            raise KeyError(f"HDU {hdu.index} ({hdu.name}) has no column(s) {missing}")
        self._need(hdu, row_bytes * rows)
        raw = self._src.read(hdu.data_offset, row_bytes * rows)
        block = np.frombuffer(raw, dtype=np.uint8).reshape(rows, row_bytes)
        out: dict[str, np.ndarray] = {}
        for name, (off, repeat, code, _i) in layout.items():
            if code == "A":
                dtype = np.dtype(f"S{repeat}")
                count = 1
            else:
                dtype = np.dtype(_NPTYPE[code])
                count = repeat
            chunk = np.ascontiguousarray(block[:, off : off + dtype.itemsize * count]).view(dtype)
            if code == "L":
                chunk = chunk == b"T"
            elif code == "A":
                chunk = np.char.decode(np.char.rstrip(chunk), "ascii", "replace")
            out[name] = _native(chunk.reshape(rows, count) if count > 1 else chunk.reshape(rows))
        return out

    def read_image(self, hdu: Hdu) -> np.ndarray:
        h = hdu.header
        if h.get("BSCALE", 1) not in (1, 1.0) or h.get("BZERO", 0) not in (0, 0.0):
            raise Unsupported(f"HDU {hdu.index}: scaled image (BSCALE/BZERO)")
        bitpix = int(h.get("BITPIX"))
        if bitpix not in _BITPIX:
            raise Unsupported(f"HDU {hdu.index}: BITPIX {bitpix}")
        dtype = np.dtype(_BITPIX[bitpix])
        n = int(np.prod(hdu.shape, dtype=np.int64))
        self._need(hdu, n * dtype.itemsize)
        raw = self._src.read(hdu.data_offset, n * dtype.itemsize)
        return _native(np.frombuffer(raw, dtype=dtype).reshape(hdu.shape))


# --------------------------------------------------------------------------- astropy


class AstropyView(FitsView):
    """astropy.io.fits with lazy HDU loading; the reference implementation."""

    backend = "astropy"

    def __init__(self, path: str, data: bytes | None = None, compression: str = "none"):
        from astropy.io import fits

        self.path = path
        self.compression = compression
        self._fits = fits
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                source = io.BytesIO(data) if data is not None else path
                self._hl = fits.open(source, memmap=False, lazy_load_hdus=True)
            except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
                raise NotFits(f"astropy cannot open it as FITS ({_one_line(exc, 160)})") from None
        self._cache: dict[int, Hdu] = {}
        self._size = len(data) if data is not None else os.path.getsize(path)

    def close(self) -> None:
        self._hl.close()

    def hdu(self, index: int) -> Hdu | None:
        if index in self._cache:
            return self._cache[index]
        fits = self._fits
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                h = self._hl[index]
            except IndexError:
                if index > 0 and self.hdu(index - 1) is not None:
                    self._check_complete(index - 1)
                return None
            except (OSError, ValueError) as exc:
                raise Truncated(f"HDU {index} unreadable ({_one_line(exc, 160)})") from None
        header = h.header
        name = (h.name or ("PRIMARY" if index == 0 else "")).strip()
        columns: list[str] = []
        if isinstance(h, fits.BinTableHDU):
            kind = "table"
            shape = (int(header.get("NAXIS2", 0)),)
            columns = [str(header.get(f"TTYPE{i}", f"col{i}")).strip() for i in range(1, int(header.get("TFIELDS", 0)) + 1)]
        elif isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)):
            naxis = int(header.get("NAXIS", 0))
            shape = tuple(int(header.get(f"NAXIS{i}", 0)) for i in range(naxis, 0, -1))
            kind = "image" if naxis > 0 and all(shape) else "empty"
        else:
            kind = "other"
            shape = ()
        out = Hdu(index, name, kind, shape, header, columns)
        out._astropy_hdu = h  # type: ignore[attr-defined]
        self._cache[index] = out
        return out

    def _check_complete(self, index: int) -> None:
        """Raise Truncated when HDU ``index`` announces more data than the file holds (astropy only warns)."""
        info = self._hl.fileinfo(index)
        header = self._hl[index].header
        naxis = int(header.get("NAXIS", 0))
        n_elem = int(np.prod([int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)], dtype=np.int64)) if naxis else 0
        nbytes = abs(int(header.get("BITPIX", 8))) // 8 * int(header.get("GCOUNT", 1)) * (int(header.get("PCOUNT", 0)) + n_elem)
        size = self._size
        if info["datLoc"] + nbytes > size:
            raise Truncated(
                f"truncated: HDU {index} ({self._hl[index].name}) data needs bytes up to {info['datLoc'] + nbytes} "
                f"but the file ends at byte {size}"
            )

    def read_columns(self, hdu: Hdu, names: list[str], n_rows: int | None = None) -> dict[str, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                data = hdu._astropy_hdu.data  # type: ignore[attr-defined]
            except (OSError, ValueError, TypeError) as exc:
                raise Truncated(f"HDU {hdu.index} ({hdu.name}) data unreadable ({_one_line(exc, 160)})") from None
        if data is None or len(data) < hdu.shape[0]:
            raise Truncated(f"truncated: HDU {hdu.index} ({hdu.name}) has fewer rows than NAXIS2={hdu.shape[0]}")
        out = {}
        for name in names:
            try:
                col = data.field(name)
            except KeyError:
                raise KeyError(f"HDU {hdu.index} ({hdu.name}) has no column(s) [{name!r}]") from None
            col = col if n_rows is None else col[:n_rows]
            if col.dtype.kind == "S":
                col = np.char.decode(np.char.rstrip(col), "ascii", "replace")
            elif col.dtype.kind == "U":
                col = np.char.rstrip(col)
            out[name] = _native(np.asarray(col))
        return out

    def read_image(self, hdu: Hdu) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                data = hdu._astropy_hdu.data  # type: ignore[attr-defined]
            except (OSError, ValueError, TypeError) as exc:
                raise Truncated(f"HDU {hdu.index} ({hdu.name}) data unreadable ({_one_line(exc, 160)})") from None
        if data is None or data.shape != hdu.shape:
            raise Truncated(f"truncated: HDU {hdu.index} ({hdu.name}) image data is incomplete")
        return _native(np.asarray(data))


# --------------------------------------------------------------------------- fitsio


class FitsioView(FitsView):
    """fitsio (cfitsio) back end; plain files only (bzip2 goes through another back end)."""

    backend = "fitsio"

    def __init__(self, path: str, data: bytes | None = None, compression: str = "none"):
        import fitsio

        if data is not None:
            raise Unsupported("fitsio back end reads plain files only")
        self.path = path
        self.compression = compression
        try:
            self._f = fitsio.FITS(path)
        except (OSError, ValueError) as exc:
            raise NotFits(f"fitsio cannot open it ({_one_line(exc, 160)})") from None
        self._cache: dict[int, Hdu] = {}

    def close(self) -> None:
        self._f.close()

    def hdu(self, index: int) -> Hdu | None:
        if index in self._cache:
            return self._cache[index]
        if index >= len(self._f):
            return None
        h = self._f[index]
        name = (h.get_extname() or ("PRIMARY" if index == 0 else "")).strip()
        columns: list[str] = []
        if h.get_exttype() == "BINARY_TBL":
            kind, shape = "table", (h.get_nrows(),)
            columns = list(h.get_colnames())
        elif h.get_exttype() == "IMAGE_HDU":
            dims = h.get_dims()
            shape = tuple(int(d) for d in dims)
            kind = "image" if dims and all(shape) else "empty"
        else:
            kind, shape = "other", ()
        out = Hdu(index, name, kind, shape, _FitsioHeader(h), columns)
        out._fitsio_hdu = h  # type: ignore[attr-defined]
        self._cache[index] = out
        return out

    def read_columns(self, hdu: Hdu, names: list[str], n_rows: int | None = None) -> dict[str, np.ndarray]:
        missing = [n for n in names if n not in hdu.columns]
        if missing:
            raise KeyError(f"HDU {hdu.index} ({hdu.name}) has no column(s) {missing}")
        rows = None if n_rows is None else list(range(min(n_rows, hdu.shape[0])))
        try:
            rec = hdu._fitsio_hdu.read(columns=names, rows=rows)  # type: ignore[attr-defined]
        except (OSError, ValueError) as exc:
            raise Truncated(f"HDU {hdu.index} ({hdu.name}) data unreadable ({_one_line(exc, 160)})") from None
        out = {}
        for name in names:
            col = rec[name]
            if col.dtype.kind == "U":
                col = np.char.rstrip(col)
            elif col.dtype.kind == "S":
                col = np.char.decode(np.char.rstrip(col), "ascii", "replace")
            out[name] = _native(np.asarray(col))
        return out

    def read_image(self, hdu: Hdu) -> np.ndarray:
        try:
            return _native(hdu._fitsio_hdu.read())  # type: ignore[attr-defined]
        except (OSError, ValueError) as exc:
            raise Truncated(f"HDU {hdu.index} ({hdu.name}) data unreadable ({_one_line(exc, 160)})") from None


class _FitsioHeader:
    """fitsio parses a whole header in Python: do it only when a keyword is asked for."""

    def __init__(self, hdu):
        self._hdu = hdu
        self._h = None

    def _header(self):
        if self._h is None:
            self._h = self._hdu.read_header()
        return self._h

    def get(self, key: str, default: Any = None) -> Any:
        value = self._header().get(key, default)
        return value.rstrip() if isinstance(value, str) else value

    def __contains__(self, key: str) -> bool:
        return key in self._header()


BACKENDS = {"raw": RawView, "astropy": AstropyView, "fitsio": FitsioView}


def open_view(path: str, backend: str = "raw") -> FitsView:
    """Open ``path`` with one back end (decompressing gzip/bzip2 first)."""
    data, compression = read_source(path)
    return BACKENDS[backend](path, data, compression)

"""A minimal, read-only view of a FITS file: HDU names, headers, table columns, images.

Three interchangeable back ends expose the same small interface (``FitsView``):

* ``RawView`` scans the file itself with ``os.pread``: it parses only the header
  cards it walks over, locates HDUs by their sizes, and slices the wanted table
  columns out of the row bytes with numpy. No per-column objects are built, so a
  full SDSS spec file (126-column SPECOBJ, dozens of per-exposure HDUs) costs
  well under a millisecond. It handles the plain binary-table and image layouts
  the spectrum readers need; anything else (scaled columns, heap arrays, ASCII
  tables, header values outside the standard's fixed/free formats) raises
  ``Unsupported`` and the caller falls back to astropy.
* ``AstropyView`` wraps ``astropy.io.fits`` (lazy HDU loading, no memmap); the
  reference path.
* ``FitsioView`` wraps ``fitsio`` (cfitsio), kept for timing comparisons.

Files from strangers (issue 18; tests/io/test_fuzz_readers.py): every header is
first walked by the raw scanner's structure check -- BITPIX, NAXIS <= 999, NAXISn,
PCOUNT, GCOUNT, TFIELDS <= 999 as the FITS standard allows them, one card each, a
clean END card within ``MAX_HEADER_BLOCKS``, no header running into the next HDU,
data inside the file -- and astropy and fitsio only see headers that passed it
(``BadStructure`` otherwise: final, no other back end is tried). Anything a library
raises on a damaged file becomes a ``FitsError`` with its message. Where the raw
scanner and astropy both accept a file they give identical arrays and metadata
(checked on 2,200 fuzz cases in CI and in ``skysift benchmark fuzz``).

gzip and bzip2 files are recognised by their magic bytes (not the file name)
and decompressed into memory first, streamed with a cap on the decompressed
size (``skysift.io.decompression``).
"""
from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skysift.io.decompression import DEFAULT_MAX_SPECTRUM_BYTES, Corrupt, read_bounded
from skysift.io.decompression import TooLarge as DecompressionTooLarge

BLOCK = 2880
CARD = 80


class FitsError(Exception):
    """The file cannot be used; the message is the one-line reason (without the path)."""


class NotFits(FitsError):
    """Empty, not FITS, or a compressed stream that does not decompress."""


class Truncated(FitsError):
    """The file ends before a header or data unit it announces."""


class BadStructure(FitsError):
    """A header breaks the FITS standard's structural rules (BITPIX, NAXIS, NAXISn, PCOUNT, GCOUNT, TFIELDS)
    or a back end cannot parse a header or data unit it needs; no other back end would read it either."""


class TooLarge(FitsError):
    """The file (after decompression) is larger than the reader's cap (``max_bytes``)."""


class Unsupported(Exception):
    """The raw scanner does not handle this construct; use another back end."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- sources


def read_source(path: str, max_bytes: int = DEFAULT_MAX_SPECTRUM_BYTES) -> tuple[bytes | None, str]:
    """Return (decompressed bytes or None for a plain file, compression name).

    Compression is detected from the first bytes so a mislabelled file still
    reads; a plain FITS file is left on disk and read piecewise. gzip / bzip2 are
    streamed with a cap of ``max_bytes`` on the output (``skysift.io.decompression``);
    a plain file larger than the cap is refused too. Raises ``NotFits`` (empty,
    corrupt or cut compressed stream), ``TooLarge`` (over the cap), ``OSError``.
    """
    try:
        data, compression = read_bounded(path, max_bytes, keep_plain_on_disk=True)
    except DecompressionTooLarge as exc:
        raise TooLarge(str(exc)) from None
    except Corrupt as exc:
        raise NotFits(str(exc)) from None
    if compression == "none" and os.path.getsize(path) == 0:
        raise NotFits("empty file (0 bytes)")
    if data is not None and len(data) == 0:
        raise NotFits(f"{compression} stream decompresses to 0 bytes")
    return data, compression


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
        if offset < 0 or nbytes < 0:  # sizes come from the file: never trust them into a system call
            raise BadStructure(f"byte range {offset}+{nbytes} is outside the file")
        if self._data is not None:
            return self._data[offset : offset + nbytes]
        return os.pread(self._fd, nbytes, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# --------------------------------------------------------------------------- headers

# What the raw scanner parses itself: the FITS standard's fixed/free value formats (FITS 4.0
# section 4.2), which astropy's more lenient grammar reads to the same value. Anything else
# (unquoted text, complex numbers, strings with unescaped quotes, NaN, control characters)
# raises Unsupported so that astropy decides: where both accept a file, both give the same
# values (checked by the fuzz suite, tests/io/test_fuzz_readers.py).
_STRING = re.compile(r" *'((?:[ -&(-~]|'')*)' *(?:/.*)?$", re.S)
_LOGICAL = re.compile(r" *([TF]) *(?:/.*)?$", re.S)
_INTEGER = re.compile(r" *([+-]?[0-9]+) *(?:/.*)?$", re.S)
_REAL = re.compile(r" *([+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[EeDd][+-]?[0-9]+)?) *(?:/.*)?$", re.S)
_UNDEFINED = re.compile(r" *(?:/.*)?$", re.S)


def parse_value(raw: str) -> Any:
    """Value of a header card from the text after '= ' (string, bool, int, float or None for an undefined value).

    Raises ``Unsupported`` for a value outside the standard formats (the caller falls back to astropy).
    """
    m = _STRING.match(raw)
    if m:
        return m.group(1).replace("''", "'").rstrip()
    m = _LOGICAL.match(raw)
    if m:
        return m.group(1) == "T"
    m = _INTEGER.match(raw)
    if m:
        return int(m.group(1))
    m = _REAL.match(raw)
    if m:
        return float(m.group(1).replace("D", "E").replace("d", "e"))
    if _UNDEFINED.match(raw):
        return None
    raise Unsupported(f"header value {_one_line(raw.strip(), 40)!r} is not a standard FITS value")


class RawHeader:
    """Header cards of one HDU, values parsed on first access. First occurrence of a key wins.

    Keywords are stripped and upper-cased (as astropy reads them); a string value continued on
    CONTINUE cards is left to astropy (``Unsupported``).
    """

    def __init__(self, cards: dict[str, str], continued: set[str] | None = None):
        self._raw = cards
        self._continued = continued or set()
        self._parsed: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        key = key.upper()
        if key in self._parsed:
            return self._parsed[key]
        raw = self._raw.get(key)
        if raw is None:
            return default
        value = parse_value(raw)
        if key in self._continued and isinstance(value, str) and value.endswith("&"):
            raise Unsupported(f"header value of {key} is a long string continued on CONTINUE cards")
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
        """The column's name as written, matched case-insensitively; BadStructure when two columns match.

        Two columns that differ only in case (or share a name) would make the back ends disagree on
        which one is read (found by the fuzz suite: raw took the first, astropy the exact-case one).
        """
        low = name.lower()
        found = [col for col in self.columns if col.lower() == low]
        if len(found) > 1:
            raise BadStructure(f"HDU {self.index} ({self.name}) has {len(found)} columns named {name!r} (ignoring case): {found}")
        return found[0] if found else None

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

# The whole TFORM value, as the standard writes it (rT); anything else (rAw, P/Q descriptors with
# their element type, trailing text) is left to astropy.
_TFORM = re.compile(r"^([0-9]*)(?:([LXBIJKAEDCM])|([PQ])[LXBIJKAEDCM](?:\([0-9]*\))?)$")
_ITEM = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}
_NPTYPE = {"L": "S1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16"}
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


MAX_HEADER_BLOCKS = 360
"""Longest header the readers parse: 1 MB, 12,960 cards (the longest real one, BOSS SPALL's, has 14 blocks).
A header whose END card is missing swallows the data that follows: without a bound, astropy then parses
the 12 MB of an SDSS frame as header cards (4.5 s measured; found by the fuzz suite)."""
_MAX_NAXIS = 999  # FITS 4.0 section 4.4.1.1: NAXIS <= 999; TFIELDS <= 999 (section 7.3.1)
_MAX_SIZE = 1 << 62  # any NAXISn / PCOUNT / GCOUNT above this is corrupt, whatever the file size


_KEYWORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


_MANDATORY = frozenset(("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "EXTEND")
                       + tuple(f"NAXIS{i}" for i in range(1, 10)))


def _end_card(card: str) -> str:
    """'end' for the END card ('END' + 77 spaces), 'ambiguous' for 'END' followed by other bytes that astropy's full
    parser takes as an END card (its fast parser does not: e.g. 'END' + NUL bytes), 'no' otherwise ('ENDING = 1').
    Found by the fuzz suite: reading on past 'END' + NULs made a stamp's second plane its image."""
    rest = card[3:]
    if rest.strip(" ") == "":
        return "end"
    first = rest.lstrip(" ")[0]
    return "no" if first in _KEYWORD_CHARS else "ambiguous"


def _structural_int(header: RawHeader, key: str, index: int, lo: int, hi: int, default: int | None = None) -> int:
    """A mandatory integer keyword, checked against the standard's range; BadStructure otherwise."""
    try:
        value = header.get(key)
    except Unsupported:
        raise BadStructure(f"HDU {index}: {key} is not an integer ({_one_line(header._raw.get(key, ''), 40)!r})") from None
    if value is None and key not in header and default is not None:
        return default
    if value is None:
        raise BadStructure(f"HDU {index}: mandatory keyword {key} is missing or has no value")
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        bounds = f"{lo}..2**62" if hi == _MAX_SIZE else f"{lo}..{hi}"
        raise BadStructure(f"HDU {index}: {key} = {_one_line(repr(value), 40)} is not an integer in {bounds}")
    return value


def _column_name(ttype: Any, i: int) -> str:
    """TTYPEn as a name; a column without one (missing, undefined or unparsable) is 'colN'."""
    return f"col{i}" if ttype is None else str(ttype).strip()


def _tdim(value: Any, repeat: int, col: str, code: str) -> tuple[int, ...]:
    """The cell shape (numpy order) a TDIMn value gives; Unsupported when it does not describe the column's repeat."""
    m = re.match(r"^\(([0-9]+(?:,[0-9]+)*)\)$", value.replace(" ", "")) if isinstance(value, str) else None
    if not m or code == "A":
        raise Unsupported(f"column {col}: TDIM {value!r} with TFORM {repeat}{code}")
    dims = tuple(int(d) for d in m.group(1).split(","))
    if math.prod(dims) != repeat or 0 in dims:
        raise Unsupported(f"column {col}: TDIM {value!r} does not hold {repeat} values")
    return tuple(reversed(dims))


class RawView(FitsView):
    """Our own scanner over the file bytes (see module doc).

    ``structure_only=True``: walk the headers and check their structural keywords without
    reading column names (what the astropy and fitsio back ends use as a guard before they
    hand a header to their library: astropy loops over NAXIS before checking it, so a
    header saying NAXIS = 2147483647 would hang it).
    """

    backend = "raw"

    def __init__(self, path: str, data: bytes | None = None, compression: str = "none", structure_only: bool = False):
        self.path = path
        self.compression = compression
        self.structure_only = structure_only
        self._src = _Source(path, data)
        self._hdus: list[Hdu] = []
        self._next_offset = 0
        self._done = False
        first = self._src.read(0, CARD)
        try:
            simple = parse_value(first[10:].decode("ascii", "replace"))
        except Unsupported:
            simple = None
        if not first.startswith(b"SIMPLE  =") or simple is not True:
            self._src.close()
            raise NotFits(f"not a FITS file (starts with {first[:16]!r}, expected 'SIMPLE  =                    T')")

    def close(self) -> None:
        self._src.close()

    def _read_header(self, offset: int) -> tuple[RawHeader, int]:
        cards: dict[str, str] = {}
        continued: set[str] = set()
        last_key = ""
        pos = offset
        while True:
            block = self._src.read(pos, BLOCK)
            if len(block) < BLOCK:
                raise Truncated(
                    f"truncated: header starting at byte {offset} has no END card before the file ends at byte {self._src.size}"
                )
            if pos - offset >= MAX_HEADER_BLOCKS * BLOCK:
                raise BadStructure(
                    f"header starting at byte {offset} has no END card in its first {MAX_HEADER_BLOCKS} blocks "
                    f"({MAX_HEADER_BLOCKS * BLOCK // CARD} cards; the longest real header in the sample has 14 blocks)"
                )
            # astropy replaces non-ASCII header bytes by '?' (with a warning): do the same so both see one text.
            text = block.decode("ascii", "replace").replace("\ufffd", "?")
            pos += BLOCK
            for i in range(0, BLOCK, CARD):
                at = pos - BLOCK + i
                if text.startswith("END", i):
                    end = _end_card(text[i : i + CARD])
                    if end == "end":
                        return RawHeader(cards, continued), pos
                    if end == "ambiguous":
                        raise BadStructure(
                            f"END card at byte {at} is followed by other bytes: astropy's two header parsers disagree on "
                            "whether the header ends there"
                        )
                key = text[i : i + 8].strip().upper()
                if key in ("XTENSION", "SIMPLE") and at > offset:
                    # The first card of an HDU inside a header: this header's END card is missing and it has
                    # run on into the next HDU (astropy would merge the two and read the next HDU's data).
                    raise BadStructure(
                        f"header starting at byte {offset} runs into another HDU ({key} card at byte {at}): its END card is missing"
                    )
                if key == "CONTINUE" and last_key:
                    continued.add(last_key)
                if text[i + 8 : i + 10] == "= ":
                    if key not in cards:
                        cards[key] = text[i + 10 : i + CARD]
                    elif key in _MANDATORY and key != "SIMPLE":
                        # astropy builds the HDU from the last such card and answers header lookups with the first.
                        raise BadStructure(f"header starting at byte {offset} has a second {key} card (byte {at})")
                    last_key = key
                else:
                    squeezed = text.find("= ", i, i + 8)
                    if squeezed > i and text[i:squeezed].strip().upper() in _MANDATORY:
                        # 'NAXIS2= 5': astropy's fast parser takes it as NAXIS2, its full parser does not.
                        raise BadStructure(f"card at byte {at} ({_one_line(text[i : i + 20], 20)!r}) is not in the fixed format")
                    if key != "CONTINUE":
                        last_key = ""

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
        header, data_offset = self._read_header(offset)
        bitpix = _structural_int(header, "BITPIX", index, -64, 64)
        if bitpix not in _BITPIX:
            raise BadStructure(f"HDU {index}: BITPIX = {bitpix} is not one of {sorted(_BITPIX)}")
        naxis = _structural_int(header, "NAXIS", index, 0, _MAX_NAXIS)
        dims = [_structural_int(header, f"NAXIS{i}", index, 0, _MAX_SIZE) for i in range(1, naxis + 1)]
        pcount = _structural_int(header, "PCOUNT", index, 0, _MAX_SIZE, default=0)
        gcount = _structural_int(header, "GCOUNT", index, 1, _MAX_SIZE, default=1)
        n_elem = math.prod(dims) if naxis > 0 else 0
        data_bytes = abs(bitpix) // 8 * gcount * (pcount + n_elem)
        self._next_offset = data_offset + (data_bytes + BLOCK - 1) // BLOCK * BLOCK
        try:
            xtension = header.get("XTENSION") if index > 0 else None
            name = header.get("EXTNAME") if not self.structure_only else None
        except Unsupported as exc:
            raise BadStructure(f"HDU {index}: {exc}") from None
        name = str(name if name is not None else ("PRIMARY" if index == 0 else "")).strip()
        columns: list[str] = []
        if index == 0 or xtension == "IMAGE":
            kind = "image" if n_elem > 0 else "empty"
            shape = tuple(reversed(dims))
        elif xtension == "BINTABLE":
            if bitpix != 8 or naxis != 2:
                raise BadStructure(f"HDU {index}: a binary table needs BITPIX = 8 and NAXIS = 2, found {bitpix} and {naxis}")
            kind = "table"
            shape = (dims[1],)
            nfields = _structural_int(header, "TFIELDS", index, 0, _MAX_NAXIS)
            if not self.structure_only:
                columns = [_column_name(header.get(f"TTYPE{i}"), i) for i in range(1, nfields + 1)]
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
            tform = h.get(f"TFORM{i}", "")
            m = _TFORM.match(tform) if isinstance(tform, str) else None
            if not m:
                raise Unsupported(f"column {col}: TFORM {tform!r}")
            repeat = int(m.group(1)) if m.group(1) else 1
            code = m.group(2) or m.group(3)
            size = (repeat + 7) // 8 if code == "X" else repeat * _ITEM[code]
            if col.lower() in wanted and wanted[col.lower()] not in layout:
                if code in "PQX":
                    raise Unsupported(f"column {col}: variable-length or bit column ({code})")
                if repeat == 0:
                    raise Unsupported(f"column {col}: TFORM {tform!r} holds no value")
                if h.get(f"TSCAL{i}", 1) not in (1, 1.0) or h.get(f"TZERO{i}", 0) not in (0, 0.0):
                    raise Unsupported(f"column {col}: scaled (TSCAL/TZERO)")
                cell = (repeat,)
                if f"TDIM{i}" in h:
                    cell = _tdim(h.get(f"TDIM{i}"), repeat, col, code)
                layout[wanted[col.lower()]] = (offset, repeat, code, cell)
            offset += size
        if offset != row_bytes:
            raise Unsupported(f"HDU {hdu.index}: TFORM widths sum to {offset}, NAXIS1 is {row_bytes}")
        missing = [n for n in names if n not in layout]
        if missing:
            raise KeyError(f"HDU {hdu.index} ({hdu.name}) has no column(s) {missing}")
        # The whole data unit must be in the file even when fewer rows are read: a table cut short is
        # damaged, and the astropy / fitsio back ends check the same extent.
        self._need(hdu, hdu.data_bytes)
        raw = self._src.read(hdu.data_offset, row_bytes * rows)
        block = np.frombuffer(raw, dtype=np.uint8).reshape(rows, row_bytes)
        out: dict[str, np.ndarray] = {}
        for name, (off, repeat, code, cell) in layout.items():
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
            if len(cell) > 1:  # TDIM: numpy order, last FITS axis first (as astropy shapes it)
                out[name] = _native(chunk.reshape(rows, *cell))
            else:
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


def _brief(exc: BaseException, limit: int = 160) -> str:
    return f"{type(exc).__name__}: {_one_line(exc, limit)}"


def _variable_length(tform: Any) -> bool:
    return isinstance(tform, str) and bool(re.match(r"^\s*[0-9]*[PQ]", tform))


class _GuardedHeader:
    """A library's header behind the reader interface.

    astropy parses a card when it is first read and raises VerifyError / ValueError for one it cannot
    parse: such a card reads as None (no value), as does an undefined value. The raw scanner hands every
    value outside the standard formats to astropy (``Unsupported``), so both give the same answer. A
    header the library cannot load at all (fitsio decodes it as UTF-8) is BadStructure.
    """

    def __init__(self, load, index: int):
        self._load = load
        self._h = None
        self._index = index

    def _header(self):
        if self._h is None:
            try:
                self._h = self._load()
            except Exception as exc:  # noqa: BLE001 - any failure of the library on this header
                raise BadStructure(f"HDU {self._index} header unreadable ({_brief(exc)})") from None
        return self._h

    def get(self, key: str, default: Any = None) -> Any:
        h = self._header()
        try:
            value = h.get(key, default)
        except Exception:  # noqa: BLE001 - a card the library cannot parse has no value (structural ones were walked)
            return None
        if type(value).__name__ == "Undefined":
            return None
        return value.rstrip() if isinstance(value, str) else value

    def __contains__(self, key: str) -> bool:
        try:
            return key in self._header()
        except BadStructure:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BadStructure(f"HDU {self._index}: header unreadable ({_brief(exc, 100)})") from None


class AstropyView(FitsView):
    """astropy.io.fits with lazy HDU loading; the reference implementation.

    Each header is first walked by the raw scanner in ``structure_only`` mode: a header whose
    BITPIX / NAXIS / NAXISn / PCOUNT / GCOUNT / TFIELDS break the standard is refused before
    astropy sees it (astropy 8.0 builds a list of NAXIS entries before it checks NAXIS, so
    NAXIS = 2147483647 hangs it and exhausts memory; found by the fuzz suite). Every other
    astropy failure on a damaged file becomes a FitsError with astropy's message.
    """

    backend = "astropy"

    def __init__(self, path: str, data: bytes | None = None, compression: str = "none"):
        from astropy.io import fits

        self.path = path
        self.compression = compression
        self._fits = fits
        self._guard = RawView(path, data, compression, structure_only=True)
        try:
            self._guard.hdu(0)  # fits.open parses the primary header at once, even with lazy loading
        except FitsError:
            self._guard.close()
            raise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                source = io.BytesIO(data) if data is not None else path
                self._hl = fits.open(source, memmap=False, lazy_load_hdus=True)
            except Exception as exc:  # noqa: BLE001 - astropy's zoo of types for a damaged first header
                self._guard.close()
                raise NotFits(f"astropy cannot open it as FITS ({_brief(exc)})") from None
        self._cache: dict[int, Hdu] = {}
        self._size = len(data) if data is not None else os.path.getsize(path)

    def close(self) -> None:
        self._guard.close()
        try:
            self._hl.close()
        except Exception:  # noqa: BLE001 - closing a damaged file must not turn a reject into a crash
            pass

    def hdu(self, index: int) -> Hdu | None:
        if index in self._cache:
            return self._cache[index]
        fits = self._fits
        guard = self._guard.hdu(index)  # BadStructure / Truncated before astropy parses the header
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                h = self._hl[index]
            except IndexError:
                if index > 0 and self.hdu(index - 1) is not None:
                    self._check_complete(index - 1)
                return None
            except (OSError, ValueError, EOFError) as exc:
                raise Truncated(f"HDU {index} unreadable ({_one_line(exc, 160)})") from None
            except Exception as exc:  # noqa: BLE001
                raise BadStructure(f"HDU {index} unreadable by astropy ({_brief(exc)})") from None
            if guard is None:  # astropy reads on where the structure walk (and the raw scanner) see the end
                return None
            header = _GuardedHeader(lambda: h.header, index)
            try:
                name = (h.name or ("PRIMARY" if index == 0 else "")).strip()
            except Exception as exc:  # noqa: BLE001
                raise BadStructure(f"HDU {index}: EXTNAME unreadable ({_brief(exc, 100)})") from None
        columns: list[str] = []
        if isinstance(h, fits.BinTableHDU):
            kind = "table"
            shape = (int(header.get("NAXIS2", 0)),)
            columns = [_column_name(header.get(f"TTYPE{i}"), i) for i in range(1, int(header.get("TFIELDS", 0)) + 1)]
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
        n_elem = math.prod(int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)) if naxis else 0
        nbytes = abs(int(header.get("BITPIX", 8))) // 8 * int(header.get("GCOUNT", 1)) * (int(header.get("PCOUNT", 0)) + n_elem)
        size = self._size
        if info["datLoc"] + nbytes > size:
            raise Truncated(
                f"truncated: HDU {index} ({self._hl[index].name}) data needs bytes up to {info['datLoc'] + nbytes} "
                f"but the file ends at byte {size}"
            )

    def _data(self, hdu: Hdu):
        # The data must lie inside the file before astropy reads it: a short read would give a short array.
        guard = self._guard.hdu(hdu.index)
        if guard is not None:
            self._guard._need(guard, guard.data_bytes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return hdu._astropy_hdu.data  # type: ignore[attr-defined]
            except (OSError, EOFError) as exc:
                raise Truncated(f"HDU {hdu.index} ({hdu.name}) data unreadable ({_one_line(exc, 160)})") from None
            except Exception as exc:  # noqa: BLE001
                raise BadStructure(f"HDU {hdu.index} ({hdu.name}) data unreadable by astropy ({_brief(exc)})") from None

    def read_columns(self, hdu: Hdu, names: list[str], n_rows: int | None = None) -> dict[str, np.ndarray]:
        for name in names:
            col = hdu.column(name)
            if col is not None and _variable_length(hdu.header.get(f"TFORM{hdu.columns.index(col) + 1}")):
                # Heap descriptors of a damaged file can announce any length: no layout skysift reads has one.
                raise BadStructure(f"HDU {hdu.index} ({hdu.name}) column {col} is a variable-length array (TFORM P/Q)")
        data = self._data(hdu)
        if data is None or len(data) < hdu.shape[0]:
            raise Truncated(f"truncated: HDU {hdu.index} ({hdu.name}) has fewer rows than NAXIS2={hdu.shape[0]}")
        out = {}
        for name in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    col = data.field(name)
                except KeyError:
                    raise KeyError(f"HDU {hdu.index} ({hdu.name}) has no column(s) [{name!r}]") from None
                except Exception as exc:  # noqa: BLE001
                    raise BadStructure(f"HDU {hdu.index} ({hdu.name}) column {name} unreadable by astropy ({_brief(exc)})") from None
            col = col if n_rows is None else col[:n_rows]
            if col.dtype.kind == "S":
                col = np.char.decode(np.char.rstrip(col), "ascii", "replace")
            elif col.dtype.kind == "U":
                col = np.char.rstrip(col)
            out[name] = _native(np.asarray(col))
        return out

    def read_image(self, hdu: Hdu) -> np.ndarray:
        data = self._data(hdu)
        if data is None or data.shape != hdu.shape:
            raise Truncated(f"truncated: HDU {hdu.index} ({hdu.name}) image data is incomplete")
        return _native(np.asarray(data))


# --------------------------------------------------------------------------- fitsio


class FitsioView(FitsView):
    """fitsio (cfitsio) back end; plain files only (bzip2 goes through another back end).

    Guarded like ``AstropyView`` (a structure walk before each HDU, data extents checked against
    the file size before a read: fitsio allocates the whole announced array first).
    """

    backend = "fitsio"

    def __init__(self, path: str, data: bytes | None = None, compression: str = "none"):
        import fitsio

        if data is not None:
            raise Unsupported("fitsio back end reads plain files only")
        self.path = path
        self.compression = compression
        self._guard = RawView(path, None, compression, structure_only=True)
        try:
            self._f = fitsio.FITS(path)
        except Exception as exc:  # noqa: BLE001 - cfitsio status codes arrive as OSError, headers as UnicodeDecodeError
            self._guard.close()
            raise NotFits(f"fitsio cannot open it ({_brief(exc)})") from None
        self._cache: dict[int, Hdu] = {}

    def close(self) -> None:
        self._guard.close()
        try:
            self._f.close()
        except Exception:  # noqa: BLE001
            pass

    def hdu(self, index: int) -> Hdu | None:
        if index in self._cache:
            return self._cache[index]
        guard = self._guard.hdu(index)
        try:
            if index >= len(self._f):
                return None
            if guard is None:  # as for astropy: the end is where the raw scanner sees it
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
        except FitsError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BadStructure(f"HDU {index} unreadable by fitsio ({_brief(exc)})") from None
        out = Hdu(index, name, kind, shape, _GuardedHeader(h.read_header, index), columns)
        out._fitsio_hdu = h  # type: ignore[attr-defined]
        self._cache[index] = out
        return out

    def _inside(self, hdu: Hdu) -> None:
        guard = self._guard.hdu(hdu.index)
        if guard is not None:
            self._guard._need(guard, guard.data_bytes)

    def read_columns(self, hdu: Hdu, names: list[str], n_rows: int | None = None) -> dict[str, np.ndarray]:
        missing = [n for n in names if n not in hdu.columns]
        if missing:
            raise KeyError(f"HDU {hdu.index} ({hdu.name}) has no column(s) {missing}")
        for name in names:
            if _variable_length(hdu.header.get(f"TFORM{hdu.columns.index(name) + 1}")):
                raise BadStructure(f"HDU {hdu.index} ({hdu.name}) column {name} is a variable-length array (TFORM P/Q)")
        self._inside(hdu)
        rows = None if n_rows is None else list(range(min(n_rows, hdu.shape[0])))
        try:
            rec = hdu._fitsio_hdu.read(columns=names, rows=rows)  # type: ignore[attr-defined]
            cols = {name: rec[name] for name in names}
        except (OSError, EOFError) as exc:
            raise Truncated(f"HDU {hdu.index} ({hdu.name}) data unreadable ({_one_line(exc, 160)})") from None
        except Exception as exc:  # noqa: BLE001
            raise BadStructure(f"HDU {hdu.index} ({hdu.name}) data unreadable by fitsio ({_brief(exc)})") from None
        out = {}
        for name in names:
            col = cols[name]
            if col.dtype.kind == "U":
                col = np.char.rstrip(col)
            elif col.dtype.kind == "S":
                col = np.char.decode(np.char.rstrip(col), "ascii", "replace")
            out[name] = _native(np.asarray(col))
        return out

    def read_image(self, hdu: Hdu) -> np.ndarray:
        self._inside(hdu)
        try:
            return _native(hdu._fitsio_hdu.read())  # type: ignore[attr-defined]
        except (OSError, EOFError) as exc:
            raise Truncated(f"HDU {hdu.index} ({hdu.name}) data unreadable ({_one_line(exc, 160)})") from None
        except Exception as exc:  # noqa: BLE001
            raise BadStructure(f"HDU {hdu.index} ({hdu.name}) data unreadable by fitsio ({_brief(exc)})") from None


BACKENDS = {"raw": RawView, "astropy": AstropyView, "fitsio": FitsioView}


def open_view(path: str, backend: str = "raw", max_bytes: int = DEFAULT_MAX_SPECTRUM_BYTES) -> FitsView:
    """Open ``path`` with one back end (decompressing gzip/bzip2 first, at most ``max_bytes``)."""
    data, compression = read_source(path, max_bytes)
    return BACKENDS[backend](path, data, compression)

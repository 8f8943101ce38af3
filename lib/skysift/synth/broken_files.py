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

import bz2
import dataclasses
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

    # Regression cases of the fuzz suite (issue 18; tests/io/test_fuzz_readers.py): each was a crash, a hang,
    # unbounded memory or a back-end disagreement before its fix.
    good = _to_bytes(_sdss_hdus(*_good_arrays(rng)))
    put("naxis_absurd_primary.fits", edit_card(good, 0, "NAXIS", "2147483647"), "read")  # astropy: 2**31-entry loop, hang
    put("naxis_absurd_coadd.fits", edit_card(good, 1, "NAXIS", "2147483647"), "read")  # astropy: KeyError 'NAXIS3'
    lamost = _to_bytes(_lamost_image(5))
    put("lamost_naxis1_negative.fits", edit_card(lamost, 0, "NAXIS1", "-400"), "read")  # raw: os.pread(negative) OSError
    # and_mask renamed FLUX: the raw scanner read column flux, astropy column FLUX (two columns, one name ignoring case).
    put("duplicate_flux_column.fits", edit_card(good, 1, "TTYPE4", "'FLUX'"), "read")
    put("bzip2_bomb.fits.bz2", bzip2_bomb(40 << 20), "read")  # 40 MiB of zeros in 1.8 kB, over the 32 MiB cap
    return expected


def edit_card(data: bytes, hdu: int, key: str, value: str | None) -> bytes:
    """``data`` with the first ``key`` card of HDU ``hdu`` set to ``value`` (FITS value text; characters above
    U+007F are written as single latin-1 bytes); ``key='END'`` with ``value=None`` blanks that HDU's END card.
    Offsets from ``fits_layout`` (astropy)."""
    span = fits_layout(data)[hdu]
    buf = bytearray(data)
    if key == "END":
        buf[span.end_card : span.end_card + CARD_BYTES] = b" " * CARD_BYTES
        return bytes(buf)
    off = next(o for o, k in span.cards if k == key)
    text = f"{key:<8}= {value:>20}" if not value.startswith("'") else f"{key:<8}= {value}"
    buf[off : off + CARD_BYTES] = text.encode("latin-1")[:CARD_BYTES].ljust(CARD_BYTES, b" ")
    return bytes(buf)


def bzip2_bomb(n_bytes: int, stream_bytes: int = 1 << 20) -> bytes:
    """A multi-stream bzip2 file that expands to ``n_bytes`` of zeros: one ``stream_bytes`` stream (~45 bytes)
    repeated, so building a bomb of any size costs one small compression."""
    one = bz2.compress(bytes(stream_bytes), 9)
    return one * (n_bytes // stream_bytes)


def _frame_image(n: int = 64, rng: np.random.Generator | None = None) -> fits.HDUList:
    """A small sky image with a TAN WCS (0.396 arcsec pixels, SDSS-like), written by astropy."""
    rng = rng or np.random.default_rng(SEED)
    hdu = fits.PrimaryHDU(rng.normal(0.0, 1.0, (n, n)).astype(np.float32))
    h = hdu.header
    h.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRPIX1=n / 2, CRPIX2=n / 2, CRVAL1=164.43, CRVAL2=39.04,
             CD1_1=-0.396 / 3600, CD1_2=0.0, CD2_1=0.0, CD2_2=0.396 / 3600, BUNIT="nanomaggy", FILTER="r")
    return fits.HDUList([hdu])


def write_broken_frame_corpus(folder: str | os.PathLike) -> dict[str, str]:
    """Broken image files for ``skysift.io.frames.read_frame``: {file name: expected reject stage}.

    The fuzz suite's regression cases for the frame reader plus the basic failures; deterministic bytes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 1)
    expected: dict[str, str] = {}

    def put(name: str, payload: bytes, stage: str) -> None:
        (folder / name).write_bytes(payload)
        expected[name] = stage

    good = _to_bytes(_frame_image(rng=rng))
    put("frame_empty.fits", b"", "read")
    put("frame_truncated.fits", good[: len(good) // 2], "read")
    put("frame_naxis1_overflow.fits", edit_card(good, 0, "NAXIS1", str(10**30)), "read")  # OverflowError before
    put("frame_bscale_text.fits", _with_card(good, "BSCALE", "'abc'"), "read")  # ValueError out of float() before
    in_ext = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(_frame_image(rng=rng)[0].data, header=_frame_image()[0].header)])
    ext = _to_bytes(in_ext)
    put("frame_extension_naxis_absurd.fits", edit_card(ext, 1, "NAXIS", "2147483647"), "read")  # astropy hang
    # A missing END: the primary header runs on through 1 MB of pixels to the END of HDU1, and astropy parsed
    # all of it as cards (4.5 s for an SDSS frame); now the walk stops after 360 blocks.
    big = _frame_image(520, rng)
    big.append(fits.ImageHDU(np.zeros((4, 4), np.float32)))
    put("frame_missing_end.fits", edit_card(_to_bytes(big), 0, "END", None), "read")
    put("frame_bzip2_bomb.fits.bz2", bzip2_bomb(80 << 20), "read")  # over the 64 MiB cap
    return expected


def _with_card(data: bytes, key: str, value: str) -> bytes:
    """``data`` with one more card in HDU0, where its END card was (END moves one card down)."""
    span = fits_layout(data)[0]
    if (span.end_card - span.header_start) % BLOCK_BYTES == BLOCK_BYTES - CARD_BYTES:
        raise ValueError("END is the last card of its block: no room for another card")
    buf = bytearray(data)
    buf[span.end_card + CARD_BYTES : span.end_card + 2 * CARD_BYTES] = b"END".ljust(CARD_BYTES, b" ")
    buf[span.end_card : span.end_card + CARD_BYTES] = _card(key, value)
    return bytes(buf)


# --------------------------------------------------------------------------- mutations (the fuzzer's moves)
#
# ``mutate(data, layout, kind, rng)`` damages one FITS file's bytes in one of the
# ways ``MUTATION_KINDS`` lists; ``fits_layout(data)`` (astropy on the pristine
# file, independent of skysift's readers) gives the structural boundaries the
# moves aim at. Same bytes, layout, kind and rng state -> same output.

MUTATION_KINDS = (
    "bit_flip",
    "truncate",
    "card_edit",
    "card_blank",
    "missing_end",
    "non_ascii",
    "hdu_reorder",
    "hdu_duplicate",
    "hdu_drop",
    "extname",
    "data_fill",
    "compressed_cut",
)
"""Every mutation kind ``mutate`` knows, in the order RELIABILITY.md lists them."""

STRUCTURAL_KEYS = ("BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "XTENSION", "SIMPLE")
"""Header keywords that decide where bytes are (plus the TFORMn / TDIMn / TTYPEn of each column)."""

READER_KEYS = (
    "EXTNAME", "COEFF0", "COEFF1", "CRVAL1", "CD1_1", "DC-FLAG", "PLATEID", "MJD", "FIBERID", "PLUG_RA", "PLUG_DEC",
    "OBSID", "RA", "DEC", "Z", "CLASS", "BSCALE", "BZERO", "BLANK", "CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CD1_2",
    "CD2_1", "CD2_2", "FILTER", "RUN", "CAMCOL", "CAMROW", "FRAME", "EXTEN0", "TELESCOP",
)
"""Header keywords the spectrum and frame readers interpret."""

_ABSURD_INTS = (0, 1, -1, 2, -2880, 2**31 - 1, 2**31, -(2**31), 2**32, 2**62, 2**63 - 1, 2**63, 2**64, -(2**63), 10**30)
_ODD_VALUES = ("1.5", "-0", "1E300", "-1E300", "NAN", "INF", "T", "F", "'junk'", "''", "", "'", "1D5", "0x10", "9" * 60, "' '")
_TFORMS = ("'1E'", "'0E'", "'-1E'", "'E'", "'1000000000E'", "'3A'", "'0A'", "'1X'", "'PE(100)'", "'1PJ(5)'", "'1QD(3)'",
           "'Z'", "'99999999999999999999J'", "'2E'", "'1D'", "'4B'", "'1K'", "'1L'", "'1C'", "'1M'", "'E E'", "'30A10'")
_TDIMS = ("'(10,10)'", "'(0)'", "'(-1,5)'", "'(99999999999,2)'", "'junk'", "'(1)'", "'()'", "'(4,4,4)'", "'(2,'")


@dataclasses.dataclass(frozen=True)
class HduSpan:
    """Where one HDU's parts lie in a pristine file (byte offsets)."""

    header_start: int
    data_start: int
    """First byte after the header (its END card's block)."""
    data_end: int
    """First byte after the data the header announces (before padding)."""
    span_end: int
    """First byte of the next HDU (data padded to 2880)."""
    end_card: int
    """Offset of the END card."""
    cards: tuple[tuple[int, str], ...]
    """(offset, keyword) of every card before END."""
    heap_start: int | None
    """Binary tables: data_start + NAXIS1 * NAXIS2 (+ THEAP when set); None otherwise."""


def fits_layout(data: bytes) -> list[HduSpan]:
    """The HDUs of a pristine FITS file, located by astropy (not by skysift's scanner)."""
    out = []
    with fits.open(io.BytesIO(data), memmap=False) as hl:
        for i, hdu in enumerate(hl):
            info = hl.fileinfo(i)
            h = hdu.header
            naxis = int(h.get("NAXIS", 0))
            n = int(np.prod([int(h.get(f"NAXIS{k}", 0)) for k in range(1, naxis + 1)], dtype=np.int64)) if naxis else 0
            nbytes = abs(int(h["BITPIX"])) // 8 * int(h.get("GCOUNT", 1)) * (int(h.get("PCOUNT", 0)) + n)
            start, dstart = info["hdrLoc"], info["datLoc"]
            cards, end_card = [], dstart - BLOCK_BYTES
            for off in range(start, dstart, CARD_BYTES):
                key = data[off : off + 8].decode("ascii", "replace").rstrip()
                if key == "END":
                    end_card = off
                    break
                cards.append((off, key))
            heap = None
            if h.get("XTENSION") == "BINTABLE":
                heap = dstart + int(h.get("THEAP", int(h["NAXIS1"]) * int(h["NAXIS2"])))
            out.append(HduSpan(start, dstart, dstart + nbytes, dstart + -(-nbytes // BLOCK_BYTES) * BLOCK_BYTES, end_card,
                               tuple(cards), heap))
    return out


BLOCK_BYTES = 2880
CARD_BYTES = 80


def _card(key: str, value: str) -> bytes:
    text = f"{key:<8}= {value:>20}" if value and value[0] not in "'" else f"{key:<8}= {value}"
    return text.encode("ascii", "replace")[:CARD_BYTES].ljust(CARD_BYTES, b" ")


def _set_card(buf: bytearray, offset: int, key: str, value: str) -> None:
    buf[offset : offset + CARD_BYTES] = _card(key, value)


def _pick_hdu(layout: list[HduSpan], rng: np.random.Generator, skip_primary: bool = False) -> int:
    # The readers look at HDU0-3 first: weight them up (full spec files have dozens of exposure HDUs).
    first = 1 if skip_primary else 0
    idx = np.arange(first, len(layout))
    weights = np.where(idx <= 3, 4.0, 1.0)
    return int(rng.choice(idx, p=weights / weights.sum()))


def _value_for(key: str, old: str, rng: np.random.Generator) -> str:
    base = key.rstrip("0123456789")
    if base == "TFORM":
        return str(rng.choice(_TFORMS))
    if base == "TDIM":
        return str(rng.choice(_TDIMS))
    if base in ("TTYPE", "EXTNAME", "XTENSION", "CLASS", "CTYPE", "FILTER"):
        return str(rng.choice(["'loglam'", "'FLUX'", "'COADD'", "'SPECOBJ'", "'IMAGE'", "'BINTABLE'", "'TABLE'", "''",
                               "'RA---TAN'", "'" + "A" * 68 + "'"]))
    try:
        number = int(old.split("/")[0].strip())
    except ValueError:
        number = None
    choice = rng.random()
    if number is not None and choice < 0.35:
        return str(int(rng.choice([number + 1, number - 1, number * 2, number // 2, -number, number * 1000, number + 2880])))
    if choice < 0.75:
        return str(int(rng.choice(np.array(_ABSURD_INTS, dtype=object))))
    return str(rng.choice(_ODD_VALUES))


def mutate(
    data: bytes, layout: list[HduSpan], kind: str, rng: np.random.Generator, compressed: dict[str, bytes] | None = None
) -> tuple[bytes, str]:
    """(damaged copy of ``data``, one-line description of the damage) for one ``MUTATION_KINDS`` move.

    ``compressed``: {'gzip': ..., 'bzip2': ...} streams of ``data`` for 'compressed_cut' (the output is then
    a damaged compressed stream); made here when not given.
    """
    buf = bytearray(data)
    n = len(buf)
    if kind == "bit_flip":
        k = int(rng.integers(1, 17))
        spans = [(h.header_start, h.data_start) for h in layout]
        where = []
        for _ in range(k):
            if rng.random() < 0.5:
                a, b = spans[int(rng.integers(len(spans)))]
                pos = int(rng.integers(a, b))
            else:
                pos = int(rng.integers(0, n))
            buf[pos] ^= 1 << int(rng.integers(8))
            where.append(pos)
        return bytes(buf), f"bit_flip x{k} at {sorted(where)[:6]}"
    if kind == "truncate":
        marks = {0}
        for h in layout:
            marks.update((h.header_start, h.data_start, h.data_end, h.span_end, h.end_card, h.end_card + CARD_BYTES))
            marks.update(range(h.header_start, h.data_start, BLOCK_BYTES))
            if h.heap_start is not None:
                marks.add(h.heap_start)
        mark = int(rng.choice(sorted(marks)))
        delta = int(rng.choice([0, 0, -1, 1, -CARD_BYTES, int(rng.integers(-BLOCK_BYTES, BLOCK_BYTES))]))
        cut = min(max(mark + delta, 0), n - 1)
        return bytes(buf[:cut]), f"truncate at {cut} (boundary {mark}{delta:+d}) of {n}"
    if kind == "card_edit":
        i = _pick_hdu(layout, rng)
        h = layout[i]
        candidates = [(off, key) for off, key in h.cards
                      if key in STRUCTURAL_KEYS or key in READER_KEYS or key.rstrip("0123456789") in ("TFORM", "TDIM", "TTYPE", "NAXIS")]
        if not candidates:
            return mutate(data, layout, "bit_flip", rng)
        off, key = candidates[int(rng.integers(len(candidates)))]
        old = bytes(buf[off + 10 : off + CARD_BYTES]).decode("ascii", "replace")
        value = _value_for(key, old, rng)
        _set_card(buf, off, key, value)
        return bytes(buf), f"card_edit HDU{i} {key} = {value[:30]} (was {old.split('/')[0].strip()[:30]})"
    if kind == "card_blank":
        i = _pick_hdu(layout, rng)
        h = layout[i]
        off, key = h.cards[int(rng.integers(len(h.cards)))]
        buf[off : off + CARD_BYTES] = b" " * CARD_BYTES
        return bytes(buf), f"card_blank HDU{i} {key}"
    if kind == "missing_end":
        i = _pick_hdu(layout, rng)
        off = layout[i].end_card
        replacement = [b" " * CARD_BYTES, _card("COMMENT", "'no end'"), b"END" + b"\0" * 77, b"end" + b" " * 77]
        j = int(rng.integers(len(replacement)))
        buf[off : off + CARD_BYTES] = replacement[j]
        return bytes(buf), f"missing_end HDU{i} (replacement {j})"
    if kind == "non_ascii":
        i = _pick_hdu(layout, rng)
        h = layout[i]
        off, key = h.cards[int(rng.integers(len(h.cards)))]
        k = int(rng.integers(1, 6))
        pos = [off + int(rng.integers(0, CARD_BYTES)) for _ in range(k)]
        for p in pos:
            buf[p] = int(rng.choice([0, 9, 10, 13, 127, 0x80, 0xC3, 0xE9, 0xFF]))
        return bytes(buf), f"non_ascii HDU{i} card {key} x{k}"
    if kind in ("hdu_reorder", "hdu_duplicate", "hdu_drop"):
        if len(layout) < 2:
            return mutate(data, layout, "card_edit", rng)
        parts = [bytes(buf[h.header_start : h.span_end]) for h in layout]
        tail = bytes(buf[layout[-1].span_end :])
        i = _pick_hdu(layout, rng, skip_primary=rng.random() < 0.9)
        if kind == "hdu_reorder":
            j = _pick_hdu(layout, rng, skip_primary=True)
            parts[i], parts[j] = parts[j], parts[i]
            what = f"swap HDU{i} and HDU{j}"
        elif kind == "hdu_duplicate":
            at = int(rng.integers(1, len(parts) + 1))
            parts.insert(at, parts[i])
            what = f"copy of HDU{i} inserted at {at}"
        else:
            del parts[max(i, 1)]
            what = f"HDU{max(i, 1)} dropped"
        return b"".join(parts) + tail, f"{kind}: {what}"
    if kind == "extname":
        names = [(i, off) for i, h in enumerate(layout) for off, key in h.cards if key == "EXTNAME"]
        if not names:
            return mutate(data, layout, "card_edit", rng)
        i, off = names[int(rng.integers(len(names)))]
        others = [bytes(buf[o + 10 : o + 30]).decode("ascii", "replace").strip() for _, o in names]
        value = str(rng.choice(others + ["'COADD'", "'SPECOBJ'", "'SPALL'", "'coadd'", "'JUNK'", "''", "'SPZLINE'", "'PRIMARY'"]))
        _set_card(buf, off, "EXTNAME", value)
        return bytes(buf), f"extname HDU{i} -> {value}"
    if kind == "data_fill":
        spans = [h for h in layout if h.data_end > h.data_start]
        if not spans:
            return mutate(data, layout, "bit_flip", rng)
        h = spans[int(rng.integers(len(spans)))]
        size = h.data_end - h.data_start
        length = int(rng.integers(1, size + 1)) if rng.random() < 0.5 else size
        start = h.data_start + int(rng.integers(0, size - length + 1))
        pattern = [b"\x00", b"\xff", b"\x7f\xc0\x00\x00", b"\x7f\x80\x00\x00", b"\xff\x80\x00\x00", b"\x7f\x7f\xff\xff"]
        j = int(rng.integers(len(pattern) + 1))
        fill = rng.integers(0, 256, length, dtype=np.uint8).tobytes() if j == len(pattern) else (pattern[j] * (length // len(pattern[j]) + 1))[:length]
        buf[start : start + length] = fill
        return bytes(buf), f"data_fill HDU{layout.index(h)} bytes {start}..{start + length} pattern {j}"
    if kind == "compressed_cut":
        compressed = compressed or {}
        method = "gzip" if rng.random() < 0.5 else "bzip2"
        stream = compressed.get(method)
        if stream is None:
            stream = gzip.compress(data, compresslevel=1, mtime=0) if method == "gzip" else bz2.compress(data, 1)
        how = int(rng.integers(4))
        sbuf = bytearray(stream)
        if how == 0:
            cut = int(rng.integers(0, len(sbuf)))
            return bytes(sbuf[:cut]), f"compressed_cut {method} cut at {cut} of {len(sbuf)}"
        if how == 1:
            pos = int(rng.integers(0, len(sbuf)))
            sbuf[pos] ^= 1 << int(rng.integers(8))
            return bytes(sbuf), f"compressed_cut {method} bit flip at {pos} of {len(sbuf)}"
        if how == 2:
            cut = int(rng.integers(len(sbuf) // 2, len(sbuf)))
            return bytes(sbuf) + bytes(sbuf[:cut]), f"compressed_cut {method} second member cut at {cut}"
        junk = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        return bytes(sbuf) + junk, f"compressed_cut {method} + {len(junk)} trailing junk bytes"
    raise ValueError(f"unknown mutation kind {kind!r}; expected one of {MUTATION_KINDS}")

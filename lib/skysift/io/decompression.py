"""Bounded, streamed gzip / bzip2 decompression: no file may expand past a cap.

Readers of files that strangers made must not be killable by a decompression
bomb (a 100 kB bzip2 file of zeros expands to gigabytes). ``read_bounded(path,
max_bytes)`` and ``decompress_bounded(data, max_bytes)`` detect the compression
from the magic bytes (never the name), feed the stream through a decompressor
in ``CHUNK_BYTES`` pieces with an output limit on every call, and raise
``TooLarge`` as soon as the output passes ``max_bytes`` -- so a bomb costs at
most ``max_bytes`` plus one chunk of memory and the time to produce
``max_bytes`` (measured: a 2 GiB bzip2 bomb of zeros, 1.5 kB compressed, is
rejected at a 32 MiB cap in ~0.2 s with ~70 MB peak RSS; tests/io/test_decompression.py).
A plain (uncompressed) file larger than the cap is rejected the same way, so
the cap bounds what any reader holds for one file. Peak memory of a file under
the cap is about twice its decompressed size (the pieces, then the joined bytes).

Concatenated members (``cat a.gz b.gz``, pbzip2's multi-stream files) are read
in order; bytes after the last complete member that do not start another member
are ignored, as ``gunzip`` and ``bzip2 -d`` do. A stream that ends before its end
marker is ``Corrupt`` ("truncated"), never a silent short read.
"""
from __future__ import annotations

import bz2
import os
import zlib
from typing import Iterable, Iterator

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_SPECTRUM_BYTES",
    "Corrupt",
    "DecompressionError",
    "TooLarge",
    "decompress_bounded",
    "human_bytes",
    "read_bounded",
    "sniff_compression",
]

MiB = 1 << 20

DEFAULT_MAX_SPECTRUM_BYTES = 32 * MiB
"""Cap for one spectrum file (not stated in the papers: skysift choice). The largest real file in
../shared/data/sdss-spectra is 1,759,680 B (spec-0390-51900-0282.fits, a full spec with 26 HDUs); SDSS
full spec files with more exposures stay within a few MB, LAMOST files are 92 kB: 32 MiB is 19x the largest."""

DEFAULT_MAX_FRAME_BYTES = 64 * MiB
"""Cap for one image frame (skysift choice). An SDSS corrected frame decompresses to 12,447,360 B (all four
frame-*.fits.bz2 in ../shared/data/sdss-imaging, 1489 x 2048 float32 + HDU1-3): 64 MiB is 5.4x that, and also
holds a 4096 x 4096 float32 image (DECam / HSC CCD sized)."""

CHUNK_BYTES = 1 * MiB
"""Compressed bytes fed to the decompressor per call (and read from disk per read)."""

_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh"}


class DecompressionError(ValueError):
    """The file cannot be decompressed within the rules; the message is a one-line reason without the path."""


class TooLarge(DecompressionError):
    """The file (after decompression) is larger than the cap."""


class Corrupt(DecompressionError):
    """The compressed stream is damaged or cut short."""


def human_bytes(n: int) -> str:
    """``n`` bytes as '32 MiB' / '1.7 MB'-style text for reasons (binary units above 1 MiB)."""
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} kiB"
    return f"{n} B"


def sniff_compression(head: bytes) -> str:
    """'gzip', 'bzip2' or 'none' from a file's first bytes (at least 3)."""
    if head[:2] == _MAGIC["gzip"]:
        return "gzip"
    if head[:3] == _MAGIC["bzip2"]:
        return "bzip2"
    return "none"


def _decompressor(kind: str):
    # wbits 16 + MAX_WBITS: a gzip header and trailer (CRC-32 and length are checked by zlib).
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if kind == "gzip" else bz2.BZ2Decompressor()


def _too_large(kind: str, max_bytes: int) -> TooLarge:
    return TooLarge(
        f"{kind} stream decompresses to more than the cap of {human_bytes(max_bytes)} (max_bytes={max_bytes}; "
        "a decompression bomb, or a genuine file larger than the cap: then raise the reader's max_bytes)"
    )


def _feed(dec, kind: str, data: bytes, out: list, size: list, max_bytes: int) -> bytes:
    """Push ``data`` through ``dec`` with an output limit; return the bytes after the member's end (b'' if none)."""
    while True:
        budget = max_bytes + 1 - size[0]  # >= 1 always: one byte over the cap is enough to know
        try:
            piece = dec.decompress(data, budget)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise Corrupt(f"corrupt {kind} stream ({' '.join(str(exc).split())[:120]})") from None
        if piece:
            out.append(piece)
            size[0] += len(piece)
            if size[0] > max_bytes:
                raise _too_large(kind, max_bytes)
        if dec.eof:
            return dec.unused_data
        if kind == "gzip":
            data = dec.unconsumed_tail
            if not data:
                return b""
        else:
            if dec.needs_input:
                return b""
            data = b""


def _inflate(kind: str, chunks: Iterable[bytes], max_bytes: int) -> bytes:
    magic = _MAGIC[kind]
    out: list[bytes] = []
    size = [0]
    dec = _decompressor(kind)
    pending = b""
    members = 0
    for chunk in chunks:
        data = pending + chunk if pending else chunk
        pending = b""
        while data:
            if dec is None:  # between members: another one, or trailing bytes
                if len(data) < len(magic):
                    pending = data
                    break
                if not data.startswith(magic):
                    return b"".join(out)
                dec = _decompressor(kind)
            data = _feed(dec, kind, data, out, size, max_bytes)
            if dec.eof:
                dec = None
                members += 1
    if dec is not None:  # a member was started and never finished
        raise Corrupt(
            f"truncated {kind} stream: it ends before its end marker (member {members + 1}, "
            f"after {human_bytes(size[0])} of output)"
        )
    return b"".join(out)


def _check(max_bytes: int) -> None:
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")


def decompress_bounded(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    """(content, 'gzip' | 'bzip2' | 'none') of in-memory file bytes, at most ``max_bytes`` of content.

    Raises ``TooLarge`` (content over the cap, plain or decompressed), ``Corrupt`` (damaged or cut stream).
    """
    _check(max_bytes)
    kind = sniff_compression(data[:3])
    if kind == "none":
        if len(data) > max_bytes:
            raise TooLarge(f"file is {human_bytes(len(data))}, over the cap of {human_bytes(max_bytes)} (max_bytes={max_bytes})")
        return data, kind
    view = memoryview(data)
    pieces = (bytes(view[i : i + CHUNK_BYTES]) for i in range(0, len(data), CHUNK_BYTES))
    return _inflate(kind, pieces, max_bytes), kind


def _file_chunks(fh) -> Iterator[bytes]:
    while True:
        chunk = fh.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


def read_bounded(path: str | os.PathLike, max_bytes: int, keep_plain_on_disk: bool = False) -> tuple[bytes | None, str]:
    """(content, compression) of the file at ``path``, streamed, at most ``max_bytes`` of content.

    ``keep_plain_on_disk``: for an uncompressed file return (None, 'none') after the size check, so a
    reader that seeks in the file itself does not load it. Raises ``OSError`` (cannot open),
    ``TooLarge``, ``Corrupt``.
    """
    _check(max_bytes)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(3)
        kind = sniff_compression(head)
        if kind == "none":
            if size > max_bytes:
                raise TooLarge(f"file is {human_bytes(size)}, over the cap of {human_bytes(max_bytes)} (max_bytes={max_bytes})")
            if keep_plain_on_disk:
                return None, kind
            return head + fh.read(), kind

        def chunks() -> Iterator[bytes]:
            yield head
            yield from _file_chunks(fh)

        return _inflate(kind, chunks(), max_bytes), kind

"""Read survey spectrum FITS files (SDSS/BOSS spec, spec-lite; LAMOST image and table layouts).

``read_spectra_file(path)`` returns one ``NativeSpectrum`` per spectrum in the
file, or ``Reject`` objects saying in one line what is wrong: it never raises
for a bad file. The layout is found from the file's content (HDU names, kinds,
shapes, columns); gzip and bzip2 files are recognised by their magic bytes.

Back ends (``backend=``): ``raw`` is our own scanner (reads only the header
cards it needs and the byte ranges of the wanted columns), ``astropy`` and
``fitsio`` wrap those libraries. ``auto`` uses ``raw`` and falls back to
astropy for any construct the scanner does not handle. Median ms per file on
the real sample (2-core machine shared with other jobs, warm page cache,
``compare_backends``, whole read incl. validation): SDSS/BOSS spec 0.7 raw /
19-29 astropy / 4-5.5 fitsio; LAMOST image 0.16 / 0.86 / 1.6. astropy's cost
is building column objects for the 126-column SPECOBJ (236 for BOSS SPALL);
memmap on/off made no difference (19.0 vs 19.6 ms). All back ends give
identical arrays and metadata on the real files (tests/io/test_readers_real.py),
and the raw scanner and astropy on every damaged copy both accept
(tests/io/test_fuzz_readers.py, RELIABILITY.md). ``max_bytes`` caps what one file
may decompress to (``skysift.io.decompression.DEFAULT_MAX_SPECTRUM_BYTES``).
"""
from __future__ import annotations

import os
import time
from typing import Iterable

from skysift.spectra.native import NativeSpectrum

from skysift.runtime.rejects import Reject
from skysift.io.decompression import DEFAULT_MAX_SPECTRUM_BYTES
from skysift.io.readers import (
    BACKENDS,
    READERS,
    BadStructure,
    FitsError,
    NotFits,
    SpectrumProblem,
    Truncated,
    Unsupported,
    detect_layout,
    read_source,
    validate,
)
from skysift.io.readers.fitsview import _one_line

__all__ = [
    "BACKEND_ORDER",
    "DEFAULT_MAX_SPECTRUM_BYTES",
    "FITS_SUFFIXES",
    "compare_backends",
    "detect_file_layout",
    "read_spectra_file",
    "read_spectra_files",
]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.bz2", ".fit.bz2")
"""File names a directory listing treats as spectrum files (content decides the layout)."""


def _reject(path: str, stage: str, reason: str, spec_id: str | None = None, row_index: int | None = None) -> Reject:
    return Reject(source_file=path, stage=stage, reason=_one_line(f"{path}: {reason}", 400), row_index=row_index, spec_id=spec_id)


def _read_with(view, path: str) -> list[NativeSpectrum | Reject]:
    layout = detect_layout(view)
    try:
        spectra = READERS[layout](view, path)
    except KeyError as exc:  # a column announced in the header but not readable
        raise SpectrumProblem("read", _one_line(exc.args[0] if exc.args else exc)) from None
    out: list[NativeSpectrum | Reject] = []
    for spec in spectra:
        try:
            spec = validate(spec)
        except SpectrumProblem as problem:
            out.append(_reject(path, problem.stage, problem.reason, spec.spec_id, spec.row_index))
            continue
        spec.extra["backend"] = view.backend
        spec.extra["compression"] = view.compression
        out.append(spec)
    return out


BACKEND_ORDER = {"auto": ("raw", "astropy"), "raw": ("raw", "astropy"), "astropy": ("astropy",), "fitsio": ("fitsio", "astropy")}
"""Back ends tried in turn for each ``backend=`` value; the next one only when the previous declined or failed."""


def read_spectra_file(
    path: str | os.PathLike, backend: str = "auto", *, max_bytes: int = DEFAULT_MAX_SPECTRUM_BYTES
) -> list[NativeSpectrum | Reject]:
    """All spectra in one FITS file, or Rejects (stage 'read' or 'validate') naming the file and the problem.

    ``backend``: 'auto' (raw scanner, astropy where the scanner declines), 'raw',
    'astropy' or 'fitsio' (the last two still fall back to astropy/raw only when
    they cannot handle the file's compression). ``max_bytes``: the largest file
    (after gzip / bzip2 decompression) accepted; a bigger one, or a decompression
    bomb, is rejected after at most ``max_bytes`` of output. A spectrum read by a
    later back end after an earlier one failed carries the earlier reason in
    ``extra['fallback_from']``. Never raises for a bad file (ValueError for a bad ``backend``).
    """
    path = str(path)
    if backend not in BACKEND_ORDER:
        raise ValueError(f"backend must be one of {sorted(BACKEND_ORDER)}, got {backend!r}")
    try:
        return _read_spectra_file(path, backend, max_bytes)
    except Exception as exc:  # noqa: BLE001 - last guard: a bad file must never stop a job
        return [_reject(path, "read", f"unexpected {type(exc).__name__} while reading: {_one_line(exc, 200)}")]


def _read_spectra_file(path: str, backend: str, max_bytes: int) -> list[NativeSpectrum | Reject]:
    try:
        data, compression = read_source(path, max_bytes)
    except FitsError as exc:
        return [_reject(path, "read", str(exc))]
    except OSError as exc:
        return [_reject(path, "read", f"cannot open ({exc.strerror or type(exc).__name__})")]
    first_error: str | None = None
    for name in BACKEND_ORDER[backend]:
        view = None
        try:
            view = BACKENDS[name](path, data, compression)
            out = _read_with(view, path)
            if first_error:
                for item in out:
                    if isinstance(item, NativeSpectrum):
                        item.extra["fallback_from"] = first_error
            return out
        except SpectrumProblem as problem:
            return [_reject(path, problem.stage, problem.reason)]
        except (NotFits, Truncated, BadStructure) as exc:
            # Structural damage: another back end would not make the bytes whole (they all walk the
            # headers with the same structure check first).
            return [_reject(path, "read", str(exc))]
        except Unsupported as exc:
            first_error = first_error or f"{name}: {exc}"
        except FitsError as exc:
            first_error = first_error or str(exc)
        except Exception as exc:  # noqa: BLE001 - a bad file must never stop a job
            first_error = first_error or f"unexpected {type(exc).__name__} in the {name} reader: {_one_line(exc, 200)}"
        finally:
            if view is not None:
                view.close()
    return [_reject(path, "read", first_error or "no back end could read it")]


def read_spectra_files(
    paths: Iterable[str | os.PathLike], backend: str = "auto", *, max_bytes: int = DEFAULT_MAX_SPECTRUM_BYTES
) -> list[NativeSpectrum | Reject]:
    """``read_spectra_file`` over several files, results concatenated in order."""
    out: list[NativeSpectrum | Reject] = []
    for p in paths:
        out.extend(read_spectra_file(p, backend=backend, max_bytes=max_bytes))
    return out


def detect_file_layout(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_SPECTRUM_BYTES) -> str | None:
    """The layout name ('sdss', 'lamost-image', 'lamost-table') of a file, or None when unrecognised/unreadable."""
    try:
        data, compression = read_source(str(path), max_bytes)
        with BACKENDS["raw"](str(path), data, compression) as view:
            return detect_layout(view)
    except (FitsError, SpectrumProblem, Unsupported, OSError):
        return None


def compare_backends(paths: Iterable[str | os.PathLike], repeat: int = 3, backends=("raw", "astropy", "fitsio")) -> list[dict]:
    """Per-file best-of-``repeat`` read time in ms for each back end (a back end that is missing is skipped)."""
    rows = []
    for p in paths:
        row = {"file": os.path.basename(str(p))}
        for name in backends:
            best = float("inf")
            try:
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    read_spectra_file(p, backend=name)
                    best = min(best, time.perf_counter() - t0)
            except ImportError:
                continue
            row[f"{name}_ms"] = round(best * 1e3, 3)
        rows.append(row)
    return rows

"""Survey spectrum readers behind one interface: a FITS view in, NativeSpectrum objects out.

``detect_layout(view)`` looks at HDU names, kinds, shapes and columns (never at
the file name) and returns one of ``LAYOUTS``; ``READERS[layout](view, path)``
returns the spectra of that file or raises ``SpectrumProblem``. The public
entry point that also handles decompression, back-end choice, validation and
turning every failure into a ``Reject`` is ``skysift.io.spectra_fits.read_spectra_file``.
"""
from __future__ import annotations

from skysift.io.readers import lamost, sdss
from skysift.io.readers.common import SpectrumProblem, validate
from skysift.io.readers.fitsview import (
    BACKENDS,
    BadStructure,
    FitsError,
    FitsView,
    NotFits,
    TooLarge,
    Truncated,
    Unsupported,
    open_view,
    read_source,
)

LAYOUTS = ("sdss", "lamost-image", "lamost-table")


def detect_layout(view: FitsView) -> str:
    """Which reader handles this file; raise SpectrumProblem('read', ...) when none does."""
    primary = view.hdu(0)
    if primary is not None and primary.kind == "image" and len(primary.shape) == 2:
        if primary.shape[0] == lamost.IMAGE_ROWS or lamost.looks_like_lamost_header(primary.header):
            return "lamost-image"
    if sdss.coadd_hdu(view) is not None:
        return "sdss"
    if lamost.table_hdu(view) is not None:
        return "lamost-table"
    raise SpectrumProblem(
        "read",
        "no spectrum layout recognised (expected SDSS/BOSS COADD + SPECOBJ/SPALL tables, a LAMOST 5xN primary image, "
        f"or a LAMOST table with FLUX/IVAR/WAVELENGTH); {view.summary()}",
    )


def _read_lamost_table(view: FitsView, path: str):
    return lamost.read_table(view, path, lamost.table_hdu(view))


READERS = {"sdss": sdss.read, "lamost-image": lamost.read_image, "lamost-table": _read_lamost_table}

__all__ = [
    "BACKENDS",
    "BadStructure",
    "FitsError",
    "FitsView",
    "LAYOUTS",
    "NotFits",
    "READERS",
    "SpectrumProblem",
    "TooLarge",
    "Truncated",
    "Unsupported",
    "detect_layout",
    "open_view",
    "read_source",
    "validate",
]

"""List image frame files and group them into fields by name alone (what a driver can do without reading them).

SDSS corrected frames group by ``frame-BAND-RUN-CAMCOL-FIELD`` (``io.frames.group_frame_paths``).
Other files group by a band token in the name: the stem (name without ``.fits[.gz|.bz2]``) is split
on '-', the first token that is a known band name is the band, and the other tokens, joined by '-',
are the field key (``stamp-u-164.4311-39.0359.fits`` -> band u of field ``stamp-164.4311-39.0359``;
known bands: u g r i z y and the job's own). A file with no band token is a field of its own whose band
the executor reads from the header (FILTER / BAND). Everything here is names and paths: no file is opened.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Iterable

from skysift.io.frames import SDSS_BANDS, group_frame_paths
from skysift.runtime.rejects import Reject

__all__ = ["FRAME_SUFFIXES", "FieldFiles", "split_bands", "read_file_bytes", "list_frame_files", "frame_stem", "band_token", "group_fields"]

FRAME_SUFFIXES = (".fits", ".fits.gz", ".fits.bz2", ".fit", ".fts", ".fit.gz", ".fit.bz2")
_STEM = re.compile(r"\.(fits|fit|fts)(\.gz|\.bz2)?$", re.IGNORECASE)


@dataclass
class FieldFiles:
    """The files of one field, as the driver knows them from their names."""

    field_id: str
    """RUN-CAMCOL-FIELD for SDSS frames, else the name key (stem without the band token)."""
    files: dict[str, str] = field(default_factory=dict)
    """band -> path, for the bands the job reads (required and optional)."""
    unused: dict[str, str] = field(default_factory=dict)
    """band -> path, for bands the job does not stack (listed, not read)."""
    unknown_band: list[str] = field(default_factory=list)
    """Paths whose name has no band token (the band comes from the header when read)."""
    sdss: bool = False
    """Whether the field id comes from SDSS frame names."""

    def all_paths(self) -> list[str]:
        """Every path of the field (read, unused and of unknown band), sorted."""
        return sorted([*self.files.values(), *self.unused.values(), *self.unknown_band])


def split_bands(bands: tuple[str, ...]) -> tuple[str, ...]:
    """Band names with a run of one-letter SDSS-style bands written together split up: ('ugriz',) -> u, g, r, i, z.

    ``--set bands=ugriz`` arrives as one string; an entry made only of distinct letters of ``ugrizy`` is split
    into them, any other entry (a multi-letter band name such as 'NUV') is kept whole.
    """
    out: list[str] = []
    for entry in bands:
        entry = str(entry).strip()
        if len(entry) > 1 and set(entry) <= set("ugrizy") and len(set(entry)) == len(entry):
            out.extend(entry)
        else:
            out.append(entry)
    return tuple(out)


def read_file_bytes(uri: str) -> bytes:
    """The file's bytes exactly as stored, from any URI of ``runtime.filesystem``.

    Not ``runtime.filesystem.read_bytes``: pyarrow's ``open_input_stream`` detects compression from the
    extension and hands back a ``.bz2`` / ``.gz`` file already decompressed (and a truncated one as an
    OSError), so the frame reader could neither report the compression nor give its own reason for a
    corrupt stream. ``open_input_file`` reads the raw bytes.
    """
    from skysift.runtime.filesystem import resolve

    fs, path = resolve(uri)
    with fs.open_input_file(path) as src:
        return src.readall()


def list_frame_files(spec: str) -> list[str]:
    """Expand folders (recursively) and globs, comma-separated, into a sorted, de-duplicated list of FITS paths."""
    found: set[str] = set()
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        if os.path.isdir(part):
            for root, _dirs, files in os.walk(part):
                found.update(os.path.join(root, f) for f in files if f.lower().endswith(FRAME_SUFFIXES))
        else:
            found.update(m for m in glob.glob(part, recursive=True) if os.path.isfile(m))
    return sorted(os.path.abspath(p) for p in found)


def frame_stem(path: str) -> str:
    """The file name without its FITS and compression suffixes."""
    return _STEM.sub("", os.path.basename(str(path)))


def band_token(path: str, known_bands: Iterable[str]) -> tuple[str | None, str]:
    """(band, field key) from a non-SDSS name: the first '-'-separated token that is a known band; (None, stem) when none is."""
    stem = frame_stem(path)
    tokens = stem.split("-")
    known = set(known_bands)
    for i, token in enumerate(tokens):
        if token in known and len(tokens) > 1:
            return token, "-".join(tokens[:i] + tokens[i + 1 :])
    return None, stem


def group_fields(paths: Iterable[str], wanted_bands: Iterable[str]) -> tuple[list[FieldFiles], list[Reject]]:
    """Fields (sorted by id) from file names; duplicates of a band in one field become Rejects (stage 'group').

    ``wanted_bands``: the bands the job reads; other bands' files go to ``FieldFiles.unused``.
    """
    wanted = list(wanted_bands)
    sdss, others, rejects = group_frame_paths(paths)
    fields: dict[str, FieldFiles] = {}
    for field_id, bands in sdss.items():
        ff = fields.setdefault(field_id, FieldFiles(field_id, sdss=True))
        for band, path in bands.items():
            (ff.files if band in wanted else ff.unused)[band] = path
    known = set(SDSS_BANDS) | {"y"} | set(wanted)
    for path in others:
        band, key = band_token(path, known)
        if key in fields and fields[key].sdss:
            key = f"{key}~{frame_stem(path)}"  # never mix a non-SDSS file into an SDSS field by accident
        ff = fields.setdefault(key, FieldFiles(key))
        if band is None:
            ff.unknown_band.append(path)
            continue
        target = ff.files if band in wanted else ff.unused
        if band in ff.files or band in ff.unused:
            kept = ff.files.get(band) or ff.unused.get(band)
            rejects.append(Reject(source_file=path, stage="group", reason=f"{path}: duplicate {band} frame for field {key} (kept {kept})"))
            continue
        target[band] = path
    return [fields[k] for k in sorted(fields)], rejects

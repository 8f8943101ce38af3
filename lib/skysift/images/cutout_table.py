"""Real SDSS cutout files -> a `cutouts` table (the CUTOUTS columns of make-cutouts that an images table
needs, plus ``pixel_scale_arcsec``: one row per position, the bands stacked).

The SDSS cutouts of ../shared/data/sdss-imaging are one FITS file per band, named
``stamp-<band>-<ra>-<dec>.fits`` (51 x 51 px, 0.396 arcsec/px, nanomaggies, TAN WCS). Files with the
same ``<ra>-<dec>`` are one image: the bands are stacked in ugriz order (those present), the position is
the world coordinate of the central pixel of the first band's WCS (astropy), and the pixel scale comes
from the WCS. Bands of one position must share the shape; a group that does not is left out with a
reason. ``stamps_with_positions`` turns a stamps table into a cutouts table at given positions (tests,
demo: the synthetic stamps have no sky position).
"""
from __future__ import annotations

import glob
import os
import re

import numpy as np
import pyarrow as pa

from skysift.schema.images import CUTOUTS

BAND_ORDER = "ugriz"
CUTOUT_COLUMNS = ("object_id", "row_index", "ra_deg", "dec_deg", "healpix29", "size_px", "bands", "pixels", "flags")
"""The make-cutouts columns these tables fill (schema.images.CUTOUTS)."""
TABLE_SCHEMA = pa.schema([CUTOUTS.field(c) for c in CUTOUT_COLUMNS] + [pa.field("pixel_scale_arcsec", pa.float32())])
"""CUTOUTS' image columns + the pixel scale (make-cutouts keeps it on the field row instead)."""


def cutout_rows(object_id, ra_deg, dec_deg, bands: list[list[str]], size_px, pixels, scale_arcsec) -> pa.Table:
    """A TABLE_SCHEMA table from per-row values (pixels: a list<float32> array or a list of flat arrays)."""
    from skysift.sky.healpix import healpix29

    ra = np.asarray(ra_deg, np.float64)
    dec = np.asarray(dec_deg, np.float64)
    n = len(ra)
    return pa.Table.from_pydict({
        "object_id": [str(v) for v in object_id], "row_index": np.arange(n, dtype=np.int64), "ra_deg": ra,
        "dec_deg": dec, "healpix29": healpix29(ra, dec).astype(np.int64), "size_px": np.asarray(size_px, np.int32),
        "bands": bands, "pixels": pixels, "flags": np.zeros(n, np.int32),
        "pixel_scale_arcsec": np.asarray(scale_arcsec, np.float32)}, schema=TABLE_SCHEMA)
STAMP_NAME = re.compile(r"^stamp-([ugriz])-(.+)\.fits(\.gz|\.bz2)?$")


def group_stamp_files(folder: str) -> dict[str, dict[str, str]]:
    """{'<ra>-<dec>': {band: path}} of the stamp-<band>-<ra>-<dec>.fits files in ``folder``."""
    groups: dict[str, dict[str, str]] = {}
    for path in sorted(glob.glob(os.path.join(folder, "stamp-*.fits*"))):
        m = STAMP_NAME.match(os.path.basename(path))
        if m:
            groups.setdefault(m.group(2), {})[m.group(1)] = path
    return groups


def read_sdss_cutouts(folder: str) -> tuple[pa.Table, list[tuple[str, str]]]:
    """(cutouts table (TABLE_SCHEMA), [(file, reason)] of groups left out) of the SDSS stamp files in ``folder``."""
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    rows, skipped = [], []
    for key, files in group_stamp_files(folder).items():
        bands = "".join(b for b in BAND_ORDER if b in files)
        planes = [np.asarray(fits.getdata(files[b], 0), dtype=np.float32) for b in bands]
        if len({p.shape for p in planes}) != 1 or planes[0].ndim != 2 or planes[0].shape[0] != planes[0].shape[1]:
            skipped.append((files[bands[0]], f"bands of {key} differ in shape or are not square: "
                            f"{[p.shape for p in planes]}"))
            continue
        wcs = WCS(fits.getheader(files[bands[0]], 0))
        size = planes[0].shape[0]
        ra, dec = wcs.all_pix2world([[(size - 1) / 2.0, (size - 1) / 2.0]], 0)[0]
        rows.append((f"sdss-{key}", float(ra), float(dec), list(bands), size, np.stack(planes).ravel(),
                     float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)))
    if not rows:
        return TABLE_SCHEMA.empty_table(), skipped
    cols = list(zip(*rows))
    return cutout_rows(cols[0], cols[1], cols[2], list(cols[3]), cols[4],
                       pa.array(list(cols[5]), type=pa.list_(pa.float32())), cols[6]), skipped


def stamps_with_positions(stamps: pa.Table, ra_deg: np.ndarray, dec_deg: np.ndarray,
                          prefix: str = "") -> pa.Table:
    """A stamps table (STAMPS) as a cutouts table (TABLE_SCHEMA) at the given positions; object_id =
    prefix + stamp_id."""
    return cutout_rows([f"{prefix}{v}" for v in stamps.column("stamp_id").to_pylist()], ra_deg, dec_deg,
                       [list(b) for b in stamps.column("bands").to_pylist()], stamps.column("size_px").to_numpy(),
                       stamps.column("pixels").cast(pa.list_(pa.float32())),
                       stamps.column("pixel_scale_arcsec").to_numpy(zero_copy_only=False))

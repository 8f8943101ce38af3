"""Real SDSS cutout files -> a `cutouts` table (IMAGE_CUTOUTS: one row per position, the bands stacked).

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

from skysift.schema.similarity import IMAGE_CUTOUTS

BAND_ORDER = "ugriz"
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
    """(IMAGE_CUTOUTS table, [(file, reason)] of groups left out) of the SDSS stamp files in ``folder``."""
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
        header = fits.getheader(files[bands[0]], 0)
        wcs = WCS(header)
        size = planes[0].shape[0]
        ra, dec = wcs.all_pix2world([[(size - 1) / 2.0, (size - 1) / 2.0]], 0)[0]
        scale = float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)
        rows.append({"image_id": f"sdss-{key}", "ra": float(ra), "dec": float(dec), "bands": bands, "size_px": size,
                     "pixel_scale_arcsec": scale, "pixels": np.stack(planes).ravel(),
                     "source_file": files[bands[0]]})
    return pa.Table.from_pylist(rows, schema=IMAGE_CUTOUTS), skipped


def stamps_with_positions(stamps: pa.Table, ra_deg: np.ndarray, dec_deg: np.ndarray,
                          prefix: str = "") -> pa.Table:
    """A stamps table (STAMPS) as a cutouts table (IMAGE_CUTOUTS) with the given positions; image_id =
    prefix + stamp_id."""
    n = stamps.num_rows
    return pa.Table.from_arrays(
        [pa.array([f"{prefix}{v}" for v in stamps.column("stamp_id").to_pylist()], pa.string()),
         pa.array(np.asarray(ra_deg, np.float64)), pa.array(np.asarray(dec_deg, np.float64)),
         stamps.column("bands"), stamps.column("size_px"), stamps.column("pixel_scale_arcsec"),
         stamps.column("pixels").cast(pa.list_(pa.float32())), pa.array([None] * n, pa.string())],
        schema=IMAGE_CUTOUTS)

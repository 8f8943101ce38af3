"""Pieces of `skysift search-images` (no Spark here): reading query images, finding a cutout by sky
position, the exhaustive-scan task, reading matched images back for the contact sheets."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from skysift.runtime.errors import SkysiftError

STAGE = "search-images"


@dataclass
class Queries:
    """Query images made into the encoder's input, and the ones that could not be."""

    ids: list[str]
    images: np.ndarray
    """(n, 3, S, S) float32 in [0, 1]."""
    rejects: list = field(default_factory=list)
    read: int = 0


def _table_from_array(arr: np.ndarray, bands: str, name: str, pixel_scale_arcsec: float = 0.0) -> pa.Table:
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise SkysiftError(f"{name}: query array has shape {arr.shape}; expected (3, H, W) or (N, 3, H, W)")
    n, nb, h, w = arr.shape
    ids = [name] if n == 1 else [f"{name}#{i}" for i in range(n)]
    table = pa.table({"image_id": ids, "bands": [bands if nb == len(bands) else bands[:nb]] * n,
                      "size_px": pa.array([h] * n, pa.int16()),
                      "pixels": pa.array(list(arr.reshape(n, -1)), type=pa.list_(pa.float32()))})
    if pixel_scale_arcsec > 0:  # network_input brings the pixels to the stretch's surface-brightness scale
        table = table.append_column("pixel_scale_arcsec", pa.array([pixel_scale_arcsec] * n, pa.float32()))
    return table


def _fits_pixel_scale_arcsec(header) -> float:
    """Mean pixel scale of a FITS header's celestial WCS in arcsec (0 when it has none)."""
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    try:
        w = WCS(header).celestial
        return float(np.mean(proj_plane_pixel_scales(w)) * 3600.0) if w.naxis == 2 and w.has_celestial else 0.0
    except Exception:  # a header without a usable WCS: no scaling, as for arrays
        return 0.0


def read_query_table(path: str, bands: str, pixel_scale_arcsec: float = 0.0) -> pa.Table:
    """The query file as an images table (bands, size_px, pixels, image_id / stamp_id). Arrays (.npy, FITS)
    get ``pixel_scale_arcsec`` when > 0, else a FITS file's WCS scale, else none (unscaled)."""
    from skysift.config import ConfigError
    from skysift.runtime.output import exists, read_table

    name = os.path.basename(path.rstrip("/"))
    if path.endswith(".npy"):
        if not os.path.exists(path):
            raise ConfigError(f"query {path}: no such file")
        return _table_from_array(np.load(path, allow_pickle=False), bands, name, pixel_scale_arcsec)
    if path.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
        from astropy.io import fits

        if not os.path.exists(path):
            raise ConfigError(f"query {path}: no such file")
        data, header = fits.getdata(path, 0, header=True)
        if data is None:
            raise SkysiftError(f"{path}: the primary HDU holds no image")
        return _table_from_array(data, bands, name, pixel_scale_arcsec or _fits_pixel_scale_arcsec(header))
    if not exists(path):
        raise ConfigError(f"query {path}: no such file or table")
    return read_table(path)


def prepare_queries(table: pa.Table, source: str, image_size_px: int, bands: str, min_size_px: int,
                    mask: str = "none") -> Queries:
    """The encoder input (under the encoder's ``input_mask``) of every usable row of an images table; the
    others as rejects."""
    from skysift.images.network_input import id_column, network_input
    from skysift.runtime.rejects import Reject

    idc = id_column(table.column_names)
    ids = [str(v) for v in table.column(idc).to_pylist()]
    good, x, reasons = network_input(table, image_size_px, bands, min_size_px, mask)
    rejects = [Reject(source, STAGE, r, row_index=i, spec_id=ids[i]) for i, r in enumerate(reasons) if r is not None]
    return Queries([ids[i] for i in good], x, rejects, table.num_rows)


def find_by_position(cutouts: str, ra_deg: float, dec_deg: float, radius_arcsec: float = 0.0) -> tuple[pa.Table, float]:
    """(the nearest cutout's row, its separation in arcsec) of the images table ``cutouts``; SkysiftError
    (one line) when the position is farther than ``radius_arcsec`` (0: half the cutout's side) from every
    cutout, i.e. outside every field."""
    import pyarrow.compute as pc

    from skysift.images.network_input import id_column, position_columns
    from skysift.runtime.output import open_dataset
    from skysift.sky.separation import angular_separation_arcsec

    ds = open_dataset(cutouts)
    names = ds.schema.names
    pos = position_columns(names)
    if pos is None:
        raise SkysiftError(f"{cutouts}: a position query needs a cutouts table with ra_deg / dec_deg columns; it "
                           f"has {sorted(names)}")
    idc = id_column(names)
    cols = [idc, *pos] + [c for c in ("size_px", "pixel_scale_arcsec") if c in names]
    t = ds.to_table(columns=cols)
    ra = t.column(pos[0]).to_numpy(zero_copy_only=False).astype(np.float64)
    dec = t.column(pos[1]).to_numpy(zero_copy_only=False).astype(np.float64)
    sep = angular_separation_arcsec(np.full(len(ra), ra_deg), np.full(len(ra), dec_deg), ra, dec)
    sep = np.where(np.isfinite(sep), sep, np.inf)
    if not len(sep) or not np.isfinite(sep).any():
        raise SkysiftError(f"position ({ra_deg}, {dec_deg}) is outside every field: {cutouts} holds no positions")
    i = int(np.argmin(sep))
    if radius_arcsec > 0:
        limit = radius_arcsec
    elif "size_px" in names and "pixel_scale_arcsec" in names and t.column("pixel_scale_arcsec")[i].is_valid:
        limit = 0.5 * float(t.column("size_px")[i].as_py()) * float(t.column("pixel_scale_arcsec")[i].as_py())
    else:
        raise SkysiftError(f"{cutouts}: no pixel_scale_arcsec to tell whether ({ra_deg}, {dec_deg}) falls on a cutout; "
                           "--set match_radius_arcsec=R")
    the_id = t.column(idc)[i]
    if sep[i] > limit:
        raise SkysiftError(f"position ({ra_deg}, {dec_deg}) is outside every field of {cutouts}: the nearest cutout, "
                           f"{the_id.as_py()}, is {sep[i]:.1f} arcsec away (limit {limit:.1f} arcsec)")
    row = ds.to_table(filter=pc.field(idc) == the_id)
    return row.slice(0, 1), float(sep[i])


def exhaustive_task(query_features: np.ndarray, k: int, weights, first: int, items: list) -> dict:
    """Top-k of the queries among the entries of feature files ``items`` [(uri, rows, global ids)]."""
    from skysift.kb.patch_search import merge_best, scan_file

    parts = [scan_file(query_features, uri, np.asarray(rows), np.asarray(gids), k, weights)
             for uri, rows, gids in items]
    best = merge_best(parts, k)
    return {name: value.tolist() for name, value in best.items()}


def matched_images(entries: pa.Table, image_size_px: int, bands: str, mask: str = "none") -> dict[str, np.ndarray]:
    """{image_id: (S, S, 3) RGB in [0, 1]} of index entries (image_id, source_file), read back from their
    images tables for the contact sheets, as the encoder reads them (``mask``: its input_mask)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from skysift.images.network_input import id_column, network_input
    from skysift.runtime.filesystem import resolve

    out: dict[str, np.ndarray] = {}
    for source in dict.fromkeys(entries.column("source_file").to_pylist()):
        if source is None:
            continue
        want = [i for i, s in zip(entries.column("image_id").to_pylist(), entries.column("source_file").to_pylist())
                if s == source]
        fs, path = resolve(source)
        names = pq.read_schema(path, filesystem=fs).names
        idc = id_column(names)
        t = pq.read_table(path, filesystem=fs)
        key = pc.cast(t.column(idc), pa.string())
        t = t.filter(pc.is_in(key, value_set=pa.array(want, pa.string())))
        good, x, _ = network_input(t, image_size_px, bands, mask=mask)
        ids = [str(v) for v in t.column(idc).to_pylist()]
        for g, img in zip(good, x):
            out[ids[g]] = img.transpose(1, 2, 0)
    return out

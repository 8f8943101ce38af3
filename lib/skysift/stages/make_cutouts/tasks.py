"""Per-batch and per-field work of `skysift make-cutouts` (no Spark import: the driver wires these into
mapInPandas / applyInPandas, the sequential twin into pandas merges; both call the same functions).

1. ``catalog_rows`` / ``add_cells``: the catalog's (source_file, row_index, object_id, ra_deg, dec_deg) and
   the order-``join_order`` HEALPix cell of each position (-1 for an invalid position).
2. ``field_cells``: each field's footprint cells at that order, from its four corners (cdshealpix
   ``polygon_search``, united with the cells of a 5 x 5 grid of points over the frame as a guard).
3. ``candidate_positions``: each (row, field) pair that met on a cell, with the exact pixel position
   through the field's WCS, the containment margin and whether the field has every requested band; pairs
   whose position is not on the frame are dropped.
4. ``choose_fields``: per row the field that has every band and holds the cutout with the largest margin
   (ties: the smaller field id).
5. ``cut_field``: one field's sources, all cut in batched calls from the field's registered stack.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from skysift.runtime.errors import SkysiftError

CUTOUTS_DIR = "cutouts"
FIELDS_DIR = "fields"
MASKED = 8
"""Flag: pixels of other sources were replaced by the sky level (mask.enabled)."""
CANDIDATE_COLUMNS = ["source_file", "row_index", "object_id", "ra_deg", "dec_deg", "field_id", "x_px", "y_px",
                     "margin_px", "complete", "lacking"]
SECONDS_KEYS = ("read", "register", "cut", "levels", "mask", "write")


# --------------------------------------------------------------------------- catalog


def catalog_format(path: str, fmt: str) -> str:
    """The catalog's format: ``fmt`` unless 'auto', else from the name (folders are Parquet)."""
    if fmt != "auto":
        return fmt
    name = os.path.basename(str(path).rstrip("/")).lower()
    for suffixes, kind in (((".fits", ".fit", ".fits.gz", ".fts"), "fits"), ((".vot", ".xml", ".votable"), "votable"),
                           ((".csv", ".csv.gz"), "csv")):
        if name.endswith(suffixes):
            return kind
    return "parquet"


def resolve_column(columns: list[str], wanted: str, what: str, path: str) -> str:
    """The catalog column named ``wanted`` (exact, else case-insensitive); SkysiftError naming the choices."""
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    if wanted.lower() in lower:
        return lower[wanted.lower()]
    shown = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
    raise SkysiftError(f"catalog {path}: no {what} column {wanted!r} (columns: {shown}); set --set {what}_column=NAME")


def catalog_rows(df: pd.DataFrame, source_file: str, id_col: str | None, ra_col: str, dec_col: str,
                 row_index: np.ndarray | None = None) -> pd.DataFrame:
    """The five columns the job needs from a catalog frame (object_id as text; the row number when no id column)."""
    n = len(df)
    rows = np.arange(n, dtype=np.int64) if row_index is None else np.asarray(row_index, dtype=np.int64)
    ids = df[id_col].astype(str).str.strip().to_numpy(dtype=object) if id_col else rows.astype(str).astype(object)
    return pd.DataFrame({
        "source_file": pd.Series([source_file] * n, dtype=object),
        "row_index": rows,
        "object_id": pd.Series(ids, dtype=object),
        "ra_deg": pd.to_numeric(df[ra_col], errors="coerce").to_numpy(dtype=np.float64),
        "dec_deg": pd.to_numeric(df[dec_col], errors="coerce").to_numpy(dtype=np.float64),
    })


def add_cells(pdf: pd.DataFrame, order: int) -> pd.DataFrame:
    """``pdf`` with ``cell``: the nested HEALPix cell at ``order`` of (ra_deg, dec_deg), -1 where the position is invalid."""
    from skysift.sky.healpix import healpix_index, valid_position

    ok = valid_position(pdf["ra_deg"].to_numpy(), pdf["dec_deg"].to_numpy())
    cell = np.full(len(pdf), -1, dtype=np.int64)
    if ok.any():
        cell[ok] = healpix_index(pdf["ra_deg"].to_numpy()[ok], pdf["dec_deg"].to_numpy()[ok], order)
    return pdf.assign(cell=cell)


def read_catalog_pandas(cfg, fmt: str) -> pd.DataFrame:
    """The catalog's rows (source_file, row_index, object_id, ra_deg, dec_deg) read in this process."""
    import pyarrow.parquet as pq

    from skysift.io.catalog_readers import read_catalog
    from skysift.runtime.output import table_files

    path = cfg.catalog if "://" in cfg.catalog else os.path.abspath(cfg.catalog)
    if fmt != "parquet":
        try:
            df = read_catalog(path, fmt)
        except FileNotFoundError:
            raise SkysiftError(f"catalog {cfg.catalog!r} does not exist") from None
        return catalog_rows(df, path, *catalog_columns(list(df.columns), cfg))
    files = table_files(path) if os.path.isdir(path) else [path]
    if not files:
        raise SkysiftError(f"catalog {cfg.catalog!r}: no Parquet files there")
    parts = []
    for f in files:
        schema_names = pq.read_schema(f).names
        cols = catalog_columns(schema_names, cfg)
        df = pq.read_table(f, columns=[c for c in cols if c]).to_pandas()
        parts.append(catalog_rows(df, f, *cols))
    return pd.concat(parts, ignore_index=True)


def catalog_columns(names: list[str], cfg) -> tuple[str | None, str, str]:
    """(id or None, ra, dec) column names of a catalog with columns ``names`` under ``cfg``."""
    id_col = resolve_column(names, cfg.id_column, "id", cfg.catalog) if cfg.id_column else None
    return id_col, resolve_column(names, cfg.ra_column, "ra", cfg.catalog), resolve_column(names, cfg.dec_column, "dec", cfg.catalog)


# --------------------------------------------------------------------------- fields


def field_cells(fields: pd.DataFrame, order: int) -> pd.DataFrame:
    """(field_id, cell) for every footprint cell of every field (columns field_id, wcs_header, height_px, width_px,
    corners_ra_deg, corners_dec_deg)."""
    import astropy.units as u
    import cdshealpix.nested as cds

    from skysift.io.frames import wcs_from_header
    from skysift.sky.healpix import healpix_index

    out_f, out_c = [], []
    for row in fields.itertuples(index=False):
        lon = np.asarray(row.corners_ra_deg, dtype=np.float64)
        lat = np.asarray(row.corners_dec_deg, dtype=np.float64)
        cells: set[int] = set()
        try:
            ipix, depth, _ = cds.polygon_search(lon * u.deg, lat * u.deg, order, flat=True)
            cells.update(int(c) for c in np.asarray(ipix))
        except (ValueError, IndexError):
            pass  # a degenerate polygon (a tiny image): the point grid below covers it
        # Guard: the cells of a 5 x 5 grid of points over the frame, corners included.
        ny, nx = int(row.height_px), int(row.width_px)
        gx, gy = np.meshgrid(np.linspace(-0.5, nx - 0.5, 5), np.linspace(-0.5, ny - 0.5, 5))
        ra, dec = wcs_from_header(row.wcs_header).all_pix2world(gx.ravel(), gy.ravel(), 0)
        cells.update(int(c) for c in healpix_index(np.mod(ra, 360.0), dec, order))
        out_f += [row.field_id] * len(cells)
        out_c += sorted(cells)
    return pd.DataFrame({"field_id": pd.Series(out_f, dtype=object), "cell": np.asarray(out_c, dtype=np.int64)})


@dataclass(eq=False)
class FieldInfo:
    """What a task needs of one fields-table row."""

    field_id: str
    wcs_header: str
    shape: tuple[int, int]
    bands: tuple[str, ...]
    source_files: tuple[str, ...]
    unused_bands: tuple[str, ...]
    unused_files: tuple[str, ...]
    tile_files: tuple[str, ...]
    reference_band: str
    sky_level: tuple[float, ...]
    sky_noise: tuple[float, ...]
    _wcs: Any = None

    @property
    def wcs(self):
        """The reference WCS (built once)."""
        if self._wcs is None:
            from skysift.io.frames import wcs_from_header

            self._wcs = wcs_from_header(self.wcs_header)
        return self._wcs

    @property
    def bands_available(self) -> set[str]:
        """Stacked bands and bands of unused (unstacked) frame files."""
        return set(self.bands) | set(self.unused_bands)

    def frame_file(self, band: str) -> str | None:
        """The frame file of ``band`` (stacked or unused), None when the field has none."""
        if band in self.bands:
            return self.source_files[self.bands.index(band)]
        if band in self.unused_bands:
            return self.unused_files[self.unused_bands.index(band)]
        return None


FIELD_INFO_COLUMNS = ["field_id", "wcs_header", "height_px", "width_px", "bands", "source_files", "unused_bands",
                      "unused_files", "tile_files", "reference_band", "sky_level", "sky_noise"]


def load_fields(input_uri: str, version: str = "") -> dict[str, FieldInfo]:
    """{field_id: FieldInfo} of the ingest-frames output at ``input_uri`` (read once per executor worker and
    ``version``, the output's manifest time: a rewritten input is read again)."""
    from skysift.runtime.cache import cached
    from skysift.runtime.output import read_table

    def load() -> dict[str, FieldInfo]:
        table = read_table(input_uri, columns=FIELD_INFO_COLUMNS, under=FIELDS_DIR).to_pylist()
        return {r["field_id"]: FieldInfo(r["field_id"], r["wcs_header"], (int(r["height_px"]), int(r["width_px"])),
                                         tuple(r["bands"]), tuple(r["source_files"]), tuple(r["unused_bands"]),
                                         tuple(r["unused_files"]), tuple(r["tile_files"]), r["reference_band"],
                                         tuple(r["sky_level"]), tuple(r["sky_noise"])) for r in table}

    return cached(("make-cutouts-fields", input_uri, version), "fields", load)


NO_FIELD_MARGIN = np.iinfo(np.int32).min
"""margin_px of a placeholder row (no frame holds the position): ranks after every real candidate."""


def candidate_positions(pdf: pd.DataFrame, fields: dict[str, FieldInfo], bands: tuple[str, ...], size_px: int) -> pd.DataFrame:
    """The (row, field) pairs whose position lies on the field's frame, with x_px, y_px, margin_px, complete and lacking.

    ``pdf``: catalog rows with ``cell`` and ``field_id`` (null where no field's footprint has the row's cell).
    A row of ``pdf`` with no pair on a frame (in this batch) gets one placeholder (field_id null, complete False,
    ``lacking`` the reject reason), so the per-row choice sees every row and no anti-join is needed; a row whose
    pairs straddle two batches may also get a placeholder, which ranks last.
    """
    from skysift.images.cutouts import cutout_origins

    parts = []
    has_field = pdf["field_id"].notna()
    for field_id, group in pdf[has_field].groupby("field_id", sort=True):
        info = fields[field_id]
        x, y = info.wcs.all_world2pix(group["ra_deg"].to_numpy(), group["dec_deg"].to_numpy(), 0)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        ny, nx = info.shape
        with np.errstate(invalid="ignore"):
            on = np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
        if not on.any():
            continue
        x0, y0 = cutout_origins(x[on], y[on], size_px)
        margin = np.minimum.reduce([x0, y0, nx - (x0 + size_px), ny - (y0 + size_px)]).astype(np.int32)
        complete = set(bands) <= info.bands_available
        parts.append(group.loc[on, ["source_file", "row_index", "object_id", "ra_deg", "dec_deg", "field_id"]]
                     .assign(x_px=x[on], y_px=y[on], margin_px=margin, complete=complete,
                             lacking=None if complete else lacking_reason(field_id, info, bands)))
    found = pd.concat(parts, ignore_index=True) if parts else empty_candidates()
    key = ["source_file", "row_index"]
    rows = pdf.drop_duplicates(key)
    if len(found):
        seen = pd.MultiIndex.from_frame(found[key])
        rows = rows[~pd.MultiIndex.from_frame(rows[key]).isin(seen)]
    if len(rows):
        holders = rows[key + ["object_id", "ra_deg", "dec_deg"]].assign(
            field_id=None, x_px=np.nan, y_px=np.nan, margin_px=np.int32(NO_FIELD_MARGIN), complete=False,
            lacking=np.where(rows["cell"].to_numpy() < 0, INVALID_REASON, OUTSIDE_REASON))
        found = pd.concat([found, holders], ignore_index=True) if len(found) else holders
    out = found[CANDIDATE_COLUMNS].reset_index(drop=True)
    return out.astype({"margin_px": np.int32, "row_index": np.int64, "complete": bool})


def empty_candidates() -> pd.DataFrame:
    """An empty frame with the candidate columns and types."""
    return pd.DataFrame({"source_file": pd.Series([], dtype=object), "row_index": pd.Series([], dtype=np.int64),
                         "object_id": pd.Series([], dtype=object), "ra_deg": pd.Series([], dtype=np.float64),
                         "dec_deg": pd.Series([], dtype=np.float64), "field_id": pd.Series([], dtype=object),
                         "x_px": pd.Series([], dtype=np.float64), "y_px": pd.Series([], dtype=np.float64),
                         "margin_px": pd.Series([], dtype=np.int32), "complete": pd.Series([], dtype=bool),
                         "lacking": pd.Series([], dtype=object)})


def choose_fields(cands: pd.DataFrame) -> pd.DataFrame:
    """One row per catalog row: the complete field with the largest margin (ties: smaller field_id), plus n_fields
    (frames holding the position). Rows with ``complete`` False are the rejects (reason in ``lacking``)."""
    if cands.empty:
        return cands.assign(n_fields=pd.Series([], dtype=np.int32))
    key = ["source_file", "row_index"]
    n_fields = cands.groupby(key, sort=False)["field_id"].transform("count").astype(np.int32)
    ranked = cands.assign(n_fields=n_fields, _neg_margin=-cands["margin_px"].astype(np.int64),
                          _incomplete=~cands["complete"], _fid=cands["field_id"].fillna(""))
    ranked = ranked.sort_values([*key, "_incomplete", "_neg_margin", "_fid"], kind="mergesort")
    best = ranked.drop_duplicates(key, keep="first").drop(columns=["_neg_margin", "_incomplete", "_fid"])
    return best.reset_index(drop=True)


def lacking_reason(field_id: str, info: FieldInfo, bands: tuple[str, ...]) -> str:
    """Why a row whose best field lacks a band is rejected."""
    lacking = [b for b in bands if b not in info.bands_available]
    return (f"field {field_id}, the only one holding it with frames, lacks band(s) {', '.join(lacking)} "
            f"(has {', '.join(sorted(info.bands_available))}; requested {', '.join(bands)})")


OUTSIDE_REASON = "position on no ingested frame (outside every field of the input)"
INVALID_REASON = "invalid position (ra must be in [0, 360], dec in [-90, 90], both finite)"


# --------------------------------------------------------------------------- cutting


@dataclass(frozen=True)
class CutSettings:
    """What ``cut_field`` needs besides the job config: where the ingest output is and how it registered bands."""

    input: str
    """The ingest-frames output."""
    version: str = ""
    """Its manifest's modification time (key of the executors' fields cache)."""
    registration_order: str = "bilinear"
    """Registration order ingest used (for bands read from frames, so they equal the tiles' pixels)."""
    registration_step_px: int = 64
    """Registration node spacing ingest used."""


def part_name(field_id: str) -> str:
    """Deterministic, file-name-safe name of a field's cutout files (retries overwrite)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", field_id)[:80]
    digest = hashlib.sha1(field_id.encode()).hexdigest()[:8]
    return f"part-{safe}-{digest}.parquet"


def _read_frame_image(path: str):
    from skysift.io.frame_files import read_file_bytes
    from skysift.io.frames import read_frame

    frame = read_frame(path, data=read_file_bytes(path))
    if not hasattr(frame, "image"):
        raise SkysiftError(f"{frame.reason} (it was read by ingest-frames; has the file changed since?)")
    return frame


def field_stack(info: FieldInfo, bands: tuple[str, ...], cfg, settings: CutSettings, seconds: dict) -> np.ndarray:
    """The field's (bands, rows, columns) float32 stack on its reference grid, in ``bands`` order.

    read_from 'tiles': the field's tiles pasted back (bands the tiles lack are read from their frames and
    registered); 'frames': every band from its frame file, registered as ingest did.
    """
    from skysift.images.registration import register_image
    from skysift.images.tables import column_stack, paste_tiles
    from skysift.runtime.filesystem import join, resolve

    t0 = time.perf_counter()
    ny, nx = info.shape
    stack = np.empty((len(bands), ny, nx), dtype=np.float32)
    todo = list(bands)
    if cfg.read_from == "tiles" and set(bands) & set(info.bands):
        import pyarrow.dataset as pads

        fs, _ = resolve(settings.input)
        paths = [resolve(join(settings.input, f))[1] for f in info.tile_files]
        tiles = pads.dataset(paths, filesystem=fs, format="parquet").to_table(
            columns=["x0", "y0", "size_px", "pixels"], filter=pads.field("field_id") == info.field_id)
        size = int(tiles.column("size_px")[0].as_py())
        pix = column_stack(tiles.column("pixels"), (len(info.bands), size, size))
        pasted = paste_tiles(pix, tiles.column("x0").to_numpy(), tiles.column("y0").to_numpy(), info.shape)
        for k, band in enumerate(bands):
            if band in info.bands:
                stack[k] = pasted[info.bands.index(band)]
                todo.remove(band)
    seconds["read"] += time.perf_counter() - t0
    for band in todo:
        t1 = time.perf_counter()
        frame = _read_frame_image(info.frame_file(band))
        t2 = time.perf_counter()
        seconds["read"] += t2 - t1
        k = bands.index(band)
        if band == info.reference_band:
            stack[k] = frame.image  # the reference grid itself, as register_stack copies it
        else:
            stack[k] = register_image(frame.image, frame.wcs_header, info.wcs, info.shape,
                                      order=settings.registration_order, step_px=settings.registration_step_px)
        seconds["register"] += time.perf_counter() - t2
    return stack


def _segmentation(stack: np.ndarray, bands: tuple[str, ...], info: FieldInfo, mask_cfg) -> tuple[np.ndarray, np.ndarray]:
    """(segment labels as float32 (1, rows, columns), per-band sky level) for masking other sources."""
    from photutils.segmentation import detect_sources

    from skysift.images.background import sky_stats

    det = bands.index(info.reference_band) if info.reference_band in bands else 0
    levels = np.array([sky_stats(stack[k], box_px=128).level for k in range(len(bands))], dtype=np.float32)
    st = sky_stats(stack[det], box_px=128)
    image = np.nan_to_num(stack[det] - np.float32(st.level), nan=0.0)
    segm = detect_sources(image, mask_cfg.threshold_sigma * st.noise, mask_cfg.npixels)  # positional: photutils 3 renamed it n_pixels
    labels = np.zeros(image.shape, dtype=np.float32) if segm is None else segm.data.astype(np.float32)
    return labels[None], np.nan_to_num(levels, nan=0.0)


def cut_field(staging: str, cfg, settings: CutSettings, pdf: pd.DataFrame) -> dict[str, Any]:
    """Cut every source of one field (``pdf``: the chosen rows of one field_id) and write them; one stats row."""
    from skysift.images.cutouts import EDGE, NONFINITE, OUTSIDE, cutouts_at_pixels, downsample_levels
    from skysift.images.tables import nested_stack_column, stack_column
    from skysift.runtime.filesystem import join
    from skysift.runtime.output import PartitionedParquetWriter
    from skysift.schema import CUTOUTS
    from skysift.sky.healpix import degrade, healpix29

    started = time.perf_counter()
    field_id = str(pdf["field_id"].iloc[0])
    info = load_fields(settings.input, settings.version)[field_id]
    bands = tuple(cfg.bands)
    seconds = dict.fromkeys(SECONDS_KEYS, 0.0)
    stack = field_stack(info, bands, cfg, settings, seconds)
    labels = levels_sky = None
    if cfg.mask.enabled:
        t = time.perf_counter()
        labels, levels_sky = _segmentation(stack, bands, info, cfg.mask)
        seconds["mask"] += time.perf_counter() - t
    pdf = pdf.sort_values(["source_file", "row_index"], kind="mergesort").reset_index(drop=True)
    writer = PartitionedParquetWriter(join(staging, CUTOUTS_DIR), "healpix_part", part_name(field_id), CUTOUTS)
    size = cfg.size_px
    flag_counts = {"edge": 0, "nonfinite": 0, "masked": 0}
    try:
        for start in range(0, len(pdf), cfg.batch_sources):
            part = pdf.iloc[start : start + cfg.batch_sources]
            t = time.perf_counter()
            x = part["x_px"].to_numpy(dtype=np.float64)
            y = part["y_px"].to_numpy(dtype=np.float64)
            batch = cutouts_at_pixels(stack, x, y, size_px=size, fill_value=cfg.fill_value)
            pixels, flags = batch.pixels, batch.flags.copy()
            seconds["cut"] += time.perf_counter() - t
            if labels is not None:
                t = time.perf_counter()
                seg = cutouts_at_pixels(labels, x, y, size_px=size, fill_value=0.0).pixels[:, 0]
                centre = seg[:, size // 2, size // 2]
                other = (seg != 0) & (seg != centre[:, None, None])
                if other.any():
                    pixels = np.where(other[:, None], levels_sky[None, :, None, None], pixels).astype(np.float32)
                    flags[other.any(axis=(1, 2))] |= MASKED
                seconds["mask"] += time.perf_counter() - t
            t = time.perf_counter()
            levels = downsample_levels(pixels, cfg.levels_px) if cfg.levels_px else {}
            seconds["levels"] += time.perf_counter() - t
            t = time.perf_counter()
            n = len(part)
            ra, dec = part["ra_deg"].to_numpy(), part["dec_deg"].to_numpy()
            h29 = healpix29(ra, dec)
            table = pa.table({
                "object_id": pa.array(part["object_id"].astype(str).tolist(), pa.string()),
                "row_index": pa.array(part["row_index"].to_numpy(dtype=np.int64)),
                "ra_deg": pa.array(ra, pa.float64()),
                "dec_deg": pa.array(dec, pa.float64()),
                "healpix29": pa.array(h29, pa.int64()),
                "size_px": pa.array(np.full(n, size, np.int32)),
                "bands": pa.array([list(bands)] * n, pa.list_(pa.string())),
                "pixels": stack_column(pixels),
                "levels_px": pa.array([list(cfg.levels_px)] * n, pa.list_(pa.int32())),
                "level_pixels": (nested_stack_column([levels[k] for k in cfg.levels_px]) if cfg.levels_px
                                 else pa.array([[]] * n, pa.list_(pa.list_(pa.float32())))),
                "flags": pa.array(flags.astype(np.int32)),
                "field_id": pa.array([field_id] * n, pa.string()),
                "x_px": pa.array(x), "y_px": pa.array(y),
                "x0": pa.array(batch.x0.astype(np.int32)), "y0": pa.array(batch.y0.astype(np.int32)),
                "margin_px": pa.array(part["margin_px"].to_numpy(dtype=np.int32)),
                "n_fields": pa.array(part["n_fields"].to_numpy(dtype=np.int32)),
                "healpix_part": pa.array(degrade(h29, 29, cfg.partition_order).astype(np.int32)),
            }, schema=CUTOUTS)
            writer.write(table)
            seconds["write"] += time.perf_counter() - t
            flag_counts["edge"] += int(((flags & EDGE) != 0).sum())
            flag_counts["nonfinite"] += int(((flags & NONFINITE) != 0).sum())
            flag_counts["masked"] += int(((flags & MASKED) != 0).sum())
            assert not (flags & OUTSIDE).any(), "a chosen position is off its frame"  # candidate_positions kept on-frame pairs
        written = writer.close()
    except BaseException:
        writer.abort()
        raise
    return {"field_id": field_id, "written": int(written), **{f"flag_{k}": v for k, v in flag_counts.items()},
            "seconds": time.perf_counter() - started, **{f"{k}_s": v for k, v in seconds.items()}}


STATS_COLUMNS = ["field_id", "written", "flag_edge", "flag_nonfinite", "flag_masked", "seconds",
                 *[f"{k}_s" for k in SECONDS_KEYS]]

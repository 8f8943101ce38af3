"""Per-task work of `skysift ingest-frames`: read a field's band frames, register them, measure the sky, cut tiles
and write the field's rows (no Spark here: ``runtime.tasks`` runs ``ingest_fields_task`` on executors or in turn).

Per field: ``read_frame`` on each band's bytes (``io.frame_files.read_file_bytes``: any URI), then
``register_frames`` onto the reference band, ``sky_stats`` on each band's own frame (before
resampling, which smooths the noise: bilinear interpolation at a (0.5, 0.5) px offset averages four
pixels and halves a white noise's sd), ``tile_grid`` / ``cut_tiles`` / ``tile_wcs_header`` for the tiles, and the
optional Lupton RGB PNG. A field missing a required band, or whose required frame is bad, is rejected
whole: the bad frame with its own reason, every other frame of the field naming the band.
"""
from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pyarrow as pa

from skysift.io.frame_files import FieldFiles, read_file_bytes
from skysift.io.frames import Frame, read_frame
from skysift.runtime.filesystem import join
from skysift.runtime.output import PartitionedParquetWriter, write_parquet_atomic
from skysift.runtime.rejects import Reject, write_rejects
from skysift.schema import FIELDS, TILES
from skysift.stages.ingest_frames.config import IngestFramesConfig

FIELDS_DIR = "fields"
TILES_DIR = "tiles"
SECONDS_KEYS = ("decompress", "parse", "register", "sky", "tiles", "rgb", "write")
"""Order of the ``fields.seconds`` list."""


def _reject(path: str, stage: str, reason: str) -> Reject:
    return Reject(source_file=path, stage=stage, reason=f"{path}: {reason}")


def field_rejects(ff: FieldFiles, lacking: dict[str, str], required: tuple[str, ...], already: set[str]) -> list[Reject]:
    """Rejects (stage 'group') for every frame of a field rejected whole, except those in ``already``.

    ``lacking``: band -> why it is unusable ('no frame in the input', or the bad frame's reason).
    """
    why = "; ".join(f"{b}: {r}" for b, r in lacking.items())
    reason = (f"field {ff.field_id} rejected: lacks usable required band(s) {', '.join(lacking)} "
              f"(required {', '.join(required)}; {why})")
    return [_reject(p, "group", reason) for p in ff.all_paths() if p not in already]


def _read(path: str) -> Frame | Reject:
    try:
        data = read_file_bytes(path)
    except OSError as exc:
        return _reject(path, "read", f"cannot open ({type(exc).__name__}: {str(exc)[:160]})")
    return read_frame(path, data=data)


def _short(reason: str, path: str) -> str:
    """A frame reject's reason without its leading path (for the field-level message)."""
    prefix = f"{path}: "
    text = reason[len(prefix):] if reason.startswith(prefix) else reason
    return text if len(text) <= 120 else text[:117] + "..."


def read_field(ff: FieldFiles, cfg: IngestFramesConfig) -> tuple[dict[str, Frame], list[Reject], list[tuple[str, str]], dict[str, float]]:
    """Read the field's frames: ({band: Frame} usable, rejects, (band, path) read but not stacked, seconds).

    Files of unknown band take their band from the header; one whose band is not stacked is read and
    listed as unused, a second file of a band already present is rejected as a duplicate. Reading stops at
    the first unusable required band (the caller rejects the whole field).
    """
    wanted = (*cfg.bands, *cfg.optional_bands)
    frames: dict[str, Frame] = {}
    rejects: list[Reject] = []
    unused: list[tuple[str, str]] = []
    seconds = {"decompress": 0.0, "parse": 0.0}
    # Files of unknown band first (they may hold a required band), then the required bands in order, then the
    # optional ones; once a required band is unusable the field is lost, so the rest is not decompressed.
    order = {b: i for i, b in enumerate(wanted)}
    items = [(None, p) for p in ff.unknown_band] + sorted(ff.files.items(), key=lambda bp: order.get(bp[0], len(order)))
    for band, path in items:
        fr = _read(path)
        if isinstance(fr, Reject):
            rejects.append(fr)
            if band in cfg.bands:
                break
            continue
        s = fr.extra.get("seconds", {})
        seconds["decompress"] += s.get("decompress", 0.0)
        seconds["parse"] += s.get("parse", 0.0) + s.get("wcs", 0.0)
        if band is None:
            band = fr.band
            if band is None:
                rejects.append(_reject(path, "validate", "no band in the file name or header (FILTER / BAND); cannot place it in a field"))
                continue
            if band not in wanted:
                unused.append((band, path))
                continue
        elif not ff.sdss and fr.band is not None and fr.band in wanted and fr.band != band:
            rejects.append(_reject(path, "validate", f"file name says band {band!r} but the header says {fr.band!r}"))
            continue
        if band in frames:
            rejects.append(_reject(path, "group", f"duplicate {band} frame for field {ff.field_id} (kept {frames[band].source_file})"))
            continue
        frames[band] = fr
    return frames, rejects, unused, seconds


def missing_required(ff: FieldFiles, frames: dict[str, Frame], bad: list[Reject], required: tuple[str, ...]) -> dict[str, str]:
    """band -> why, for each required band without a usable frame (its frame's reject reason, or none in the input);
    bands left unread after an earlier failure are not listed."""
    bad_by_path = {r.source_file: r for r in bad}
    lacking: dict[str, str] = {}
    for band in required:
        if band in frames:
            continue
        path = ff.files.get(band)
        if path is None:
            lacking[band] = "no frame in the input"
        elif path in bad_by_path:
            lacking[band] = _short(bad_by_path[path].reason, path)
        # else: not read, because an earlier required band already lost the field
    return lacking


def _corners(wcs, shape: tuple[int, int]) -> tuple[list[float], list[float]]:
    ny, nx = shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = wcs.all_pix2world(x, y, 0)
    return [float(v) for v in np.mod(ra, 360.0)], [float(v) for v in dec]


def _png(rgb: np.ndarray, level: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="png", compress_level=level)
    return buf.getvalue()


def process_field(ff: FieldFiles, frames: dict[str, Frame], cfg: IngestFramesConfig, part_name: str) -> tuple[dict | None, pa.Table | None, list[Reject], dict[str, float]]:
    """Register, measure and tile one field whose required frames are all usable.

    Returns (fields row, tiles table, rejects, seconds); the row is None when the field is rejected at
    registration (a required band covering too little of the reference frame).
    """
    from skysift.images.background import sky_stats
    from skysift.images.registration import register_frames
    from skysift.images.tables import stack_column
    from skysift.images.tiling import cut_tiles, tile_centres_world, tile_grid, tile_wcs_header
    from skysift.sky.healpix import degrade, healpix29

    seconds: dict[str, float] = {}
    rejects: list[Reject] = []
    t0 = time.perf_counter()
    bands = tuple(b for b in (*cfg.bands, *cfg.optional_bands) if b in frames)
    stack = register_frames({b: frames[b] for b in bands}, reference=cfg.reference_band, bands=bands,
                            order=cfg.registration_order, step_px=cfg.registration_step_px)
    low = {b: c for b, c in stack.coverage.items() if c < cfg.min_band_coverage}
    if low:
        for b, c in low.items():
            rejects.append(_reject(frames[b].source_file, "register",
                                   f"band {b} covers {c:.1%} of the {cfg.reference_band} frame of field {ff.field_id} "
                                   f"(min_band_coverage {cfg.min_band_coverage:.0%}): not the same field?"))
        if any(b in cfg.bands for b in low):
            lacking = {b: f"covers {low[b]:.1%} of the reference frame" for b in low if b in cfg.bands}
            done = {r.source_file for r in rejects}
            rejects += field_rejects(ff, lacking, cfg.bands, done)
            return None, None, rejects, seconds
        keep = [i for i, b in enumerate(bands) if b not in low]
        bands = tuple(bands[i] for i in keep)
        pixels = stack.pixels[keep]
    else:
        pixels = stack.pixels
    t1 = time.perf_counter()
    seconds["register"] = t1 - t0

    sky = [sky_stats(frames[b].image, box_px=cfg.sky_box_px) for b in bands]
    t2 = time.perf_counter()
    seconds["sky"] = t2 - t1

    ref = frames[cfg.reference_band]
    wcs = ref.wcs
    shape = ref.shape
    grid = tile_grid(shape, cfg.tiles)
    tiles = cut_tiles(pixels, grid)
    tile_list = grid.tiles
    centres = tile_centres_world(wcs, grid)
    h29 = healpix29(centres[:, 0], centres[:, 1])
    parts = degrade(h29, 29, cfg.partition_order).astype(np.int32)
    headers = [tile_wcs_header(stack.wcs_header, t) for t in tile_list]
    t3 = time.perf_counter()
    seconds["tiles"] = t3 - t2

    rgb: list[bytes | None] = [None] * len(tile_list)
    if cfg.rgb.enabled:
        from skysift.images.rgb import lupton_rgb_stack

        rgb = [_png(lupton_rgb_stack(tiles[k], bands, stretch=cfg.rgb.stretch, q=cfg.rgb.q), cfg.rgb.png_compress_level)
               for k in range(len(tile_list))]
    seconds["rgb"] = time.perf_counter() - t3

    n = len(tile_list)
    table = pa.table(
        {
            "tile_id": pa.array([f"{ff.field_id}-t{t.index:02d}" for t in tile_list]),
            "field_id": pa.array([ff.field_id] * n),
            "tile_index": pa.array([t.index for t in tile_list], pa.int32()),
            "x0": pa.array([t.x0 for t in tile_list], pa.int32()),
            "y0": pa.array([t.y0 for t in tile_list], pa.int32()),
            "size_px": pa.array([t.size_px for t in tile_list], pa.int32()),
            "bands": pa.array([list(bands)] * n, pa.list_(pa.string())),
            "pixels": stack_column(tiles),
            "wcs_header": pa.array(headers),
            "ra_deg": pa.array(centres[:, 0]),
            "dec_deg": pa.array(centres[:, 1]),
            "healpix29": pa.array(h29, pa.int64()),
            "rgb_png": pa.array(rgb, pa.binary()),
            "healpix_part": pa.array(parts, pa.int32()),
        },
        schema=TILES,
    )
    ny, nx = shape
    centre = wcs.all_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
    c_ra, c_dec = _corners(wcs, shape)
    row = {
        "field_id": ff.field_id,
        "run": ref.run,
        "camcol": ref.camcol,
        "field": ref.field,
        "bands": list(bands),
        "reference_band": cfg.reference_band,
        "wcs_header": stack.wcs_header,
        "height_px": int(ny),
        "width_px": int(nx),
        "pixel_scale_arcsec": float(ref.pixel_scale_arcsec),
        "unit": ref.unit,
        "sky_level": [float(s.level) for s in sky],
        "sky_noise": [float(s.noise) for s in sky],
        "band_coverage": [float(stack.coverage[b]) for b in bands],
        "source_files": [frames[b].source_file for b in bands],
        "ra_deg": float(np.mod(centre[0], 360.0)),
        "dec_deg": float(centre[1]),
        "healpix29": int(healpix29(np.array([centre[0]]), np.array([centre[1]]))[0]),
        "corners_ra_deg": c_ra,
        "corners_dec_deg": c_dec,
        "tile_size_px": int(grid.size_px),
        "tiles_x": int(grid.n_x),
        "tiles_y": int(grid.n_y),
        "tile_files": [f"{TILES_DIR}/healpix_part={int(p)}/{part_name}" for p in np.unique(parts)],
    }
    return row, table, rejects, seconds


def ingest_fields_task(staging: str, cfg: IngestFramesConfig, first_index: int, fields: list[FieldFiles]) -> dict[str, Any]:
    """One task: ingest ``fields`` into ``staging`` (fields/ and tiles/ files + rejects named by the first field index)."""
    started = time.perf_counter()
    name = f"part-{first_index:010d}.parquet"
    writer = PartitionedParquetWriter(join(staging, TILES_DIR), "healpix_part", name, TILES)
    rows: list[dict] = []
    rejects: list[Reject] = []
    totals = dict.fromkeys(SECONDS_KEYS, 0.0)
    counts = {"frames_written": 0, "frames_unused": 0, "fields_written": 0, "fields_rejected": 0}
    try:
        for ff in fields:
            frames, bad, unused_read, sec = read_field(ff, cfg)
            rejects += bad
            lacking = missing_required(ff, frames, bad, cfg.bands)
            if lacking:
                rejects += field_rejects(ff, lacking, cfg.bands, {r.source_file for r in bad})
                counts["fields_rejected"] += 1
                continue
            row, table, more, sec2 = process_field(ff, frames, cfg, name)
            sec.update(sec2)
            rejects += more
            if row is None:
                counts["fields_rejected"] += 1
                continue
            t = time.perf_counter()
            writer.write(table)
            sec["write"] = time.perf_counter() - t
            unused = sorted([*((b, p) for b, p in ff.unused.items()), *unused_read], key=lambda bp: bp[1])
            row["unused_files"] = [p for _, p in unused]
            row["unused_bands"] = [b for b, _ in unused]
            row["bands_present"] = sorted({*row["bands"], *row["unused_bands"]})
            row["seconds"] = [float(sec.get(k, 0.0)) for k in SECONDS_KEYS]
            rows.append(row)
            for k in SECONDS_KEYS:
                totals[k] += sec.get(k, 0.0)
            counts["frames_written"] += len(row["source_files"])
            counts["frames_unused"] += len(row["unused_files"])
            counts["fields_written"] += 1
        tiles_written = writer.close()
    except BaseException:
        writer.abort()
        raise
    if rows:
        write_parquet_atomic(join(staging, FIELDS_DIR, name), pa.Table.from_pylist(rows, schema=FIELDS))
    write_rejects(staging, rejects, name=name)
    return {"first_index": first_index, "fields": len(fields), **counts, "tiles_written": tiles_written,
            "frames_rejected": len(rejects), "seconds": time.perf_counter() - started,
            **{f"{k}_s": v for k, v in totals.items()}}

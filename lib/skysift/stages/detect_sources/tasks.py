"""Per-batch work of `skysift detect-sources` (no Spark import): the executor function over tiles, and the
sequential twin of every later step on pandas (the Spark plan in ``spark_plan.py`` calls the same kernels).

Steps (``job.py`` wires them):

1. ``detect_batches``: Arrow batches of tiles -> RAW_DETECTIONS (detector + classifier loaded once per worker,
   ``runtime.cache``; device from the task's resources) - ``detection.tile_pass``;
2. ``tile_outcomes``: the 'tile' rows -> tiles read / detected / rejected (+ their reject rows);
3. ``merge_local``: per field, NMS + 2-pixel rule (``detection.sources.merge_field``);
4. ``dedupe_local``: the 0.5 arcsec rule across frames (``xmatch.self_match.fof_best_frame``);
5. ``match_local``: the 2 arcsec nearest match to the catalog (``xmatch.frames.crossmatch_frames``, how=left);
6. ``output_columns``: the catalog's columns in order; ``split_matched``: catalog/ vs _unmatched.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from skysift.detection.inference import ModelRef
from skysift.runtime.errors import SkysiftError

STAGE = "detect-sources"
TILES_DIR = "tiles"
FIELDS_DIR = "fields"
RAW_DIR = "_work/raw"
CATALOG_DIR = "catalog"
HATS_DIR = "hats"
UNMATCHED_DIR = "_unmatched"
TILE_COLUMNS = ["tile_id", "field_id", "tile_index", "x0", "y0", "size_px", "bands", "pixels", "wcs_header"]
CAT_SUFFIX = "_cat"
CAT_RA, CAT_DEC = "_cat_ra", "_cat_dec"
"""Internal columns: the matched catalog row's position (for the per-frame WCS check), dropped before writing."""


# --------------------------------------------------------------------------- input


def locate_input(path: str) -> str:
    """The ingest-frames output folder holding tiles/ and fields/ (``path`` may be it or its tiles/ folder)."""
    from skysift.runtime.filesystem import exists, join, split

    root = path.rstrip("/")
    if not exists(join(root, TILES_DIR)) and os.path.basename(root) == TILES_DIR:
        root = split(root)[0]
    if not exists(join(root, TILES_DIR)) or not exists(join(root, FIELDS_DIR)):
        raise SkysiftError(f"input {path!r}: expected the output folder of `skysift ingest-frames` (tiles/ and fields/) "
                           "or its tiles/ folder")
    return root if "://" in root else os.path.abspath(root)


def frame_shapes(root: str) -> dict[str, tuple[int, int]]:
    """{field_id: (rows, columns)} of the fields table (small: one row per field)."""
    from skysift.runtime.output import read_table

    t = read_table(root, columns=["field_id", "height_px", "width_px"], under=FIELDS_DIR).to_pydict()
    return {f: (int(h), int(w)) for f, h, w in zip(t["field_id"], t["height_px"], t["width_px"])}


@dataclass(frozen=True)
class Models:
    """The two models the driver resolved (travels to executors; the models themselves never do)."""

    detector: ModelRef
    classifier: ModelRef


def load_models(models: Models, device: str, threads: int, config_dir: str) -> tuple[Any, Any]:
    """(YOLO, ClassifierBundle) on ``device``, loaded once per Python worker (runtime.cache, one group for both)."""
    from skysift.detection.inference import load_classifier, load_yolo
    from skysift.runtime.cache import cached

    def load():
        import torch

        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        return load_yolo(models.detector.local_path(), config_dir), load_classifier(models.classifier.local_path(), device)

    return cached(("detect-sources", models.detector.cache_key, models.classifier.cache_key), device, load)


def task_device(want: str) -> str:
    """'cpu', or the task's device (runtime.spark.task_device: its GPU, else CUDA, else CPU)."""
    if want == "cpu":
        return "cpu"
    from skysift.runtime.spark import task_device as device

    return device()


def detect_batches(shapes: Mapping[str, tuple[int, int]], models: Models, cfg, batches: Iterator[pa.RecordBatch]
                   ) -> Iterator[pa.RecordBatch]:
    """The executor function (mapInArrow): tiles -> RAW_DETECTIONS batches."""
    from skysift.detection.tile_pass import tile_pass
    from skysift.runtime.spark import task_cpus

    device = task_device(cfg.device)
    loaded = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if loaded is None:
            loaded = load_models(models, device, cfg.torch_threads or task_cpus() or 1, cfg.yolo_config_dir)
        yield from tile_pass(batch, shapes, loaded, cfg.detector, device, cfg.merge.edge_margin_px).to_batches()


def detect_row_groups(raw_uri: str, shapes: Mapping[str, tuple[int, int]], models: Models, cfg, first: int,
                      items: list) -> dict[str, Any]:
    """One ``runtime.tasks`` task of the tile pass: the tile row groups ``items`` (runtime.row_groups.RowGroup)
    read with pyarrow in this worker, ``detector.batch_tiles`` tiles per detector call, RAW_DETECTIONS written to
    ``raw_uri/part-<first>.parquet``; one stats dict. On Spark (reader=pyarrow) the tiles never enter the JVM."""
    from skysift.runtime.filesystem import join
    from skysift.runtime.output import write_parquet_atomic
    from skysift.runtime.row_groups import read_row_groups
    from skysift.schema import RAW_DETECTIONS

    batches = (batch for _, batch in read_row_groups(items, list(TILE_COLUMNS), cfg.detector.batch_tiles))
    rows = write_parquet_atomic(join(raw_uri, f"part-{first:010d}.parquet"), detect_batches(shapes, models, cfg, batches),
                                schema=RAW_DETECTIONS)
    return {"first": first, "tiles": sum(i.rows for i in items), "rows": rows}


def tile_items(root: str) -> list:
    """The tile table's row groups (runtime.row_groups.RowGroup): the work items of the tile pass."""
    from skysift.runtime.filesystem import join
    from skysift.runtime.output import table_files
    from skysift.runtime.row_groups import row_groups

    return row_groups(table_files(join(root, TILES_DIR)))


def raw_pass_local(raw_uri: str, root: str, shapes: Mapping[str, tuple[int, int]], models: Models, cfg,
                   threads: int | None = None, markers: str | None = None) -> list[dict[str, Any]]:
    """The sequential twin of the executor pass: the same tasks as on Spark (``detect_row_groups``), one after the
    other in this process; their stats rows. ``markers``: resume (``runtime.tasks.run_tasks``)."""
    import functools

    from skysift.runtime.tasks import run_tasks

    local_cfg = cfg if threads is None else _with_threads(cfg, threads)
    items, n_tasks = tile_tasks(root, cfg, 1)
    task = functools.partial(detect_row_groups, raw_uri, shapes, models, local_cfg)
    return run_tasks(task, items, n_tasks, markers=markers)


def tile_tasks(root: str, cfg, parallelism: int) -> tuple[list, int]:
    """The tile pass's work items (``tile_items``) and their task count (``tiles_per_task``, two per core)."""
    from skysift.runtime.row_groups import row_group_tasks

    items = tile_items(root)
    return items, row_group_tasks(items, cfg.tiles_per_task, parallelism)


def _with_threads(cfg, threads: int):
    from dataclasses import replace

    return replace(cfg, torch_threads=threads)


def tile_outcomes(tiles: pd.DataFrame, root: str) -> dict[str, Any]:
    """Counts and reject rows from the 'tile' rows (tile_id, field_id, n_detections, reason, seconds, device)."""
    from skysift.runtime.filesystem import join
    from skysift.runtime.rejects import Reject

    bad = tiles[tiles["reason"].notna()].sort_values("tile_id")
    rejects = [Reject(source_file=join(root, TILES_DIR), stage=STAGE, reason=r.reason, spec_id=r.tile_id)
               for r in bad.itertuples()]
    return {"read": int(len(tiles)), "written": int(len(tiles) - len(bad)), "rejected": int(len(bad)), "rejects": rejects,
            "detections": int(tiles["n_detections"].fillna(0).sum()),
            "devices": sorted(set(tiles["device"].dropna())), "executor_seconds": round(float(tiles["seconds"].sum()), 3)}


# --------------------------------------------------------------------------- the twin of the later steps


def merge_local(dets: pd.DataFrame, merge_cfg) -> pd.DataFrame:
    """Whole detections (row_kind 'det', not partial) -> merged per field (sources.merge_field)."""
    from skysift.detection.sources import MERGED_COLUMNS, merge_field

    parts = [merge_field(g, merge_cfg) for _, g in dets.groupby("field_id", sort=True)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else merge_field(dets.iloc[:0], merge_cfg)[MERGED_COLUMNS]


DEDUPE_ORDER = (("det_score", False), ("source_id", True))
"""Which member of a cross-frame group is kept: the highest score, then the smallest source_id (deterministic)."""


def dedupe_local(merged: pd.DataFrame, radius_arcsec: float) -> pd.DataFrame:
    """The 0.5 arcsec rule across frames, with n_merged."""
    from skysift.xmatch.self_match import fof_best_frame

    return fof_best_frame(merged, radius_arcsec, DEDUPE_ORDER)


def catalog_dataset(path: str):
    """A pyarrow dataset over the catalog's Parquet file(s), local or any runtime.filesystem URI (s3://, hdfs://)."""
    import pyarrow.dataset as pads

    from skysift.runtime.filesystem import resolve

    fs, p = resolve(path if "://" in path else os.path.abspath(path))
    return pads.dataset(p, filesystem=fs, format="parquet")


def read_catalog_local(cfg) -> pd.DataFrame:
    """The catalog's id, position and carried columns, valid positions only (the twin reads it in this process)."""
    from skysift.sky.healpix import valid_position

    cols = catalog_read_columns(cfg)
    df = catalog_dataset(cfg.catalog).to_table(columns=cols).to_pandas()
    ok = valid_position(df[cfg.catalog_ra_column].to_numpy(np.float64), df[cfg.catalog_dec_column].to_numpy(np.float64))
    return df[ok].reset_index(drop=True)


def catalog_read_columns(cfg) -> list[str]:
    """The catalog columns the match reads: id, ra, dec, then catalog_columns (no repeats)."""
    return list(dict.fromkeys([cfg.catalog_id_column, cfg.catalog_ra_column, cfg.catalog_dec_column, *cfg.catalog_columns]))


def catalog_spec(left_columns: list[str], right_columns: list[str], cfg):
    """The MatchSpec of the 2 arcsec nearest match (how=left: every source kept, unmatched with nulls)."""
    from skysift.sky.healpix import neighbour_order
    from skysift.xmatch.engine import match_spec

    return match_spec(left_columns, right_columns, neighbour_order(cfg.match_radius_arcsec), cfg.match_radius_arcsec,
                      mode="nearest", how="left", left_ra="ra_deg", left_dec="dec_deg", right_ra=cfg.catalog_ra_column,
                      right_dec=cfg.catalog_dec_column, right_suffix=CAT_SUFFIX, count_matches=False)


def match_local(sources: pd.DataFrame, catalog: pd.DataFrame, cfg) -> pd.DataFrame:
    """Sources with the nearest catalog row within match_radius_arcsec (suffixed columns, separation_arcsec)."""
    from skysift.xmatch.frames import crossmatch_frames

    spec = catalog_spec(list(sources.columns), list(catalog.columns), cfg)
    # nullable integers stay integers (float64 would round 64-bit SDSS objids)
    nullable = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.int16(): pd.Int16Dtype(), pa.int8(): pd.Int8Dtype()}
    return crossmatch_frames(sources, catalog, spec, types_mapper=nullable.get)


def rename_matched(pdf: pd.DataFrame, cfg) -> pd.DataFrame:
    """Matched frame -> objid, separation_arcsec, the catalog columns under their own names, _cat_ra/_cat_dec."""
    ren = {f"{c}{CAT_SUFFIX}": c for c in cfg.catalog_columns}
    ren.update({f"{cfg.catalog_id_column}{CAT_SUFFIX}": "objid", f"{cfg.catalog_ra_column}{CAT_SUFFIX}": CAT_RA,
                f"{cfg.catalog_dec_column}{CAT_SUFFIX}": CAT_DEC})
    out = pdf.rename(columns=ren)
    out["objid"] = out["objid"].astype("Int64")
    return out


def output_columns(cfg, with_catalog: bool) -> list[str]:
    """Column order of catalog/ and _unmatched: schema.SOURCES, then the carried catalog columns."""
    from skysift.schema import SOURCES

    return list(SOURCES.names) + (list(cfg.catalog_columns) if with_catalog else [])


def no_catalog_columns(pdf: pd.DataFrame) -> pd.DataFrame:
    """Sources without a catalog: healpix29, null objid and separation_arcsec."""
    from skysift.sky.healpix import healpix29

    h = healpix29(pdf["ra_deg"].to_numpy(np.float64), pdf["dec_deg"].to_numpy(np.float64)) if len(pdf) else np.zeros(0, np.int64)
    return pdf.assign(healpix29=h.astype(np.int64), objid=pd.array([None] * len(pdf), dtype="Int64"),
                      separation_arcsec=np.full(len(pdf), np.nan))


def to_arrow(pdf: pd.DataFrame, columns: list[str], catalog_schema: pa.Schema | None) -> pa.Table:
    """The output rows as Arrow with schema.SOURCES types (+ the catalog's own types for its columns)."""
    from skysift.schema import SOURCES

    fields = list(SOURCES) + ([catalog_schema.field(c) for c in columns[len(SOURCES):]] if catalog_schema is not None else [])
    schema = pa.schema(fields)
    arrays = []
    for f in schema:
        col = pdf[f.name].reset_index(drop=True) if f.name in pdf else pd.Series([None] * len(pdf), dtype=object)
        arrays.append(pa.Array.from_pandas(col, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def field_report(pdf: pd.DataFrame, wcs_cfg, with_catalog: bool) -> list[dict]:
    """Per field: sources, matched, median offset, flagged (the WCS check; without a catalog: sources only)."""
    from skysift.detection.sources import wcs_offsets

    if not with_catalog:
        return [{"field_id": f, "sources": int(n)} for f, n in pdf.groupby("field_id").size().items()]
    off = wcs_offsets(pdf["field_id"].to_numpy(), pdf["ra_deg"].to_numpy(np.float64), pdf["dec_deg"].to_numpy(np.float64),
                      pdf[CAT_RA].to_numpy(np.float64), pdf[CAT_DEC].to_numpy(np.float64))
    return flagged_rows(off, wcs_cfg)


def flagged_rows(offsets: pd.DataFrame, wcs_cfg) -> list[dict]:
    """wcs_offsets rows -> JSON-ready dicts with matched_fraction, flagged and why (sources.flag_fields)."""
    from skysift.detection.sources import flag_fields

    rows = []
    for r in flag_fields(offsets.reset_index(drop=True), wcs_cfg).to_dict("records"):
        row = {k: (None if isinstance(v, float) and not np.isfinite(v) else (round(float(v), 4) if isinstance(v, float) else v))
               for k, v in r.items()}
        row.update(sources=int(r["sources"]), matched=int(r["matched"]), flagged=bool(r["flagged"]))
        rows.append(row)
    return rows


def timer() -> float:
    """perf_counter (for the summary's step seconds)."""
    return time.perf_counter()

"""Small detection inputs for tests, benchmarks and notebooks: synthetic imaging fields written as an
ingest-frames output (fields/ + tiles/), with their photoObj and truth tables, without writing frame files.

``ingest-frames`` only takes SDSS-named frames of the full 1489 x 2048 size, so small synthetic fields are tiled
here with the same kernels (``images.registration.register_stack`` onto r, ``images.tiling``) and the same
schemas (``schema.FIELDS``, ``schema.TILES``); the demo runs the real job on full frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["SyntheticIngest", "synthetic_ingest", "field_tables"]


@dataclass
class SyntheticIngest:
    """What ``synthetic_ingest`` wrote."""

    root: Path
    """The ingest-like output folder (fields/, tiles/)."""
    photoobj: Path
    """photoObj-like Parquet of every field (SCHEMA PHOTOOBJ)."""
    truth: Path
    """Per-field truth Parquet (IMAGING_TRUTH with x_r, y_r, in_frame)."""
    field_ids: list[str]
    """Field ids in field-index order."""


def field_tables(fi, tile_cfg, field_id: str, part: str) -> tuple[dict, pa.Table, np.ndarray]:
    """(fields row, tiles table, registered g r i stack) of one rendered field (synth.imaging.frames.FieldImage)."""
    from skysift.detection.training_sets import registered_gri
    from skysift.images.tables import stack_column
    from skysift.images.tiling import cut_tiles, tile_centres_world, tile_grid, tile_wcs_header
    from skysift.schema import TILES
    from skysift.sky.healpix import degrade, healpix29

    bands = ("g", "r", "i")
    reg = registered_gri(fi.images[1:4], fi.wcs[1:4])
    shape = reg.pixels.shape[1:]
    grid = tile_grid(shape, tile_cfg)
    tiles = cut_tiles(reg.pixels, grid)
    centres = tile_centres_world(reg.wcs_header, grid)
    h29 = healpix29(centres[:, 0], centres[:, 1])
    n = len(grid)
    table = pa.table({
        "tile_id": [f"{field_id}-t{t.index:02d}" for t in grid.tiles], "field_id": [field_id] * n,
        "tile_index": pa.array([t.index for t in grid.tiles], pa.int32()),
        "x0": pa.array([t.x0 for t in grid.tiles], pa.int32()), "y0": pa.array([t.y0 for t in grid.tiles], pa.int32()),
        "size_px": pa.array([grid.size_px] * n, pa.int32()), "bands": [list(bands)] * n, "pixels": stack_column(tiles),
        "wcs_header": [tile_wcs_header(reg.wcs_header, t) for t in grid.tiles], "ra_deg": centres[:, 0],
        "dec_deg": centres[:, 1], "healpix29": pa.array(h29, pa.int64()), "rgb_png": pa.nulls(n, pa.binary()),
        "healpix_part": pa.array(degrade(h29, 29, 3).astype(np.int32), pa.int32()),
    }, schema=TILES)
    ny, nx = shape
    row = {"field_id": field_id, "run": int(fi.fid.run), "camcol": int(fi.fid.camcol), "field": int(fi.fid.field),
           "bands": list(bands), "reference_band": "r", "wcs_header": reg.wcs_header, "height_px": int(ny),
           "width_px": int(nx), "pixel_scale_arcsec": 0.396, "unit": "nanomaggy", "tile_size_px": int(grid.size_px),
           "tiles_x": grid.n_x, "tiles_y": grid.n_y, "tile_files": [f"tiles/healpix_part={p}/{part}" for p in
                                                                   sorted(set(table.column("healpix_part").to_pylist()))]}
    return row, table, reg.pixels


def synthetic_ingest(out: str | Path, seed: int = 3, n_fields: int = 2, shape_px: tuple[int, int] = (400, 640),
                     tile_size_px: int = 320, min_overlap_px: int = 32, qso_density_per_deg2: float | None = None,
                     first_field: int = 0, field_step: int = 1) -> SyntheticIngest:
    """Render fields ``first_field``, ``first_field + field_step``, ... (``n_fields`` of them) of a one-camcol survey of
    ``shape_px`` frames and write them as an ingest output. Consecutive fields overlap by 1489 - 1361 rows scaled to
    the frame; ``field_step`` 2 gives frames that do not overlap (held-out evaluation frames)."""
    from skysift.images.tiling import TileGridConfig
    from skysift.runtime.output import PartitionedParquetWriter
    from skysift.schema import FIELDS, TILES
    from skysift.synth.imaging import catalogs, frames
    from skysift.synth.imaging.config import ImagingSurveyConfig, PopulationConfig

    out = Path(out)
    step = max(1, int(round(shape_px[0] * 1361 / 1489)))
    pop = PopulationConfig() if qso_density_per_deg2 is None else PopulationConfig(qso_density_per_deg2=qso_density_per_deg2)
    indices = [first_field + field_step * j for j in range(n_fields)]
    survey = ImagingSurveyConfig(shape_px=shape_px, n_fields=indices[-1] + 1, field_step_rows=step, population=pop)
    tile_cfg = TileGridConfig(size_px=tile_size_px, min_overlap_px=min_overlap_px)
    rows, photo, truth, ids = [], [], [], []
    for k in indices:
        fi = frames.render_field(seed, survey, k)
        cats = catalogs.field_catalogs(seed, survey, fi)
        field_id = f"{fi.fid.run}-{fi.fid.camcol}-{fi.fid.field}"
        part = f"part-{k:010d}.parquet"
        row, table, _ = field_tables(fi, tile_cfg, field_id, part)
        writer = PartitionedParquetWriter(out / "tiles", "healpix_part", part, TILES)
        writer.write(table)
        writer.close()
        rows.append(row)
        photo.append(cats["photoobj"])
        truth.append(cats["truth"].append_column("field_id", pa.array([field_id] * cats["truth"].num_rows)))
        ids.append(field_id)
    (out / "fields").mkdir(parents=True, exist_ok=True)
    full = [{f.name: r.get(f.name) for f in FIELDS} for r in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=FIELDS), out / "fields" / "part-0000000000.parquet")
    pq.write_table(pa.concat_tables(photo), out / "photoobj.parquet")
    pq.write_table(pa.concat_tables(truth), out / "truth.parquet")
    return SyntheticIngest(out, out / "photoobj.parquet", out / "truth.parquet", ids)


def truth_frame(path: str | Path) -> pd.DataFrame:
    """The per-field truth table written by ``synthetic_ingest``."""
    return pd.read_parquet(path)


@dataclass
class TinyModels:
    """Paths / URIs of the tiny detector and classifier ``tiny_models`` trained."""

    detector: str
    """train-detector output folder (a detector_uri detect-sources accepts)."""
    classifier: str
    """train-classifier output folder (a classifier_uri)."""
    tracking_uri: str | None
    """The MLflow store they were registered in (None when not registered)."""
    summaries: dict
    """The two jobs' summaries."""


def tiny_models(folder: str | Path, register: bool = False, detector_epochs: int = 1, classifier_epochs: int = 1,
                extra_detector: tuple[str, ...] = (), extra_classifier: tuple[str, ...] = ()) -> TinyModels:
    """Train a YOLOv8n detector and a Conv4Net on small synthetic fields (two 256 x 320 for the detector, one 400 x 640 for the classifier) in seconds (quality is not the
    point: plumbing tests). ``register``: into a SQLite MLflow store in ``folder`` (skysift-detector@champion,
    skysift-classifier@champion); the caller's MLFLOW_TRACKING_URI is restored afterwards."""
    import os

    from skysift.config import load_config
    from skysift.paths import conf_dir
    from skysift.stages.train_classifier import job as cls_job
    from skysift.stages.train_detector import job as det_job

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{(folder / 'mlflow.db').absolute()}" if register else None
    old = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        det = load_config(det_job.CONFIG, conf_dir() / "train_detector_tiny.yaml", [
            f"output={folder / 'detector'}", "source.n_fields=2", "source.val_fields=1", "source.rows=256", "source.cols=320",
            "tiles.size_px=160", "tiles.min_overlap_px=32", f"yolo.epochs={detector_epochs}", f"yolo.patience={detector_epochs}",
            "yolo.imgsz=160", "yolo.batch=8", f"mlflow.enabled={str(register).lower()}", *extra_detector])
        cls = load_config(cls_job.CONFIG, conf_dir() / "train_classifier_tiny.yaml", [
            f"output={folder / 'classifier'}", "source.n_fields=1", "source.rows=400", "source.cols=640", "per_class=6",
            f"train.epochs={classifier_epochs}", f"train.patience={classifier_epochs}",
            f"mlflow.enabled={str(register).lower()}", *extra_classifier])
        summaries = {"detector": det_job.run(None, det), "classifier": cls_job.run(None, cls)}
    finally:
        if uri:
            if old is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = old
    return TinyModels(str(folder / "detector"), str(folder / "classifier"), uri, summaries)

"""The executor pass of detect-sources over a batch of tiles (no Spark here): check, detect, crop, classify.

One Arrow batch of tiles (``schema.TILES`` columns) becomes ``schema.RAW_DETECTIONS`` rows:

1. each tile is checked (``tile_problem``): a known field, g r i among its bands, the pixel count of
   bands x size x size, a readable WCS, enough finite pixels; a bad tile yields one 'tile' row with its reason;
2. the good tiles become Lupton RGB images (``images.rgb``, the stretch the detector was trained on) and go
   through YOLOv8 in ONE call (``inference.yolo_boxes``: one forward pass per ``batch_tiles``);
3. boxes move to frame pixels (``merge.to_frame_pixels``); a box cut by a tile edge inside the frame is
   marked ``partial`` (``merge.inner_edge_mask``), its whole twin lies in the neighbouring tile;
4. every box's square crop (side = the larger box side, the detector's stand-in for the magnitude box the
   classifier was trained on) is resampled to 48 x 48 from the tile's g r i pixels (``crops.cut_crops``) and
   all crops of the batch are classified in batched Conv4Net calls (``inference.classify_crops``);
5. box centres go to ra/dec through the tile's WCS (the reference r-band WCS shifted to the tile).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from skysift.config import require

__all__ = ["TilePassConfig", "tile_problem", "tile_pass", "empty_raw"]

DETECTION_BANDS = ("g", "r", "i")
"""The bands the detector (RGB = i, r, g) and the classifier (g, r, i crops) read."""


@dataclass(frozen=True)
class TilePassConfig:
    """Inference settings of the tile pass."""

    conf: float = 0.25
    """Smallest YOLO confidence kept (not stated in the paper: the ultralytics predict default 0.25)."""
    iou: float = 0.7
    """YOLO's own NMS IoU inside one tile (ultralytics predict default 0.7; the tile-overlap merge has its own)."""
    imgsz: int = 0
    """Inference image side; 0 = the tile side, so that sources keep the pixel scale the detector was trained at
    (a 320 px training tile at imgsz 320 is native scale; shrinking 640 px tiles to 320 would halve every source)."""
    max_det: int = 3000
    """Most boxes per tile (a 640 px tile of a dense field holds ~1,000 sources; ultralytics default 300 is too few)."""
    batch_tiles: int = 16
    """Tiles per detector forward pass (and per Arrow batch of the executor pass); skysift choice: 16 tiles of
    3 x 640 x 640 float32 are 79 MB of Arrow input, and on CPU larger batches gained nothing (BENCHMARKS.md)."""
    classifier_batch: int = 1024
    """Crops per Conv4Net forward pass."""
    min_finite_fraction: float = 0.5
    """A tile whose r band has fewer finite pixels than this share is rejected (skysift choice)."""
    crop_min_px: float = 6.0
    """Smallest crop side in pixels (a tiny box is cut at least this wide; skysift choice, ~2 FWHM of 1.2 arcsec)."""

    def __post_init__(self):
        require(0.0 <= self.conf < 1.0, f"detector.conf must be in [0, 1), got {self.conf}")
        require(0.0 < self.iou <= 1.0, f"detector.iou must be in (0, 1], got {self.iou}")
        require(self.imgsz == 0 or (self.imgsz >= 32 and self.imgsz % 32 == 0), f"detector.imgsz must be 0 or a multiple of 32, got {self.imgsz}")
        require(self.max_det >= 1, f"detector.max_det must be >= 1, got {self.max_det}")
        require(self.batch_tiles >= 1, f"detector.batch_tiles must be >= 1, got {self.batch_tiles}")
        require(self.classifier_batch >= 1, f"detector.classifier_batch must be >= 1, got {self.classifier_batch}")
        require(0.0 <= self.min_finite_fraction <= 1.0, f"detector.min_finite_fraction must be in [0, 1], got {self.min_finite_fraction}")
        require(self.crop_min_px >= 1, f"detector.crop_min_px must be >= 1, got {self.crop_min_px}")


def tile_problem(bands: list | None, size_px: int | None, n_values: int | None, field_id: str | None,
                 frame_shapes: Mapping[str, tuple[int, int]]) -> str | None:
    """Why a tile cannot be detected on (None when it can), from its row's small columns."""
    if field_id not in frame_shapes:
        return f"field {field_id!r} is not in the fields table of the input"
    if not bands or any(b not in bands for b in DETECTION_BANDS):
        return f"tile bands {list(bands or [])} lack one of g, r, i (the detector reads gri)"
    if size_px is None or size_px < 32:
        return f"tile size_px {size_px} is below 32"
    want = len(bands) * int(size_px) ** 2
    if n_values != want:
        return f"pixels hold {n_values} values, expected bands x size x size = {len(bands)} x {size_px} x {size_px} = {want}"
    return None


def empty_raw() -> pa.Table:
    """An empty RAW_DETECTIONS table."""
    from skysift.schema import RAW_DETECTIONS

    return RAW_DETECTIONS.empty_table()


def _tile_rows(tile_ids, field_ids, tile_index, n_det, reasons, seconds, device) -> dict[str, list]:
    n = len(tile_ids)
    return {"row_kind": ["tile"] * n, "tile_id": list(tile_ids), "field_id": list(field_ids), "tile_index": list(tile_index),
            "n_detections": list(n_det), "reason": list(reasons), "seconds": list(seconds), "device": [device] * n}


def tile_pass(batch: pa.RecordBatch | pa.Table, frame_shapes: Mapping[str, tuple[int, int]], models: tuple[Any, Any],
              cfg: TilePassConfig, device: str, edge_margin_px: float = 1.0) -> pa.Table:
    """RAW_DETECTIONS rows of one batch of tiles: detections (row_kind 'det') and one 'tile' row per tile.

    ``models`` = (ultralytics YOLO, inference.ClassifierBundle); ``frame_shapes`` = {field_id: (rows, cols)};
    ``edge_margin_px``: how close to an inner tile edge a box is partial (merge.MergeConfig.edge_margin_px).
    """
    from skysift.detection.crops import cut_crops
    from skysift.detection.inference import classify_crops, yolo_boxes
    from skysift.detection.merge import inner_edge_mask, to_frame_pixels
    from skysift.images.rgb import lupton_rgb_stack
    from skysift.io.frames import wcs_from_header
    from skysift.schema import RAW_DETECTIONS

    t0 = time.perf_counter()
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    n = table.num_rows
    if n == 0:
        return empty_raw()
    tile_ids = table.column("tile_id").to_pylist()
    field_ids = table.column("field_id").to_pylist()
    tile_index = table.column("tile_index").to_pylist()
    x0s = table.column("x0").to_pylist()
    y0s = table.column("y0").to_pylist()
    sizes = table.column("size_px").to_pylist()
    bands = table.column("bands").to_pylist()
    wcs_text = table.column("wcs_header").to_pylist()
    pix = table.column("pixels")
    pix = pix.combine_chunks() if isinstance(pix, pa.ChunkedArray) else pix
    valid = pix.is_valid().to_numpy(zero_copy_only=False)
    offsets = pix.offsets.to_numpy()
    lengths = np.diff(offsets)
    values = pix.values.to_numpy(zero_copy_only=False)
    reasons: list[str | None] = []
    stacks: list[np.ndarray | None] = []
    wcss: list[Any] = []
    for k in range(n):
        why = "pixels are null" if not valid[k] else tile_problem(bands[k], sizes[k], int(lengths[k]), field_ids[k], frame_shapes)
        stack = wcs = None
        if why is None:
            s = int(sizes[k])
            full = values[offsets[k] : offsets[k + 1]].reshape(len(bands[k]), s, s)
            stack = np.stack([full[bands[k].index(b)] for b in DETECTION_BANDS]).astype(np.float32, copy=False)
            finite = float(np.isfinite(stack[1]).mean())
            if finite < cfg.min_finite_fraction:
                why = f"only {finite:.1%} of the r band's pixels are finite (min_finite_fraction {cfg.min_finite_fraction})"
        if why is None:
            try:
                wcs = wcs_from_header(wcs_text[k])
                if not wcs.has_celestial:
                    why = "the tile's wcs_header holds no celestial WCS"
            except Exception as exc:  # noqa: BLE001 - any astropy parse failure is this tile's reject reason
                why = f"the tile's wcs_header cannot be read: {type(exc).__name__}: {exc}"[:300]
        reasons.append(why)
        stacks.append(stack if why is None else None)
        wcss.append(wcs)
    good = [k for k in range(n) if reasons[k] is None]
    yolo, clf = models
    det_rows: dict[str, list] = {name: [] for name in RAW_DETECTIONS.names}
    n_det = [0] * n
    if good:
        by_size: dict[int, list[int]] = {}
        for k in good:
            by_size.setdefault(int(sizes[k]), []).append(k)
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for s, ks in by_size.items():
            rgbs = [lupton_rgb_stack(stacks[k], DETECTION_BANDS) for k in ks]
            imgsz = cfg.imgsz or int(-(-s // 32) * 32)
            for k, res in zip(ks, yolo_boxes(yolo, rgbs, cfg.conf, cfg.iou, imgsz, device, cfg.max_det)):
                found[k] = res
        crops, parts = [], []
        for k in good:
            boxes, scores = found[k]
            n_det[k] = len(boxes)
            if not len(boxes):
                continue
            s = int(sizes[k])
            fx0, fy0 = np.full(len(boxes), x0s[k]), np.full(len(boxes), y0s[k])
            partial = inner_edge_mask(boxes, s, fx0, fy0, frame_shapes[field_ids[k]], edge_margin_px)
            frame_boxes = to_frame_pixels(boxes, fx0, fy0)
            cx_t, cy_t = (boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0
            side = np.maximum(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), cfg.crop_min_px)
            crops.append(cut_crops(stacks[k], cx_t, cy_t, side, clf.crop_px))
            ra, dec = wcss[k].all_pix2world(cx_t, cy_t, 0)
            parts.append((k, frame_boxes, scores, partial, np.asarray(ra, np.float64), np.asarray(dec, np.float64)))
        probs = classify_crops(clf, np.concatenate(crops), cfg.classifier_batch) if crops else np.zeros((0, 3), np.float32)
        at = 0
        for k, fb, scores, partial, ra, dec in parts:
            m = len(scores)
            p = probs[at : at + m]
            at += m
            det_rows["row_kind"] += ["det"] * m
            det_rows["tile_id"] += [tile_ids[k]] * m
            det_rows["field_id"] += [field_ids[k]] * m
            det_rows["tile_index"] += [tile_index[k]] * m
            for j, name in enumerate(("x_min", "y_min", "x_max", "y_max")):
                det_rows[name] += fb[:, j].tolist()
            det_rows["x_px"] += ((fb[:, 0] + fb[:, 2]) / 2.0).tolist()
            det_rows["y_px"] += ((fb[:, 1] + fb[:, 3]) / 2.0).tolist()
            det_rows["ra_deg"] += np.mod(ra, 360.0).tolist()
            det_rows["dec_deg"] += dec.tolist()
            det_rows["det_score"] += scores.tolist()
            det_rows["p_galaxy"] += p[:, 0].tolist()
            det_rows["p_star"] += p[:, 1].tolist()
            det_rows["p_qso"] += p[:, 2].tolist()
            det_rows["partial"] += partial.tolist()
    per_tile = (time.perf_counter() - t0) / n
    tiles = _tile_rows(tile_ids, field_ids, tile_index, n_det, reasons, [per_tile] * n, device)
    for name in RAW_DETECTIONS.names:
        if name not in tiles:
            tiles[name] = [None] * n
    m = len(det_rows["row_kind"])
    for name in RAW_DETECTIONS.names:
        if len(det_rows[name]) < m:
            det_rows[name] = [None] * m
    dets = pa.table(det_rows, schema=RAW_DETECTIONS) if m else RAW_DETECTIONS.empty_table()
    return pa.concat_tables([dets, pa.table(tiles, schema=RAW_DETECTIONS)])

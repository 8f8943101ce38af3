"""Merging the detections of overlapping tiles within a frame (Zhao et al. 2025 §2.1, §4.4).

The paper merges the duplicates in tile overlaps by NMS and calls two detections one source "when the distance
between their centers is less than 2 pixels". skysift applies both in one greedy pass, per frame: detections in
decreasing score; one is kept unless a kept detection overlaps it with IoU > ``iou_threshold`` or has its centre
closer than ``same_source_px``. That is standard greedy NMS (a detection is compared with the kept ones only)
with a second suppression rule.

A dense frame holds tens of thousands of detections, so all pairs (n^2) is out: kept boxes are registered in a
uniform grid of ``cell_px`` cells (every cell their extent, grown by same_source_px, touches), and a candidate is
compared only with the kept boxes in the cells it touches. Two boxes that overlap, or whose centres are closer
than same_source_px, share a cell, so the result equals the all-pairs pass; the cost is the sort (n log n) plus
a constant per detection while boxes are small against the cell.

Boxes cut by a tile's edge inside the frame are partial and match their whole twin in the neighbouring tile
badly (low IoU, shifted centre): ``inner_edge_mask`` finds them so that they can be dropped first; with
overlaps of >= 64 px (images.tiling) every source smaller than the overlap is seen whole in some tile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysift.config import require

__all__ = ["MergeConfig", "to_frame_pixels", "iou", "inner_edge_mask", "merge_frame", "merge_by_frame"]


@dataclass(frozen=True)
class MergeConfig:
    """How duplicate detections within a frame are merged."""

    iou_threshold: float = 0.5
    """Suppress a detection whose IoU with a kept one exceeds this (NMS threshold not stated in the paper: skysift choice)."""
    same_source_px: float = 2.0
    """Centres closer than this are one source (Zhao et al. 2025: 2 pixels)."""
    cell_px: float = 64.0
    """Grid cell side (skysift choice: a few times the typical 10-30 px box; any value gives the same result)."""
    edge_margin_px: float = 1.0
    """A box within this distance of a tile edge that lies inside the frame is partial (skysift choice)."""

    def __post_init__(self):
        require(0.0 <= self.iou_threshold <= 1.0, f"merge.iou_threshold must be in [0, 1], got {self.iou_threshold}")
        require(self.same_source_px >= 0.0, f"merge.same_source_px must be >= 0, got {self.same_source_px}")
        require(self.cell_px > 0.0, f"merge.cell_px must be > 0, got {self.cell_px}")
        require(self.edge_margin_px >= 0.0, f"merge.edge_margin_px must be >= 0, got {self.edge_margin_px}")


def to_frame_pixels(boxes_xyxy: np.ndarray, x0: np.ndarray, y0: np.ndarray) -> np.ndarray:
    """(n, 4) tile-pixel boxes (x_min, y_min, x_max, y_max) -> frame pixels, given each box's tile origin (x0, y0)."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    off = np.column_stack([x0, y0, x0, y0]).astype(np.float64)
    return b + off


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box ``a`` (4,) with each row of ``b`` (m, 4), boxes as (x_min, y_min, x_max, y_max)."""
    iw = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def inner_edge_mask(boxes_tile: np.ndarray, tile_px: int, x0: np.ndarray, y0: np.ndarray, frame_shape: tuple[int, int],
                    margin_px: float = 1.0) -> np.ndarray:
    """True for boxes (tile pixels, edge coordinates -0.5 .. tile_px - 0.5) touching a tile edge that is not a frame edge."""
    b = np.asarray(boxes_tile, dtype=np.float64).reshape(-1, 4)
    ny, nx = frame_shape
    lo, hi = -0.5 + margin_px, tile_px - 0.5 - margin_px
    x0, y0 = np.asarray(x0), np.asarray(y0)
    left = (b[:, 0] <= lo) & (x0 > 0)
    top = (b[:, 1] <= lo) & (y0 > 0)
    right = (b[:, 2] >= hi) & (x0 + tile_px < nx)
    bottom = (b[:, 3] >= hi) & (y0 + tile_px < ny)
    return left | top | right | bottom


def merge_frame(boxes: np.ndarray, scores: np.ndarray, cfg: MergeConfig | None = None) -> np.ndarray:
    """Sorted indices of the detections of ONE frame that survive NMS (IoU) and the same-source rule (centre distance).

    Ties in score go to the lower index (a stable sort), as in the all-pairs reference.
    """
    cfg = cfg or MergeConfig()
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    cx, cy = (b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0
    r = cfg.same_source_px
    c = cfg.cell_px
    # cell ranges of each box grown by r: a box only needs the kept boxes in those cells
    gx0 = np.floor((b[:, 0] - r) / c).astype(np.int64)
    gx1 = np.floor((b[:, 2] + r) / c).astype(np.int64)
    gy0 = np.floor((b[:, 1] - r) / c).astype(np.int64)
    gy1 = np.floor((b[:, 3] + r) / c).astype(np.int64)
    grid: dict[tuple[int, int], list[int]] = {}
    kept: list[int] = []
    r2 = r * r
    for i in order:
        cells = [(gx, gy) for gx in range(gx0[i], gx1[i] + 1) for gy in range(gy0[i], gy1[i] + 1)]
        near = {j for cell in cells for j in grid.get(cell, ())}
        if near:
            cand = np.fromiter(near, dtype=np.int64, count=len(near))
            close = (cx[cand] - cx[i]) ** 2 + (cy[cand] - cy[i]) ** 2 < r2
            if close.any() or (iou(b[i], b[cand]) > cfg.iou_threshold).any():
                continue
        kept.append(int(i))
        for cell in cells:
            grid.setdefault(cell, []).append(int(i))
    return np.sort(np.asarray(kept, dtype=np.int64))


def merge_by_frame(frame_ids: np.ndarray, boxes: np.ndarray, scores: np.ndarray, cfg: MergeConfig | None = None) -> np.ndarray:
    """Sorted indices of the surviving detections, merging within each frame id only (frames never merge with each other)."""
    frame_ids = np.asarray(frame_ids)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64)
    if len(frame_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    _, inverse = np.unique(frame_ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    out = [grp[merge_frame(b[grp], s[grp], cfg)] for grp in np.split(order, bounds)]
    return np.sort(np.concatenate(out))

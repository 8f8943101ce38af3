"""Training examples of one frame: pasted YOLO tiles with their labels, and Conv4Net crops with their classes.

Both take a registered (bands, rows, cols) g r i stack, its r-band WCS and a catalog (photoObj-like columns ra,
dec, type, psfMag_r, petroMag_r, petroRad_r; for crops also class and zWarning), so the same code serves the
synthetic survey and real frames with a CasJobs catalog.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from skysift.detection import crops as C
from skysift.detection.labels import MagnitudeBoxConfig, magnitude_boxes
from skysift.detection.pasting import PastingConfig, pasted_image
from skysift.detection.yolo_files import yolo_rows
from skysift.images.tiling import TileGrid, cut_tiles

__all__ = ["DetectionTile", "registered_gri", "detection_tiles", "classification_examples"]


def registered_gri(images: Sequence[np.ndarray], wcs: Sequence[Any]):
    """images.registration.RegisteredStack of (g, r, i) images with their WCS, registered onto r.

    The synthetic frames, like SDSS's, carry a WCS per band offset by a few pixels; detect-sources reads tiles that
    ingest-frames registered onto r, so the training images are registered the same way (unregistered g / i would
    teach colour fringes the tiles never show).
    """
    from skysift.images.registration import register_stack

    bands = ("g", "r", "i")
    heads = [w if isinstance(w, str) else w.to_header_string(relax=True) for w in wcs]
    return register_stack(dict(zip(bands, images)), dict(zip(bands, heads)), reference="r", bands=bands)


@dataclass
class DetectionTile:
    """One training tile."""

    tile_index: int
    """Row-major index in the frame's tile grid."""
    x0: int
    """Frame column of the tile's first pixel."""
    y0: int
    """Frame row of the tile's first pixel."""
    rgb: np.ndarray
    """uint8 (size, size, 3) Lupton RGB of the pasted stack (R = i, G = r, B = g)."""
    labels: np.ndarray
    """(n, 5) YOLO rows: class 0, cx, cy, w, h normalised to the tile."""


def detection_tiles(stack: np.ndarray, wcs_r: Any, catalog: Mapping[str, Any], grid: TileGrid,
                    bands: Sequence[str] = ("g", "r", "i"), boxes_cfg: MagnitudeBoxConfig | None = None,
                    pasting_cfg: PastingConfig | None = None, paste: bool = True) -> list[DetectionTile]:
    """The frame's tiles as training images: sources off the catalog (or fainter than r 22.2) replaced by the mean
    background (``paste``), labelled boxes from the r magnitude, each tile's boxes clipped to the tile."""
    from skysift.images.rgb import lupton_rgb_stack

    stack = np.asarray(stack, dtype=np.float32)
    image = pasted_image(stack, magnitude_boxes(catalog, wcs_r, stack.shape[1:], boxes_cfg), pasting_cfg) if paste else stack
    tiles = cut_tiles(image, grid, fill_value=0.0)
    out = []
    for tile, pixels in zip(grid.tiles, tiles):
        size = tile.size_px
        boxes = magnitude_boxes(catalog, wcs_r, (size, size), boxes_cfg, origin_px=(tile.x0, tile.y0))
        out.append(DetectionTile(tile.index, tile.x0, tile.y0, lupton_rgb_stack(pixels, list(bands)), yolo_rows(boxes, (size, size))))
    return out


def classification_examples(stack: np.ndarray, wcs_r: Any, labelled: Mapping[str, Any],
                            cfg: C.CropConfig | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw crops (n, bands, 48, 48), class index (n,), row index (n,)) of the usable labelled rows on this frame.

    Rows are those of crops.select_labelled whose centre lies on the image; balancing and splitting are done over
    the whole training set (crops.balance_by_class, crops.split_indices), not per frame.
    """
    cfg = cfg or C.CropConfig()
    rows = C.select_labelled(labelled, cfg)
    if len(rows) == 0:
        return np.zeros((0, stack.shape[0], cfg.crop_px, cfg.crop_px), np.float32), np.zeros(0, np.int64), rows
    sub = {k: np.asarray(labelled[k])[rows] for k in ("ra", "dec", "type", "psfMag_r", "petroMag_r", "class")}
    if "petroRad_r" in labelled:
        sub["petroRad_r"] = np.asarray(labelled["petroRad_r"])[rows]
    x, y = wcs_r.all_world2pix(sub["ra"].astype(float), sub["dec"].astype(float), 0)
    x, y = np.asarray(x), np.asarray(y)
    ny, nx = stack.shape[1:]
    on = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    sides = C.crop_sides_px(sub, cfg)
    raw = C.cut_crops(stack, x[on], y[on], sides[on], cfg.crop_px)
    return raw, C.class_index(sub["class"][on]), rows[on]

"""Source pasting (Zhao et al. 2025 §2.1.4): a clean background with only the labelled sources on it.

The catalog misses sources (faint ones, and PhotoObjAll is incomplete), so a detector trained on the raw image
would learn to ignore real, unlabelled objects. The paper detects every source with photutils at a very low
threshold (2 sigma, >= 3 connected pixels), masks them, fills the masked pixels with the mean background, and
pastes the labelled sources back at their positions (their magnitude boxes cut from the original image).

skysift: the background and its rms come from ``images.background.background_map`` (photutils Background2D,
128 px boxes) per band; a pixel is masked when any band's segmentation at 2 sigma covers it (the union, so a
source bright in one band only is masked too); the fill value per band is the mean of that band's background
map over the masked pixels ("mean background pixel value" - the map's, since the pixels themselves hold light).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysift.config import require
from skysift.detection.labels import Boxes

__all__ = ["PastingConfig", "source_segments", "source_mask", "clean_background", "paste_boxes", "pasted_image", "footprint_sides"]


@dataclass(frozen=True)
class PastingConfig:
    """Detection of the sources to remove, and the background estimate."""

    threshold_sigma: float = 2.0
    """Detection threshold above the background in units of its rms (Zhao et al. 2025: 2 sigma)."""
    min_pixels: int = 3
    """Smallest connected region (8-connected) that counts as a source (Zhao et al. 2025: 3 pixels)."""
    background_box_px: int = 128
    """Background2D box side (skysift choice, as images.background.background_map)."""
    dilate_px: int = 2
    """Grow the mask by this many pixels, so the faint wings below 2 sigma go too (skysift choice: 2 px ~ 0.8 arcsec,
    about a PSF sigma at 1.4 arcsec seeing; 0 = the paper's mask as stated)."""

    def __post_init__(self):
        require(self.threshold_sigma > 0, f"pasting.threshold_sigma must be > 0, got {self.threshold_sigma}")
        require(self.min_pixels >= 1, f"pasting.min_pixels must be >= 1, got {self.min_pixels}")
        require(self.background_box_px >= 8, f"pasting.background_box_px must be >= 8, got {self.background_box_px}")
        require(self.dilate_px >= 0, f"pasting.dilate_px must be >= 0, got {self.dilate_px}")


def _background(image: np.ndarray, cfg: PastingConfig) -> tuple[np.ndarray, np.ndarray]:
    from skysift.images.background import background_map

    box = int(min(cfg.background_box_px, max(8, min(image.shape) // 2)))
    return background_map(image, box_px=box)


def source_segments(image: np.ndarray, cfg: PastingConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(segment labels int32 (0 = sky), background) of one band: photutils detect_sources at threshold_sigma x rms."""
    from photutils.segmentation import detect_sources

    cfg = cfg or PastingConfig()
    image = np.asarray(image, dtype=np.float32)
    bkg, rms = _background(image, cfg)
    segm = detect_sources(np.nan_to_num(image - bkg), cfg.threshold_sigma * rms, cfg.min_pixels)
    labels = np.zeros(image.shape, dtype=np.int32) if segm is None else np.asarray(segm.data, dtype=np.int32)
    return labels, bkg


def source_mask(stack: np.ndarray, cfg: PastingConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mask bool (rows, cols), background float32 (bands, rows, cols)): the union of every band's 2-sigma segments."""
    from scipy.ndimage import binary_dilation

    cfg = cfg or PastingConfig()
    stack = np.asarray(stack, dtype=np.float32)
    mask = np.zeros(stack.shape[1:], dtype=bool)
    bkgs = []
    for band in stack:
        labels, bkg = source_segments(band, cfg)
        mask |= labels > 0
        bkgs.append(bkg)
    if cfg.dilate_px > 0 and mask.any():
        mask = binary_dilation(mask, iterations=cfg.dilate_px)
    return mask, np.stack(bkgs)


def clean_background(stack: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """A copy of ``stack`` whose masked pixels hold each band's mean background over the mask."""
    out = np.array(stack, dtype=np.float32, copy=True)
    if not mask.any():
        return out
    for b in range(out.shape[0]):
        out[b][mask] = np.float32(np.nanmean(background[b][mask]))
    return out


def _box_slices(boxes: Boxes, shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Pixel index ranges of each box: pixels whose centre lies inside it."""
    ny, nx = shape
    out = []
    for x0, y0, x1, y1 in zip(boxes.x_min, boxes.y_min, boxes.x_max, boxes.y_max):
        i0, i1 = max(0, int(np.ceil(x0))), min(nx, int(np.floor(x1)) + 1)
        j0, j1 = max(0, int(np.ceil(y0))), min(ny, int(np.floor(y1)) + 1)
        out.append((slice(j0, j1), slice(i0, i1)))
    return out


def paste_boxes(clean: np.ndarray, original: np.ndarray, boxes: Boxes) -> np.ndarray:
    """``clean`` with the pixels of every box copied back from ``original`` (all bands)."""
    out = np.array(clean, copy=True)
    for sy, sx in _box_slices(boxes, out.shape[1:]):
        out[:, sy, sx] = original[:, sy, sx]
    return out


def pasted_image(stack: np.ndarray, boxes: Boxes, cfg: PastingConfig | None = None) -> np.ndarray:
    """The training image of Zhao et al. 2025: sources masked and filled with the mean background, labelled boxes pasted back."""
    mask, bkg = source_mask(stack, cfg)
    return paste_boxes(clean_background(stack, mask, bkg), np.asarray(stack, dtype=np.float32), boxes)


def footprint_sides(labels: np.ndarray, x_px: np.ndarray, y_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(side px, isolated) per position: the larger bounding-box side of the segment under it (NaN off any segment)
    and whether that segment holds no other of the given positions (to measure box sizes on unblended sources)."""
    from scipy.ndimage import find_objects

    ny, nx = labels.shape
    xi, yi = np.rint(x_px).astype(np.int64), np.rint(y_px).astype(np.int64)
    inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    lab = np.zeros(len(xi), dtype=np.int64)
    lab[inside] = labels[yi[inside], xi[inside]]
    slices = find_objects(labels)
    side = np.full(len(xi), np.nan)
    for k in np.flatnonzero(lab > 0):
        sl = slices[lab[k] - 1]
        side[k] = max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
    counts = np.bincount(lab[lab > 0], minlength=int(labels.max()) + 1) if (lab > 0).any() else np.zeros(1, dtype=np.int64)
    isolated = (lab > 0) & (counts[np.minimum(lab, len(counts) - 1)] == 1)
    return side, isolated

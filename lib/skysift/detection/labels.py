"""Magnitude-based boxes (Zhao et al. 2025 §2.1.3): catalog ra/dec -> r-band pixels, box side from the r magnitude.

The paper takes the box side from the r magnitude through its Table 1, whose values are missing from the
text we have. skysift's table (``MagnitudeBoxConfig`` defaults) was chosen on the synthetic imaging survey:
``box_table_from_footprints`` takes, per magnitude bin, the median side of the square that holds a source's
2-sigma footprint (photutils segments at 2 sigma and >= 3 pixels, the pasting rule of §2.1.4), measured on
isolated catalogued sources; the measurement and its numbers are in conf/detection_labels.yaml.

Which r magnitude the paper uses is not stated: skysift uses psfMag_r for point sources (type 6) and
petroMag_r for the rest (galaxies), per the paper note. The paper corrects the boxes of large galaxies by
hand (LabelImg); skysift's automatic substitute: a galaxy's side is at least ``petro_box_factor`` x its
Petrosian radius (petroRad_r, arcsec) in pixels, so a big galaxy whose magnitude bin under-sizes it gets a
box that holds its light (2 R_P holds ~99 % of an exponential disk's flux, so 4 R_P is the diameter).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from skysift.config import require

__all__ = ["MagnitudeBoxConfig", "Boxes", "label_magnitude", "box_side_px", "magnitude_boxes", "box_table_from_footprints"]

GALAXY_TYPE = 3
"""PhotoObj type of a galaxy."""
STAR_TYPE = 6
"""PhotoObj type of a point source."""


@dataclass(frozen=True)
class MagnitudeBoxConfig:
    """How a catalog row becomes a box."""

    mag_edges: tuple[float, ...] = (15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0)
    """Inner edges of the r-magnitude bins (brighter than the first edge = bin 0). Zhao et al. 2025's Table 1 is
    not available: skysift choice, measured on the synthetic survey (conf/detection_labels.yaml)."""
    box_px: tuple[int, ...] = (27, 24, 18, 17, 16, 14, 11, 9)
    """Box side per bin (len(mag_edges) + 1 values, brightest first); not stated in the paper: skysift choice, the
    median 2-sigma footprint side of isolated catalogued sources in two full synthetic fields (seed 7, seeing
    1.0-1.5 arcsec; 22.5, 20, 14, 13, 12, 10, 7, 4.5 px from 20, 5, 12, 19, 39, 87, 154, 234 sources) plus 4 px
    (the pasting mask's 2 px dilation on each side), rounded up."""
    r_limit_mag: float = 22.2
    """Rows fainter than this r are dropped (Zhao et al. 2025: the SDSS r limiting magnitude)."""
    petro_box_factor: float = 4.0
    """Galaxy box side >= this x petroRad_r (the automatic substitute for the paper's manual fix; skysift choice:
    4 R_P is the diameter of the 2 R_P Petrosian aperture)."""
    pixel_scale_arcsec: float = 0.396
    """Arcsec per pixel, to turn petroRad_r into pixels (SDSS 0.396)."""
    max_box_px: int = 320
    """Largest box side (half a 640 px tile; skysift choice, caps a bad petroRad)."""
    min_visible_fraction: float = 0.3
    """A box clipped at the tile edge is kept when at least this share of its area is inside (skysift choice;
    the paper crops boxes at the edge and keeps them)."""

    def __post_init__(self):
        require(len(self.box_px) == len(self.mag_edges) + 1,
                f"labels.box_px needs len(mag_edges) + 1 = {len(self.mag_edges) + 1} values, got {len(self.box_px)}")
        require(all(b > a for a, b in zip(self.mag_edges, self.mag_edges[1:])), f"labels.mag_edges must increase, got {self.mag_edges}")
        require(all(s >= 2 for s in self.box_px), f"labels.box_px values must be >= 2, got {self.box_px}")
        require(self.petro_box_factor >= 0, f"labels.petro_box_factor must be >= 0, got {self.petro_box_factor}")
        require(self.pixel_scale_arcsec > 0, f"labels.pixel_scale_arcsec must be > 0, got {self.pixel_scale_arcsec}")
        require(self.max_box_px >= max(self.box_px), f"labels.max_box_px must be >= max(box_px)={max(self.box_px)}, got {self.max_box_px}")
        require(0.0 < self.min_visible_fraction <= 1.0, f"labels.min_visible_fraction must be in (0, 1], got {self.min_visible_fraction}")


@dataclass
class Boxes:
    """Axis-aligned boxes in pixel coordinates (0-based, pixel centres at integers; edges at +-0.5)."""

    x_px: np.ndarray
    """Source centre column."""
    y_px: np.ndarray
    """Source centre row."""
    x_min: np.ndarray
    """Left edge after clipping."""
    y_min: np.ndarray
    """Top edge after clipping."""
    x_max: np.ndarray
    """Right edge after clipping."""
    y_max: np.ndarray
    """Bottom edge after clipping."""
    row: np.ndarray
    """Index of the catalog row each box came from."""
    mag_r: np.ndarray
    """The r magnitude used for the box side."""

    def __len__(self) -> int:
        return len(self.row)


def _col(catalog: Mapping[str, Any], name: str) -> np.ndarray:
    try:
        return np.asarray(catalog[name], dtype=np.float64)
    except KeyError:
        raise KeyError(f"labels: the catalog has no column {name!r} (needs ra, dec, type, psfMag_r, petroMag_r, petroRad_r)") from None


def label_magnitude(catalog: Mapping[str, Any]) -> np.ndarray:
    """r magnitude each row is labelled with: psfMag_r for point sources (type 6), petroMag_r otherwise."""
    kind = _col(catalog, "type")
    return np.where(kind == STAR_TYPE, _col(catalog, "psfMag_r"), _col(catalog, "petroMag_r"))


def box_side_px(mag_r: np.ndarray, petro_rad_arcsec: np.ndarray | None, is_galaxy: np.ndarray | None, cfg: MagnitudeBoxConfig) -> np.ndarray:
    """Box side per source: the binned table, raised to petro_box_factor x petroRad for galaxies, capped at max_box_px."""
    mag_r = np.asarray(mag_r, dtype=np.float64)
    side = np.asarray(cfg.box_px, dtype=np.float64)[np.searchsorted(np.asarray(cfg.mag_edges), mag_r, side="right")]
    if petro_rad_arcsec is not None and is_galaxy is not None and cfg.petro_box_factor > 0:
        petro_px = cfg.petro_box_factor * np.nan_to_num(np.asarray(petro_rad_arcsec, dtype=np.float64)) / cfg.pixel_scale_arcsec
        side = np.where(np.asarray(is_galaxy, dtype=bool), np.maximum(side, petro_px), side)
    return np.minimum(side, cfg.max_box_px)


def magnitude_boxes(catalog: Mapping[str, Any], wcs: Any, shape: tuple[int, int], cfg: MagnitudeBoxConfig | None = None,
                    origin_px: tuple[float, float] = (0.0, 0.0)) -> Boxes:
    """Boxes of the catalog rows that fall on an image of ``shape`` (rows, cols), clipped to it.

    ``wcs`` is the r-band astropy WCS of the frame (or of the tile); ``origin_px`` (x0, y0) is subtracted from the
    WCS pixels, so a frame WCS gives tile boxes with the tile's origin. Rows fainter than r_limit_mag, with a
    non-finite magnitude, or whose clipped box keeps less than min_visible_fraction of its area are dropped.
    """
    cfg = cfg or MagnitudeBoxConfig()
    ra, dec = _col(catalog, "ra"), _col(catalog, "dec")
    mag = label_magnitude(catalog)
    is_galaxy = _col(catalog, "type") != STAR_TYPE
    petro = _col(catalog, "petroRad_r") if "petroRad_r" in catalog else None
    x, y = wcs.all_world2pix(ra, dec, 0) if len(ra) else (np.zeros(0), np.zeros(0))
    x = np.asarray(x, dtype=np.float64) - origin_px[0]
    y = np.asarray(y, dtype=np.float64) - origin_px[1]
    side = box_side_px(mag, petro, is_galaxy, cfg)
    half = side / 2.0
    ny, nx = shape
    x0, x1 = np.clip(x - half, -0.5, nx - 0.5), np.clip(x + half, -0.5, nx - 0.5)
    y0, y1 = np.clip(y - half, -0.5, ny - 0.5), np.clip(y + half, -0.5, ny - 0.5)
    visible = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None) / np.maximum(side * side, 1e-12)
    keep = np.isfinite(mag) & (mag <= cfg.r_limit_mag) & np.isfinite(x) & np.isfinite(y) & (visible >= cfg.min_visible_fraction)
    idx = np.flatnonzero(keep)
    return Boxes(x_px=x[idx], y_px=y[idx], x_min=x0[idx], y_min=y0[idx], x_max=x1[idx], y_max=y1[idx], row=idx, mag_r=mag[idx])


def box_table_from_footprints(mag_r: np.ndarray, footprint_side_px: np.ndarray, mag_edges: tuple[float, ...],
                              min_count: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(median side per bin, sources per bin) for bins split at ``mag_edges`` (len(mag_edges) + 1 bins).

    ``footprint_side_px`` is the side of the square around each isolated source's 2-sigma segment (pasting's
    ``footprint_sides``). Bins with fewer than ``min_count`` sources get NaN, to be filled by hand and said so.
    """
    mag_r = np.asarray(mag_r, dtype=np.float64)
    side = np.asarray(footprint_side_px, dtype=np.float64)
    b = np.searchsorted(np.asarray(mag_edges), mag_r, side="right")
    med = np.full(len(mag_edges) + 1, np.nan)
    count = np.zeros(len(mag_edges) + 1, dtype=np.int64)
    for k in range(len(mag_edges) + 1):
        sel = (b == k) & np.isfinite(side)
        count[k] = sel.sum()
        if count[k] >= min_count:
            med[k] = float(np.median(side[sel]))
    return med, count

"""Gaussian line profiles rendered on a log-lambda pixel grid.

On a grid uniform in log10(lambda) a pixel is a fixed velocity step
(c * ln(10) * dloglam = 69.03 km/s for SDSS's 1e-4), so a line of velocity width
sigma_v has the same width in pixels at every wavelength: everything here works
in pixel units. Windows have a fixed half-width per call (never derived from the
batch), so a row's pixels do not depend on which other rows share its batch.
"""
from __future__ import annotations

import numpy as np

C_KMS = 299792.458
SQRT_2PI = np.sqrt(2.0 * np.pi)


def kms_per_pixel(dloglam: float) -> float:
    """Velocity width of one pixel of a log10-lambda grid with step ``dloglam``."""
    return C_KMS * np.log(10.0) * dloglam


def render_gaussians(
    out: np.ndarray,
    rows: np.ndarray,
    center_pix: np.ndarray,
    sigma_pix: np.ndarray,
    area: np.ndarray,
    half_width_pix: int,
) -> None:
    """Add unit-area Gaussians times ``area`` to ``out[rows]`` in place.

    rows, center_pix, sigma_pix, area are 1-D arrays of equal length (one entry per
    (row, line) pair; a row may appear many times). Pixel values are the Gaussian
    sampled at pixel centres, so the pixel sum equals ``area`` to < 1e-8 for
    sigma >= 1 pixel. Pixels outside ``out`` are dropped.
    """
    if len(rows) == 0:
        return
    n_pix = out.shape[1]
    offsets = np.arange(-half_width_pix, half_width_pix + 1)
    pix = np.rint(center_pix).astype(np.int64)[:, None] + offsets[None, :]
    sig = np.asarray(sigma_pix, dtype=np.float64)[:, None]
    values = np.exp(-0.5 * ((pix - np.asarray(center_pix)[:, None]) / sig) ** 2) * (
        np.asarray(area, dtype=np.float64)[:, None] / (sig * SQRT_2PI)
    )
    inside = (pix >= 0) & (pix < n_pix)
    row_idx = np.broadcast_to(np.asarray(rows)[:, None], pix.shape)
    np.add.at(out, (row_idx[inside], pix[inside]), values[inside])

"""Small synthetic FITS frames for tests and benchmark inputs: a TAN WCS per band, Gaussian stars, seeded noise.

Not the synthetic imaging survey (``synth/imaging``): just enough to exercise the frame jobs on any
shape, with a known truth (star sky positions, band offsets), in milliseconds. Each band's WCS is the
field's shifted by ``offset_px`` (as SDSS bands sit a few pixels apart), so registration has work to do.
"""
from __future__ import annotations

import bz2
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["FieldSpec", "field_wcs", "render_band", "star_positions", "write_field"]


@dataclass(frozen=True)
class FieldSpec:
    """One synthetic field."""

    name: str
    """File name prefix: files are NAME-BAND.fits[.bz2] (grouped by io.frame_files' band-token rule)."""
    ra_deg: float = 150.0
    """RA of the reference pixel (the frame centre)."""
    dec_deg: float = 2.0
    """Dec of the reference pixel."""
    shape: tuple[int, int] = (300, 400)
    """(rows, columns)."""
    pixel_scale_arcsec: float = 0.396
    """Pixel side (SDSS 0.396)."""
    rotation_deg: float = 0.0
    """Position angle of the pixel grid."""
    bands: tuple[str, ...] = ("g", "r", "i")
    """Bands to write."""
    offset_px: dict = field(default_factory=lambda: {"g": (3.2, 11.0), "r": (0.0, 0.0), "i": (-0.3, 3.0), "u": (1.5, -6.0), "z": (-2.0, 5.0)})
    """Per band (dx, dy): where the band's pixel grid sits relative to the field's, as SDSS bands do (g ~11 px off r)."""
    sky_noise: float = 0.03
    """Gaussian noise sd per pixel (nanomaggies; SDSS r ~0.03)."""
    psf_sigma_px: float = 1.4
    """Gaussian PSF sd in pixels (1.3" FWHM)."""
    seed: int = 0
    """Seed of stars and noise."""


def field_wcs(spec: FieldSpec, band: str | None = None):
    """The field's TAN WCS, or the band's (the field's moved by ``offset_px[band]``)."""
    from astropy.wcs import WCS

    ny, nx = spec.shape
    dx, dy = spec.offset_px.get(band, (0.0, 0.0)) if band else (0.0, 0.0)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [spec.ra_deg, spec.dec_deg]
    # The band's pixel (x + dx, y + dy) sees what the field's pixel (x, y) sees.
    w.wcs.crpix = [(nx + 1) / 2.0 + dx, (ny + 1) / 2.0 + dy]
    scale = spec.pixel_scale_arcsec / 3600.0
    c, s = np.cos(np.radians(spec.rotation_deg)), np.sin(np.radians(spec.rotation_deg))
    w.wcs.cd = scale * np.array([[-c, s], [s, c]])
    w.pixel_shape = (nx, ny)
    return w


def render_band(spec: FieldSpec, band: str, ra_deg: np.ndarray, dec_deg: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """float32 image of Gaussian stars at (ra, dec) with total ``flux`` each, plus seeded noise, on the band's grid."""
    ny, nx = spec.shape
    w = field_wcs(spec, band)
    x, y = w.all_world2pix(np.asarray(ra_deg), np.asarray(dec_deg), 0)
    img = np.zeros(spec.shape, dtype=np.float64)
    yy, xx = np.mgrid[0:ny, 0:nx]
    s2 = 2.0 * spec.psf_sigma_px**2
    for xi, yi, fi in zip(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(flux)):
        x0, x1 = int(max(0, np.floor(xi - 8 * spec.psf_sigma_px))), int(min(nx, np.ceil(xi + 8 * spec.psf_sigma_px) + 1))
        y0, y1 = int(max(0, np.floor(yi - 8 * spec.psf_sigma_px))), int(min(ny, np.ceil(yi + 8 * spec.psf_sigma_px) + 1))
        if x0 >= x1 or y0 >= y1:
            continue
        sub = np.exp(-((xx[y0:y1, x0:x1] - xi) ** 2 + (yy[y0:y1, x0:x1] - yi) ** 2) / s2)
        img[y0:y1, x0:x1] += fi * sub / (np.pi * s2)
    band_seed = spec.seed * 1000 + sum(ord(ch) for ch in band)
    img += np.random.default_rng(band_seed).normal(0.0, spec.sky_noise, spec.shape)
    return img.astype(np.float32)


def star_positions(spec: FieldSpec, n_stars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ra, dec, flux) of ``n_stars`` seeded stars over the field (10 px from its edges)."""
    rng = np.random.default_rng(spec.seed)
    ny, nx = spec.shape
    x = rng.uniform(10, nx - 10, n_stars)
    y = rng.uniform(10, ny - 10, n_stars)
    ra, dec = field_wcs(spec).all_pix2world(x, y, 0)
    return np.asarray(ra), np.asarray(dec), rng.uniform(5.0, 60.0, n_stars)


def write_field(folder: str | Path, spec: FieldSpec, n_stars: int = 20, compress: bool = False,
                stars: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                bands: Sequence[str] | None = None) -> dict[str, Path]:
    """Write the field's band frames as NAME-BAND.fits (or .fits.bz2); returns {band: path}.

    The header has the band's TAN WCS, FILTER and BUNIT = nanomaggy. ``stars`` (ra, dec, flux) default to
    ``star_positions(spec, n_stars)``.
    """
    from astropy.io import fits

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ra, dec, flux = stars if stars is not None else star_positions(spec, n_stars)
    out = {}
    for band in bands or spec.bands:
        header = field_wcs(spec, band).to_header()
        header["FILTER"] = band
        header["BUNIT"] = "nanomaggy"
        data = render_band(spec, band, ra, dec, flux)
        hdul = fits.HDUList([fits.PrimaryHDU(data=data, header=header)])
        path = folder / f"{spec.name}-{band}.fits"
        if compress:
            import io

            buf = io.BytesIO()
            hdul.writeto(buf)
            path = path.with_name(path.name + ".bz2")
            path.write_bytes(bz2.compress(buf.getvalue(), 9))
        else:
            hdul.writeto(path, overwrite=True)
        out[band] = path
    return out

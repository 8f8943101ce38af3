"""One SDSS-like field (five bands) from (seed, field index) alone: objects, PSF, sky, noise, saturation, cosmic rays.

Units follow the SDSS corrected frames: the image is sky-subtracted and calibrated,
in nanomaggies; ``calib`` (HDU1) is nanomaggies per DN per column and ``sky`` (HDU2)
the sky in DN on a coarse grid, so that DN = image / calib + sky.

Noise: the sky level per band is set from the configured 5-sigma point-source depth
through the PSF's noise-equivalent area (sigma_pix = F_lim / (5 sqrt(n_eff))), so
PSF photometry of a blank position scatters by exactly F_lim / 5. Each pixel then
gets Gaussian noise of variance DN / gain + dark variance (the CCD's, photon noise of
sky and sources included). Saturated pixels are clipped at ``saturation_dn`` and
their excess charge bleeds along the column (the scan direction, y), conserving charge.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from astropy.wcs import WCS

from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging import geometry as geo
from skysift.synth.imaging import psf as P
from skysift.synth.imaging import render as R
from skysift.synth.imaging.bands import BANDS, mag_to_nmgy
from skysift.synth.imaging.config import ImagingSurveyConfig
from skysift.synth.imaging.objects import SHAPE_COLUMNS, cell_objects

SKY_BINNING_PX = 8
"""The sky grid of HDU2 is the frame binned 8 x 8 (real frames: 256 x 192 for 2048 x 1489)."""
POINT_STAMP_LEVEL = 0.05
"""Point-source stamps extend until the PSF falls below this fraction of the sky noise per pixel."""


@dataclass
class FieldImage:
    """A rendered field: five calibrated frames plus everything the writer and the catalogs need."""

    fid: geo.FieldId
    """Where the field is."""
    cond: geo.FieldConditions
    """PSF, band offsets, time."""
    wcs: list[WCS]
    """Per-band TAN WCS (u g r i z)."""
    images: np.ndarray
    """(5, rows, cols) float32 sky-subtracted images in nanomaggies."""
    calib: np.ndarray
    """(5, cols) float32 nanomaggies per DN for each column (HDU1)."""
    sky_grid: np.ndarray
    """(5, sky rows, sky cols) float32 sky in DN on the 8 x 8 binned grid (HDU2 ALLSKY)."""
    sky_interp: tuple[np.ndarray, np.ndarray]
    """(XINTERP (cols,), YINTERP (rows,)): frame pixel -> sky-grid coordinate (HDU2)."""
    sigma_sky_nmgy: np.ndarray
    """(5,) sky noise per pixel in nanomaggies at the mean calibration."""
    objects: pd.DataFrame
    """Objects that put light on the field, with per-band pixel positions x_b, y_b and fluxes flux_b (nMgy)."""
    cosmic_rays: pd.DataFrame
    """Cosmic-ray tracks: band, x, y (start pixel), length_px, angle_deg, dn_per_px."""
    mantissa_bits: int = 23
    """Mantissa bits kept in ``images`` (FLOATCOMPRESS)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent per step (objects, render, noise, ...)."""


def sky_noise_nmgy(cfg: ImagingSurveyConfig, fwhm_arcsec: np.ndarray) -> np.ndarray:
    """Per-band sky noise per pixel (nMgy) that gives the configured 5-sigma point-source depth."""
    f_lim = mag_to_nmgy(np.array(cfg.depth_5sigma_mag))
    neff = np.array([P.neff_px(f / cfg.pixel_scale_arcsec, cfg.psf) for f in fwhm_arcsec])
    return f_lim / (5.0 * np.sqrt(neff))


def field_objects(seed: int, cfg: ImagingSurveyConfig, fid: geo.FieldId, wcs: list[WCS]) -> pd.DataFrame:
    """Objects of cells k-1, k, k+1 that fall within ``cell_margin_px`` of the r frame, with per-band positions."""
    df = pd.concat([cell_objects(seed, cfg, fid.camcol, fid.k + d) for d in (-1, 0, 1)], ignore_index=True)
    ra, dec = df["ra"].to_numpy(), df["dec"].to_numpy()
    for b, band in enumerate(BANDS):
        x, y = wcs[b].wcs_world2pix(ra, dec, 0)
        df[f"x_{band}"], df[f"y_{band}"] = x, y
    keep = geo.inside_frame(cfg, df["x_r"].to_numpy(), df["y_r"].to_numpy(), margin_px=cfg.cell_margin_px)
    df = df[keep].reset_index(drop=True)
    df["in_frame"] = geo.inside_frame(cfg, df["x_r"].to_numpy(), df["y_r"].to_numpy())
    # Primary: the field whose unique area holds the object; the outer cells -1 and n_fields belong to the end fields.
    first = cfg.camcols.index(fid.camcol) * cfg.n_fields
    df["primary_field_index"] = (first + np.clip(df["cell"].to_numpy(), 0, cfg.n_fields - 1)).astype(np.int32)
    df["primary"] = df["primary_field_index"].to_numpy() == fid.index
    for b, band in enumerate(BANDS):
        df[f"flux_{band}"] = mag_to_nmgy(df[f"mag_{band}"].to_numpy())
    return df


def _positions(df: pd.DataFrame, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer centre pixels (B, 5) x and y and the sub-pixel remainders (B, 5, 2)."""
    x = np.stack([df[f"x_{b}"].to_numpy()[idx] for b in BANDS], axis=1)
    y = np.stack([df[f"y_{b}"].to_numpy()[idx] for b in BANDS], axis=1)
    ix, iy = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    return ix, iy, np.stack([x - ix, y - iy], axis=2)


def render_model(cfg: ImagingSurveyConfig, df: pd.DataFrame, cond: geo.FieldConditions, cd_deg: np.ndarray,
                 sigma_nmgy: np.ndarray) -> np.ndarray:
    """(5, rows, cols) float32 noiseless images (nMgy) of the objects in ``df``.

    Adds columns psf_frac_<band> to ``df``: the PSF-fit flux of each object over its flux (1 for points).
    """
    ny, nx = cfg.shape_px
    images = np.zeros((5, ny, nx), np.float32)
    psf_frac = np.ones((len(df), 5))
    fwhm_px = cond.fwhm_arcsec / cfg.pixel_scale_arcsec
    flux = np.stack([df[f"flux_{b}"].to_numpy() for b in BANDS], axis=1)
    point = df["morphology"].to_numpy() < 0
    # Point sources: stamps out to where the PSF falls below a fraction of the noise, at least 4 FWHM.
    pts = np.flatnonzero(point)
    if len(pts):
        level = POINT_STAMP_LEVEL * np.min(sigma_nmgy / np.maximum(flux[pts], 1e-30), axis=1)
        radius = np.array([P.radius_below(lv, fwhm_px.max(), cfg.psf) for lv in level])
        size = R.choose_size(np.maximum(radius, 4 * fwhm_px.max() + 2))
        for s in np.unique(size):
            for chunk in R.chunks(pts[size == s], int(s), 3):
                ix, iy, frac = _positions(df, chunk)
                st = R.render_points(flux[chunk], frac, fwhm_px, int(s), cfg.psf)
                for b in range(5):
                    R.add_stamps(images[b], st[:, b], ix[:, b], iy[:, b])
    gal = np.flatnonzero(~point)
    if len(gal):
        shape = R.simplify_unresolved({c: df[c].to_numpy()[gal] for c in SHAPE_COLUMNS}, cfg.pixel_scale_arcsec)
        extent_px = G.extent_arcsec(shape) / cfg.pixel_scale_arcsec
        prof = R.choose_size(extent_px)
        size = np.maximum(R.choose_size(extent_px + 3 * fwhm_px.max()), prof)
        smallest = np.minimum(np.where(shape["bt"] > 0, shape["re_bulge_arcsec"], np.inf),
                              np.where(shape["re_disk_arcsec"] > 0, shape["re_disk_arcsec"], np.inf)) / cfg.pixel_scale_arcsec
        os_ = R.choose_os(smallest)
        for key in sorted(set(zip(size.tolist(), prof.tolist(), os_.tolist()))):
            s, pr, o = key
            sel = np.flatnonzero((size == s) & (prof == pr) & (os_ == o))
            for chunk in R.chunks(sel, int(pr), int(o)):
                rows = gal[chunk]
                ix, iy, frac = _positions(df, rows)
                p = {c: v[chunk] for c, v in shape.items()}
                st, ratio = R.render_galaxies(p, flux[rows], frac, fwhm_px, (0, 1, 2, 3, 4), int(s), int(o), cd_deg, cfg.psf, profile_px=int(pr))
                psf_frac[rows] = ratio
                for b in range(5):
                    R.add_stamps(images[b], st[:, b], ix[:, b], iy[:, b])
    for b, band in enumerate(BANDS):
        df[f"psf_frac_{band}"] = psf_frac[:, b]
    return images


def _sky_model(cfg: ImagingSurveyConfig, gen: np.random.Generator, sky_mean_dn: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A gently sloped sky (+-1 % across the frame): the 8x8 grid, XINTERP, YINTERP and the full-resolution sky."""
    ny, nx = cfg.shape_px
    gx, gy = gen.uniform(-0.01, 0.01, 2)
    n_sx = int(np.ceil(nx / SKY_BINNING_PX))
    n_sy = int(np.ceil(ny / SKY_BINNING_PX)) + 5
    x_interp = (np.arange(nx) - 3.5) / SKY_BINNING_PX  # the real frames' XINTERP starts at -0.4375
    y_interp = (np.arange(ny) + 4.5) / SKY_BINNING_PX  # and YINTERP at 0.5625

    def level(xs, ys):  # sky as a function of sky-grid coordinates
        return sky_mean_dn * (1.0 + gx * (xs - n_sx / 2) / n_sx + gy * (ys - n_sy / 2) / n_sy)

    grid = level(np.arange(n_sx)[None, :], np.arange(n_sy)[:, None]).astype(np.float32)
    full = level(x_interp[None, :], y_interp[:, None])  # linear, so bilinear interpolation of the grid is exact
    return grid, x_interp.astype(np.float32), y_interp.astype(np.float32), full


def _bleed(counts: np.ndarray, saturation: float) -> np.ndarray:
    """Clip pixels at ``saturation`` and move their excess charge up and down the column (in place); the mask of touched pixels."""
    ny = counts.shape[0]
    touched = np.zeros(counts.shape, bool)
    cols = np.flatnonzero((counts > saturation).any(axis=0))
    for c in cols:
        col = counts[:, c]
        over = col > saturation
        excess = float((col[over] - saturation).sum())
        col[over] = saturation
        rows = np.flatnonzero(over)
        lo, hi = rows.min(), rows.max()
        # Fill pixels above and below the saturated run to the saturation level until the excess is spent.
        while excess > 0 and (lo > 0 or hi < ny - 1):
            for r in (lo - 1, hi + 1):
                if 0 <= r < ny and excess > 0:
                    room = saturation - col[r]
                    take = min(max(room, 0.0), excess)
                    col[r] += take
                    excess -= take
            lo, hi = max(lo - 1, 0), min(hi + 1, ny - 1)
        touched[:, c] = col >= saturation
    return touched


CR_COLUMNS = ("band", "x", "y", "length_px", "angle_deg", "dn_per_px")


def _cosmic_rays(gen: np.random.Generator, cfg: ImagingSurveyConfig, band: int) -> pd.DataFrame:
    ny, nx = cfg.shape_px
    n = gen.poisson(cfg.cosmic_rays_per_frame * ny * nx / (1489 * 2048))
    return pd.DataFrame(
        {
            "band": np.full(n, BANDS[band], dtype=object),
            "x": gen.uniform(0, nx - 1, n),
            "y": gen.uniform(0, ny - 1, n),
            "length_px": gen.uniform(1.0, 15.0, n),
            "angle_deg": gen.uniform(0.0, 180.0, n),
            "dn_per_px": gen.uniform(200.0, 3000.0, n),
        }
    )


def _add_cosmic_rays(counts: np.ndarray, crs: pd.DataFrame) -> None:
    ny, nx = counts.shape
    for x0, y0, length, ang, dn in crs[["x", "y", "length_px", "angle_deg", "dn_per_px"]].to_numpy():
        steps = np.arange(0.0, length + 1e-9, 0.5)
        xs = np.rint(x0 + steps * np.cos(np.radians(ang))).astype(np.int64)
        ys = np.rint(y0 + steps * np.sin(np.radians(ang))).astype(np.int64)
        ok = (xs >= 0) & (xs < nx) & (ys >= 0) & (ys < ny)
        pix = np.unique(ys[ok] * nx + xs[ok])  # a pixel crossed twice gets the deposit once
        counts.flat[pix] += dn


def truncate_mantissa(a: np.ndarray, bits: int) -> np.ndarray:
    """float32 values rounded to ``bits`` stored mantissa bits (SDSS FLOATCOMPRESS keeps 9 + the implicit one).

    Rounding (not chopping) keeps the mean flux unbiased; the relative error is <= 2^-(bits+1),
    0.1 % for 9 bits, far below the noise. bzip2 then compresses a frame about 3.5 times.
    """
    if bits >= 23:
        return a.astype(np.float32)
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    drop = 23 - bits
    half = np.uint32(1 << (drop - 1))
    mask = np.uint32((0xFFFFFFFF >> drop) << drop)
    out = ((u + half) & mask).view(np.float32)
    return np.where(np.isfinite(a), out, a).astype(np.float32)


def render_field(seed: int, cfg: ImagingSurveyConfig, index: int) -> FieldImage:
    """Render field ``index`` (0 .. n_fields * n_camcols - 1) of the survey ``seed``: same inputs, same bytes."""
    t0 = time.perf_counter()
    fid = geo.field_id(cfg, index)
    cond = geo.field_conditions(seed, cfg, fid)
    wcs = [geo.band_wcs(cfg, fid, b, cond) for b in range(5)]
    df = field_objects(seed, cfg, fid, wcs)
    t1 = time.perf_counter()
    sigma = sky_noise_nmgy(cfg, cond.fwhm_arcsec)
    model = render_model(cfg, df, cond, wcs[2].wcs.cd, sigma)
    t2 = time.perf_counter()
    ny, nx = cfg.shape_px
    images = np.empty((5, ny, nx), np.float32)
    calib = np.empty((5, nx), np.float32)
    sky_grids, crs_all, saturated = [], [], np.zeros((len(df), 5), bool)
    x_interp = y_interp = None
    for b in range(5):
        gen = np.random.default_rng([int(seed), geo.NOISE_STREAM, fid.camcol, fid.k + 1, b])
        nmgy = cfg.nmgy_per_count[b]
        # A ~1 % flat-field-like shape of the calibration along the columns, as in the real HDU1.
        amp, ph = gen.uniform(0.003, 0.01), gen.uniform(0, 2 * np.pi)
        cal = nmgy * (1.0 + amp * np.sin(2 * np.pi * np.arange(nx) / nx + ph))
        calib[b] = cal
        sigma_dn = sigma[b] / nmgy
        sky_mean = max(cfg.gain[b] * (sigma_dn**2 - cfg.dark_variance_dn2[b]), 1.0)
        grid, x_interp, y_interp, sky = _sky_model(cfg, gen, sky_mean)
        sky_grids.append(grid)
        counts = model[b].astype(np.float64) / cal[None, :] + sky
        touched = _bleed(counts, cfg.saturation_dn)
        if len(df):
            xi = np.clip(np.rint(df[f"x_{BANDS[b]}"].to_numpy()).astype(np.int64), 0, nx - 1)
            yi = np.clip(np.rint(df[f"y_{BANDS[b]}"].to_numpy()).astype(np.int64), 0, ny - 1)
            saturated[:, b] = touched[yi, xi] & df["in_frame"].to_numpy()
        if not cfg.noiseless:
            var = np.maximum(counts, 0.0) / cfg.gain[b] + cfg.dark_variance_dn2[b]
            counts += np.sqrt(var) * gen.standard_normal((ny, nx), dtype=np.float32)
            crs = _cosmic_rays(gen, cfg, b)
            _add_cosmic_rays(counts, crs)
            crs_all.append(crs)
            # The ADC gives whole DN: the real frames are integer DN minus the interpolated sky, times calib.
            np.rint(counts, out=counts)
        images[b] = truncate_mantissa((counts - sky) * cal[None, :], cfg.float_mantissa_bits)
    t3 = time.perf_counter()
    df["saturated_bands"] = (saturated * (1 << np.arange(5))).sum(axis=1).astype(np.int16)
    crs = pd.concat(crs_all, ignore_index=True) if crs_all else pd.DataFrame({c: [] for c in CR_COLUMNS})
    return FieldImage(
        fid=fid, cond=cond, wcs=wcs, images=images, calib=calib, sky_grid=np.stack(sky_grids),
        sky_interp=(x_interp, y_interp), sigma_sky_nmgy=sigma, objects=df, cosmic_rays=crs, mantissa_bits=cfg.float_mantissa_bits,
        seconds={"objects": t1 - t0, "render": t2 - t1, "noise": t3 - t2},
    )

"""Rendered fields against independent references: bytes, depth (astropy Moffat PSF), astrometry (photutils
centroids through the written headers' WCS), aperture photometry, saturation, cosmic rays, overlaps."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from astropy.convolution import discretize_model
from astropy.io import fits
from astropy.modeling.models import Moffat2D
from astropy.wcs import WCS

from skysift.synth.imaging import fits_frames, frames, objects
from skysift.synth.imaging.bands import BANDS
from skysift.synth.imaging.catalogs import field_catalogs

SEED = 7  # the seed of the conftest fixtures


def _wcs(header) -> WCS:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RADECSYS is deprecated, as in the real frames
        return WCS(header)


def _moffat_psf(fwhm_px: float, beta: float, half: int = 30) -> np.ndarray:
    """Pixel-integrated Moffat from astropy.modeling (FWHM = 2 gamma sqrt(2^(1/beta) - 1))."""
    gamma = fwhm_px / (2 * np.sqrt(2 ** (1 / beta) - 1))
    m = Moffat2D(amplitude=1.0, x_0=0.0, y_0=0.0, gamma=gamma, alpha=beta)
    p = discretize_model(m, (-half, half + 1), (-half, half + 1), mode="oversample", factor=10)
    return p / p.sum()


def test_same_seed_same_bytes_and_order_independent(cfg, field):
    objects._cell_objects_cached.cache_clear()
    frames.render_field(SEED, cfg, 2)  # another field first: the cache must not matter
    again = frames.render_field(SEED, cfg, 1)
    for b in range(5):
        assert fits_frames.frame_bytes(field, b, SEED, compress=False) == fits_frames.frame_bytes(again, b, SEED, compress=False)
    other = frames.render_field(SEED + 1, cfg, 1)
    assert not np.array_equal(other.images, field.images)


def test_sky_noise_gives_configured_depth(cfg, field, tmp_path):
    """Forced PSF photometry at blank positions scatters by F_lim / 5 (5-sigma limits within 0.1 mag)."""
    paths = fits_frames.write_field(field, tmp_path, SEED, compress=True)
    truth = field.objects
    rng = np.random.default_rng(0)
    ny, nx = cfg.shape_px
    for b, path in enumerate(paths):
        with fits.open(path) as hdul:
            img = hdul[0].data.astype(np.float64)
            fwhm_px = hdul[0].header["PSFWIDTH"] / cfg.pixel_scale_arcsec
            w = _wcs(hdul[0].header)
        psf = _moffat_psf(fwhm_px, cfg.psf.moffat_beta, half=15)
        x, y = w.wcs_world2pix(truth["ra"], truth["dec"], 0)
        cand = rng.uniform([20, 20], [nx - 21, ny - 21], (4000, 2))
        d2 = (cand[:, None, 0] - x[None]) ** 2 + (cand[:, None, 1] - y[None]) ** 2
        blank = cand[(d2 > 15**2).all(axis=1)][:400]
        assert len(blank) >= 200
        fluxes = []
        for cx, cy in np.rint(blank).astype(int):
            cut = img[cy - 15 : cy + 16, cx - 15 : cx + 16]
            fluxes.append((cut * psf).sum() / (psf**2).sum())
        fluxes = np.array(fluxes)
        mad_sigma = 1.4826 * np.median(np.abs(fluxes - np.median(fluxes)))
        depth = 22.5 - 2.5 * np.log10(5 * mad_sigma)
        assert abs(depth - cfg.depth_5sigma_mag[b]) < 0.1, (BANDS[b], depth)


@pytest.fixture(scope="module")
def bright(bright_cfg, tmp_path_factory):
    fi = frames.render_field(SEED, bright_cfg, 1)
    out = tmp_path_factory.mktemp("bright")
    paths = fits_frames.write_field(fi, out, SEED, compress=True)
    return fi, paths, field_catalogs(SEED, bright_cfg, fi)


def _isolated_stars(fi, cfg, r_max: float, radius_px: float = 15.0):
    t = fi.objects
    x, y = t["x_r"].to_numpy(), t["y_r"].to_numpy()
    ny, nx = cfg.shape_px
    star = (t["class"] == "STAR").to_numpy() & (t["mag_r"].to_numpy() < r_max) & (t["saturated_bands"].to_numpy() == 0)
    edge = (x > radius_px + 5) & (x < nx - radius_px - 6) & (y > radius_px + 5) & (y < ny - radius_px - 6)
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    np.fill_diagonal(d, np.inf)
    # no neighbour within 2 radii brighter than 4 mag fainter than the star (< 2.5 % of its light)
    bright_nb = t["mag_r"].to_numpy()[None, :] < t["mag_r"].to_numpy()[:, None] + 4
    lonely = ~((d < 2 * radius_px) & bright_nb).any(axis=1)
    cr = fi.cosmic_rays[["x", "y"]].to_numpy()
    no_cr = np.hypot(x[:, None] - cr[None, :, 0], y[:, None] - cr[None, :, 1]).min(axis=1, initial=np.inf) > radius_px + 20
    return t[star & edge & lonely & no_cr]


def test_wcs_puts_bright_star_centroids_within_a_tenth_pixel(bright, bright_cfg):
    from photutils.centroids import centroid_2dg

    fi, paths, _ = bright
    stars = _isolated_stars(fi, bright_cfg, r_max=18.0)
    assert len(stars) >= 10
    for b, path in enumerate(paths):
        with fits.open(path) as hdul:
            img = hdul[0].data.astype(np.float64)
            w = _wcs(hdul[0].header)
        # Bright in this band: PSF S/N > 100 (a red star of r = 17 is u ~ 21).
        snr = stars[f"flux_{BANDS[b]}"].to_numpy() / (10 ** (-0.4 * (bright_cfg.depth_5sigma_mag[b] - 22.5)) / 5)
        sel = stars[snr > 100]
        assert len(sel) >= 4, BANDS[b]
        x, y = w.wcs_world2pix(sel["ra"].to_numpy(), sel["dec"].to_numpy(), 0)
        err = []
        for xx, yy in zip(x, y):
            cx, cy = int(round(xx)), int(round(yy))
            cut = img[cy - 7 : cy + 8, cx - 7 : cx + 8]
            mx, my = centroid_2dg(cut)
            err.append(np.hypot(cx - 7 + mx - xx, cy - 7 + my - yy))
        assert np.max(err) < 0.1, (BANDS[b], np.max(err))


def test_aperture_photometry_of_bright_stars_matches_catalogued_flux(bright, bright_cfg):
    from photutils.aperture import CircularAperture, aperture_photometry

    fi, paths, cats = bright
    photo = cats["photoobj"].to_pandas().set_index("object_id")
    stars = _isolated_stars(fi, bright_cfg, r_max=17.5, radius_px=17.0)
    stars = stars[stars["object_id"].isin(photo.index)]
    assert len(stars) >= 10
    for b, band in enumerate(("u", "g", "r", "i", "z")):
        with fits.open(paths[b]) as hdul:
            img = hdul[0].data.astype(np.float64)
            w = _wcs(hdul[0].header)
            radius = 4 * hdul[0].header["PSFWIDTH"] / bright_cfg.pixel_scale_arcsec
        x, y = w.wcs_world2pix(stars["ra"].to_numpy(), stars["dec"].to_numpy(), 0)
        phot = aperture_photometry(img, CircularAperture(np.column_stack([x, y]), r=radius))
        catalogued = photo.loc[stars["object_id"], f"psfFlux_{band}"].to_numpy()
        snr_ok = catalogued > 40 * fi.sigma_sky_nmgy[b] * radius  # aperture noise below 2.5 %
        ratio = np.asarray(phot["aperture_sum"])[snr_ok] / catalogued[snr_ok]
        assert snr_ok.sum() >= 5, band
        assert np.all(np.abs(ratio - 1) < 0.04), (band, ratio)


def test_saturated_stars_bleed_and_conserve_charge(make_config):
    small_config = make_config
    pop = dataclasses.replace(small_config().population, star_density_per_deg2=1500.0, star_mag_min=10.5, star_mag_max=12.5,
                              galaxy_density_bright_per_deg2=0.0, qso_density_per_deg2=0.0, spec_density_per_deg2=0.0)
    cfg = small_config(population=pop, noiseless=True, float_mantissa_bits=23)
    fi = frames.render_field(SEED, cfg, 1)
    t = fi.objects
    sat = t[(t["saturated_bands"] & 4).to_numpy() > 0]
    assert len(sat) >= 3
    ny, nx = cfg.shape_px
    checked = 0
    for _, s in sat.iterrows():
        x, y = int(round(s["x_r"])), int(round(s["y_r"]))
        dn = fi.images[2][:, x] / fi.calib[2][x] + fi.sky_grid[2].mean()
        assert dn.max() <= cfg.saturation_dn * 1.001
        run = np.flatnonzero(dn >= cfg.saturation_dn * 0.99)
        # The bleed trail runs along the column (the scan direction, y), far beyond the star's core.
        assert run.max() - run.min() > 8
        others = t[(np.abs(t["x_r"] - x) < 60) & (t["object_id"] != s["object_id"])]
        if 30 < x < nx - 30 and run.min() > 0 and run.max() < ny - 1 and others.empty:
            # Charge moved along the column, not lost: the columns around the star hold its flux.
            assert fi.images[2][:, x - 25 : x + 26].sum() == pytest.approx(s["flux_r"], rel=0.02)
            checked += 1
    assert checked >= 1


def test_cosmic_rays_are_sharp_and_catalogued(field, cfg):
    crs = field.cosmic_rays
    assert len(crs) > 0.5 * 5 * cfg.cosmic_rays_per_frame * np.prod(cfg.shape_px) / (1489 * 2048)
    r = crs[crs["band"] == "r"]
    hits = []
    for x0, y0 in r[["x", "y"]].to_numpy():
        hits.append(field.images[2][int(round(y0)), int(round(x0))] / float(np.median(field.calib[2])))
    # A deposit of >= 200 DN on one pixel stands far above the sky noise (~9 DN in r).
    assert np.median(hits) > 150


def test_adjacent_fields_overlap_by_the_configured_rows(cfg, field):
    nxt = frames.render_field(SEED, cfg, 2)
    ra, dec = field.wcs[2].wcs_pix2world([[300.0, 390.0]], 0)[0]
    x2, y2 = nxt.wcs[2].wcs_world2pix([[ra, dec]], 0)[0]
    assert x2 == pytest.approx(300.0, abs=1e-6) and y2 == pytest.approx(390.0 - cfg.field_step_rows, abs=1e-3)
    overlap = (cfg.shape_px[0] - cfg.field_step_rows) / cfg.shape_px[0]
    assert 0.08 <= overlap <= 0.12
    # Objects in the overlap are the same objects, with the same truth, in both fields.
    a = field.objects.set_index("object_id")
    b = nxt.objects.set_index("object_id")
    both = a.index[a["in_frame"]].intersection(b.index[b["in_frame"]])
    assert len(both) >= 3
    for col in ("ra", "dec", "mag_r", "re_arcsec", "morphology"):
        np.testing.assert_array_equal(a.loc[both, col].to_numpy(), b.loc[both, col].to_numpy())
    assert (a.loc[both, "primary"].to_numpy() != b.loc[both, "primary"].to_numpy()).all()


def test_band_wcs_offsets_are_a_few_pixels(field, cfg):
    ra, dec = field.wcs[2].wcs_pix2world([[300.0, 200.0]], 0)[0]
    offsets = [np.hypot(*(field.wcs[b].wcs_world2pix([[ra, dec]], 0)[0] - [300.0, 200.0])) for b in range(5)]
    assert offsets[2] == pytest.approx(0.0, abs=1e-9)
    others = np.array(offsets[:2] + offsets[3:])
    assert np.all(others > 0.05) and np.all(others <= cfg.band_offset_max_px * np.sqrt(2) + 0.5)


def test_blends_and_all_morphologies_on_the_sky(cfg):
    import pandas as pd

    df = pd.concat([objects.cell_objects(SEED, cfg, 1, k) for k in range(12)], ignore_index=True)
    gal = df[df["class"] == "GALAXY"]
    assert set(gal["morphology"].unique()) == set(range(10))
    nb = df[df["blend_host_id"] >= 0]
    host = df.set_index("object_id").loc[nb["blend_host_id"]]
    sep = np.hypot((nb["ra"].to_numpy() - host["ra"].to_numpy()) * np.cos(np.radians(host["dec"].to_numpy())),
                   nb["dec"].to_numpy() - host["dec"].to_numpy()) * 3600
    assert len(nb) > 5 and np.all((sep > 0.99) & (sep < 3.01))

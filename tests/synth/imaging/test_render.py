"""The stamp renderer and the PSFs against analytic references (astropy models, Gaussian convolution algebra)."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.modeling.models import Moffat2D
from scipy.special import erf

from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging import psf as P
from skysift.synth.imaging import render as R
from skysift.synth.imaging.config import PSFConfig
from skysift.synth.imaging.objects import SHAPE_COLUMNS

CD = np.array([[0.0, 0.396], [0.396, 0.0]]) / 3600.0  # SDSS orientation, deg per pixel


def _gauss_pixels(size, cx, cy, sigma):
    """Exact pixel integrals of a unit 2-D Gaussian centred at (cx, cy) (pixel centres at integers)."""
    e = np.arange(size + 1) - 0.5
    fx = np.diff(0.5 * (1 + erf((e - cx) / (np.sqrt(2) * sigma))))
    fy = np.diff(0.5 * (1 + erf((e - cy) / (np.sqrt(2) * sigma))))
    return fy[:, None] * fx[None, :]


def _shape(n=1, **kw):
    p = {c: np.zeros(n) for c in SHAPE_COLUMNS}
    p.update(bt=np.ones(n), n_bulge=np.full(n, 4.0), q_bulge=np.ones(n), re_bulge_arcsec=np.ones(n), pa_deg=np.zeros(n))
    p["clump_seed"] = np.zeros(n, np.int64)
    p.update({k: np.full(n, v, dtype=float) for k, v in kw.items()})
    return p


def test_moffat_profile_matches_astropy():
    cfg = PSFConfig(moffat_beta=3.5)
    fwhm = 3.2
    gamma = fwhm / (2 * np.sqrt(2 ** (1 / 3.5) - 1))
    r = np.linspace(0, 12, 50)
    ref = Moffat2D(amplitude=1, x_0=0, y_0=0, gamma=gamma, alpha=3.5)(r, 0)
    ours = P.profile(r, fwhm, cfg)
    np.testing.assert_allclose(ours / ours[0], ref / ref[0], rtol=1e-10)
    assert P.profile(np.array([fwhm / 2]), fwhm, cfg)[0] / ours[0] == pytest.approx(0.5, rel=1e-10)
    # Unit integral.
    rr = np.linspace(0, 2000, 2_000_001)
    assert np.trapezoid(2 * np.pi * rr * P.profile(rr, fwhm, cfg), rr) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("frac", [(0.0, 0.0), (0.31, -0.42), (-0.5, 0.27)])
def test_point_source_is_the_pixel_integrated_gaussian(frac):
    cfg = PSFConfig(profile="gaussian")
    fwhm = 3.0
    st = R.render_points(np.array([[100.0]]), np.array([[frac]]), np.array([fwhm]), 48, cfg)[0, 0]
    ref = 100.0 * _gauss_pixels(48, 24 + frac[0], 24 + frac[1], fwhm / 2.3548)
    # 3 x 3 samples per pixel (midpoint rule) against exact erf integrals: ~0.5 % of the peak.
    assert np.abs(st - ref).max() < 0.01 * ref.max()
    assert st.sum() == pytest.approx(100.0, rel=1e-5)


def test_gaussian_galaxy_convolves_like_gaussians():
    """A Sersic n = 0.5 bulge is a Gaussian (sigma = R_e / 1.1774): with a Gaussian PSF the stamp is a Gaussian of
    sigma^2 = sigma_g^2 + sigma_p^2 (the algebra of convolution): to 2 % of the peak without oversampling
    (the PSF sampled at pixel centres), 1 % with 3 x 3."""
    cfg = PSFConfig(profile="gaussian")
    re_px = 3.0
    p = _shape(n_bulge=0.5, re_bulge_arcsec=re_px * 0.396)
    fwhm = 3.0
    for os in (1, 3):
        st, ratio = R.render_galaxies(p, np.array([[1.0]]), np.array([[[0.2, -0.3]]]), np.array([fwhm]), (2,), 64, os, CD, cfg, profile_px=48)
        sg, sp = re_px / 1.1774, fwhm / 2.3548
        ref = _gauss_pixels(64, 32.2, 31.7, np.hypot(sg, sp))
        assert np.abs(st[0, 0] - ref).max() < (0.02 if os == 1 else 0.01) * ref.max(), os
        # PSF-fit fraction of a Gaussian galaxy: 2 sp^2 / (sg^2 + 2 sp^2).
        assert ratio[0, 0] == pytest.approx(2 * sp**2 / (sg**2 + 2 * sp**2), rel=0.02)


def _truncated_r50(n: float) -> float:
    """Half-light radius (units of R_e) of a Sersic profile tapered to 0 between T - 1 and T R_e (smoothstep),
    T = 4 (n = 1) ... 8 (n = 4) as the SDSS exp / deV models, by 1-D radial integration."""
    b = 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n**2)
    t = min(max(4 + (n - 1) * 4 / 3, 4), 8)
    x = np.linspace(0, t, 400001)
    s = np.clip(t - x, 0, 1)
    f = np.exp(-b * (x ** (1 / n) - 1)) * s * s * (3 - 2 * s) * 2 * np.pi * x
    cum = np.cumsum(f)
    return float(x[np.searchsorted(cum, 0.5 * cum[-1])])


@pytest.mark.parametrize("n,tol", [(1.0, 0.02), (4.0, 0.03)])
def test_half_light_radius_of_rendered_sersic(n, tol):
    re_px = 8.0
    p = _shape(n_bulge=n, re_bulge_arcsec=re_px * 0.396)
    cfg = PSFConfig(profile="gaussian", fwhm_min_arcsec=0.3)
    st, _ = R.render_galaxies(p, np.array([[1.0]]), np.zeros((1, 1, 2)), np.array([1.0]), (2,), 192, 3, CD, cfg)
    img = st[0, 0]
    yy, xx = np.mgrid[:192, :192]
    r = np.hypot(xx - 96, yy - 96).ravel()
    order = np.argsort(r)
    cum = np.cumsum(img.ravel()[order])
    r50 = r[order][np.searchsorted(cum, 0.5 * cum[-1])]
    # Truncation (4 R_e for n = 1, 8 R_e for n = 4, as SDSS) shrinks R_e of the model: 1 % (n = 1), 10 % (n = 4).
    assert r50 == pytest.approx(re_px * _truncated_r50(n), rel=tol)


def test_position_angle_and_axis_ratio_on_the_sky():
    """A PA = 0 galaxy is elongated north-south; with x -> +Dec that is along the columns (x)."""
    p = _shape(n_bulge=1.0, q_bulge=0.3, re_bulge_arcsec=4.0, pa_deg=0.0)
    st, _ = R.render_galaxies(p, np.array([[1.0]]), np.zeros((1, 1, 2)), np.array([2.5]), (2,), 96, 1, CD, PSFConfig())
    img = st[0, 0]
    yy, xx = np.mgrid[:96, :96] - 48
    var_x, var_y = (img * xx**2).sum(), (img * yy**2).sum()
    assert var_x > 4 * var_y
    p["pa_deg"] = np.array([90.0])  # east-west: along the rows (y -> +RA)
    st, _ = R.render_galaxies(p, np.array([[1.0]]), np.zeros((1, 1, 2)), np.array([2.5]), (2,), 96, 1, CD, PSFConfig())
    img = st[0, 0]
    assert (img * yy**2).sum() > 4 * (img * xx**2).sum()


def test_every_class_renders_finite_unit_flux():
    gen = np.random.default_rng(0)
    shape = G.morphology(gen, np.arange(10), np.full(10, 3.0))
    st, ratio = R.render_galaxies(shape, np.ones((10, 5)), np.zeros((10, 5, 2)), np.full(5, 3.0), (0, 1, 2, 3, 4), 128, 1, CD, PSFConfig())
    assert np.isfinite(st).all() and np.allclose(st.sum(axis=(2, 3)), 1.0, rtol=1e-4)
    assert np.all((ratio > 0) & (ratio < 1))
    # Colour gradients: bulges are redder, arms bluer, so the u and z images differ in shape.
    assert not np.allclose(st[:, 0], st[:, 4], atol=1e-4)


def test_add_stamps_clips_at_edges():
    img = np.zeros((10, 12), np.float32)
    R.add_stamps(img, np.ones((2, 4, 4), np.float32), np.array([0, 11]), np.array([0, 9]))
    # centre (0, 0): columns / rows 0-1 survive (2 x 2); centre (11, 9): columns 9-11, rows 7-9 (3 x 3)
    assert img.sum() == 4 + 9

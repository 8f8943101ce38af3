"""images.astrometry on synthetic stars of known sub-pixel position (the truth is the generator's)."""
from __future__ import annotations

import numpy as np

from skysift.images.astrometry import bright_isolated_stars, matched_offsets, moment_centroids


def _stars(shift=(0.0, 0.0), seed=3, n=40, shape=(300, 400), sigma_px=1.3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(30, shape[1] - 30, n)
    y = rng.uniform(30, shape[0] - 30, n)
    keep = np.ones(n, bool)
    for i in range(n):  # drop pairs closer than 20 px, so every star is isolated
        d = np.hypot(x - x[i], y - y[i])
        d[i] = 1e9
        keep[i] = keep[i] and d[:i].min(initial=1e9) > 20 if i else True
    x, y = x[keep], y[keep]
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = rng.normal(0, 0.03, shape).astype(np.float64)
    for xc, yc in zip(x + shift[0], y + shift[1]):
        img += 50.0 * np.exp(-((xx - xc) ** 2 + (yy - yc) ** 2) / (2 * sigma_px**2))
    return img.astype(np.float32), x, y


def test_centroids_recover_sub_pixel_positions():
    img, x, y = _stars()
    fx, fy = bright_isolated_stars(img, peak_range=(5.0, 1e9))
    assert len(fx) >= 0.8 * len(x)
    d = matched_offsets(x, y, fx, fy, max_px=2.0)
    assert len(d) == len(fx) and np.abs(d).max() < 0.05  # sep's windowless centroids: ~0.01 px here
    c = moment_centroids(np.stack([img, img]), x, y, half_px=4)
    assert np.isfinite(c).all()
    np.testing.assert_allclose(c[:, 0, 0], x, atol=0.03)
    np.testing.assert_allclose(c[:, 1, 1], y, atol=0.03)


def test_offsets_between_shifted_images_and_edges():
    a, x, y = _stars()
    b, _, _ = _stars(shift=(3.0, -11.0))
    xa, ya = bright_isolated_stars(a, peak_range=(5.0, 1e9))
    xb, yb = bright_isolated_stars(b, peak_range=(5.0, 1e9))
    d = matched_offsets(xa, ya, xb, yb, max_px=20.0)
    np.testing.assert_allclose(np.median(d, axis=0), [3.0, -11.0], atol=0.05)
    c = moment_centroids(a, np.array([1.0, 200.0]), np.array([150.0, 150.0]))
    assert np.isnan(c[0]).all() and c.shape == (2, 1, 2)  # box past the left edge

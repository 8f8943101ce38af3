"""Aperture photometry against photutils' exact circular overlap and against a constant image's area pi r^2."""
import numpy as np
import pytest

from skysift.images.apertures import aperture_fluxes, aperture_weights


@pytest.mark.parametrize("size_px,radius", [(16, 1.0), (16, 3.7), (8, 0.6), (64, 12.0), (15, 4.0)])
def test_against_photutils_exact(size_px, radius):
    from photutils.aperture import CircularAperture, aperture_photometry

    rng = np.random.default_rng(size_px)
    img = rng.normal(5.0, 1.0, (size_px, size_px))
    c = (size_px - 1) / 2.0
    ref = aperture_photometry(img, CircularAperture((c, c), r=radius), method="exact")["aperture_sum"][0]
    ours = aperture_fluxes(img[None, None], [radius])[0, 0, 0]
    assert ours == pytest.approx(ref, rel=2e-3)


def test_constant_image_gives_the_circle_area_and_shapes():
    img = np.ones((3, 5, 32, 32))
    f = aperture_fluxes(img, [2.0, 5.0, 10.0])
    assert f.shape == (3, 5, 3)
    np.testing.assert_allclose(f[0, 0], np.pi * np.array([2.0, 5.0, 10.0]) ** 2, rtol=1e-3)
    w = aperture_weights(32, [40.0])  # larger than the cutout: every pixel whole
    assert w.sum() == pytest.approx(32 * 32)
    img[0, 0, 0, 0] = np.nan  # a corner pixel, outside r = 10: no effect, and no NaN anywhere
    assert np.isfinite(aperture_fluxes(img, [10.0])).all()
    with pytest.raises(ValueError):
        aperture_weights(8, [0.0])

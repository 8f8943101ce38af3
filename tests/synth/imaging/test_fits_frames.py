"""Synthetic frames have the real SDSS corrected-frame layout (compared with ../shared/data/sdss-imaging)."""
from __future__ import annotations

import bz2
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skysift.synth.imaging import fits_frames, frames

SEED = 7


@pytest.fixture(scope="module")
def full_size_r(tmp_path_factory, make_config):
    """One full-size (1489 x 2048) field; only the r frame is written (bzip2). ~10-20 s with the reads: slow."""
    cfg = make_config(shape_px=(1489, 2048), field_step_rows=1361)
    fi = frames.render_field(SEED, cfg, 0)
    out = tmp_path_factory.mktemp("full")
    (path,) = fits_frames.write_field(fi, out, SEED, bands=("r",))
    return cfg, fi, path


def _open_real(shared_data, band="r"):
    name = {"r": "frame-r-002583-2-0136.fits.bz2", "u": "frame-u-003900-6-0269.fits.bz2"}[band]
    return fits.open(shared_data / "sdss-imaging" / name)


@pytest.mark.slow
def test_layout_matches_real_frame(full_size_r, shared_data):
    cfg, fi, path = full_size_r
    assert path.name == "frame-r-009000-1-0011.fits.bz2"
    assert path.read_bytes()[:3] == b"BZh"  # bzip2 magic, as SDSS distributes frames
    with _open_real(shared_data) as real, fits.open(path) as syn:
        assert len(syn) == len(real) == 4
        assert syn[0].data.shape == real[0].data.shape == (1489, 2048)
        assert syn[0].data.dtype == real[0].data.dtype  # >f4
        assert syn[1].data.shape == real[1].data.shape and syn[1].data.dtype == real[1].data.dtype
        assert syn[2].columns.names == real[2].columns.names
        assert [c.format for c in syn[2].columns] == [c.format for c in real[2].columns]
        assert syn[2].header["TDIM1"].replace(" ", "") == real[2].header["TDIM1"].replace(" ", "")
        assert syn[3].data.dtype.names == real[3].data.dtype.names
        assert [syn[3].data.dtype[n].str for n in syn[3].data.dtype.names] == [real[3].data.dtype[n].str for n in real[3].data.dtype.names]
        keys = ("RUN", "FRAME", "CAMCOL", "FILTER", "EXPTIME", "BUNIT", "NMGY", "NMGYIVAR", "RERUN", "CCDLOC", "SOFTBIAS",
                "RADECSYS", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2",
                "CD1_1", "CD1_2", "CD2_1", "CD2_2", "TAI", "DATE-OBS", "TAIHMS", "CAMROW")
        for k in keys:
            assert k in syn[0].header and k in real[0].header, k
            assert type(syn[0].header[k]) is type(real[0].header[k]), k
        assert syn[0].header["CRPIX1"] == real[0].header["CRPIX1"] and syn[0].header["CRPIX2"] == real[0].header["CRPIX2"]
        assert syn[0].header["CCDLOC"] == 10 + 1  # r is camera row 1: the real camcol-2 r frame has 12
        # The same orientation: columns run along +Dec, rows along +RA, 0.396 arcsec/px.
        for h in (syn[0].header, real[0].header):
            assert h["CD1_2"] > 0 and h["CD2_1"] > 0
            assert abs(h["CD1_1"]) < 1e-6 and abs(h["CD2_2"]) < 1e-6
            assert np.hypot(h["CD1_2"], h["CD1_1"]) * 3600 == pytest.approx(0.396, abs=0.001)
        # Image values are 10-bit floats as in the real frames (their 14 low mantissa bits are zero).
        for hdu in (syn[0], real[0]):
            bits = hdu.data.astype(np.float32).view(np.uint32)
            assert np.all((bits & np.uint32(0x3FFF)) == 0)


@pytest.mark.slow
def test_counts_are_image_over_calib_plus_sky(full_size_r):
    """DN = image / calib + sky (HDU2 interpolated with XINTERP / YINTERP) are whole numbers, as in real frames."""
    from scipy.ndimage import map_coordinates

    cfg, fi, path = full_size_r
    with fits.open(path) as h:
        img, cal, sky = h[0].data.astype(np.float64), h[1].data.astype(np.float64), h[2].data
        xi, yi = sky["XINTERP"][0], sky["YINTERP"][0]
        yy, xx = np.meshgrid(yi[:200], xi, indexing="ij")
        s = map_coordinates(sky["ALLSKY"][0].astype(np.float64), [yy, xx], order=1, mode="nearest")
        dn = img[:200] / cal[None, :] + s
    frac = np.abs(dn - np.rint(dn))
    # 10-bit floats carry ~1e-3 relative precision: whole DN to within 0.02 DN + 2e-3 |value|
    assert np.median(frac) < 0.05
    assert fi.sky_grid[2].min() <= s.min() and s.max() <= fi.sky_grid[2].max()


@pytest.mark.slow
def test_astropy_opens_and_wcs_matches_render(full_size_r):
    cfg, fi, path = full_size_r
    with fits.open(path) as h, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = WCS(h[0].header)
    stars = fi.objects[(fi.objects["class"] == "STAR") & fi.objects["in_frame"]]
    x, y = w.wcs_world2pix(stars["ra"].to_numpy(), stars["dec"].to_numpy(), 0)
    np.testing.assert_allclose(x, stars["x_r"].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(y, stars["y_r"].to_numpy(), atol=1e-6)


def test_uncompressed_and_compressed_are_the_same_file(cfg, field, tmp_path):
    a = fits_frames.frame_bytes(field, 0, SEED, compress=False)
    b = fits_frames.frame_bytes(field, 0, SEED, compress=True)
    assert bz2.decompress(b) == a
    assert len(a) % 2880 == 0

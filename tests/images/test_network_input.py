"""Image rows -> encoder input: the Lupton stretch against astropy, surface-brightness scaling, rejects;
the real SDSS cutouts as a cutouts table."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from skysift.images.cutout_table import read_sdss_cutouts, stamps_with_positions
from skysift.images.network_input import id_column, lupton_unit, network_input
from skysift.synth.imaging.config import StampConfig
from skysift.synth.imaging.stamps import stamp_batch, stamps_table, to_uint8_rgb


@pytest.fixture(scope="module")
def batch():
    return stamp_batch(3, StampConfig(size_px=64, galaxy_re_range_px=(2.5, 9.0)), 0, 6)


def test_lupton_matches_astropy(batch):
    ref = to_uint8_rgb(batch.images).transpose(0, 3, 1, 2).astype(np.float64)  # astropy make_lupton_rgb
    ours = lupton_unit(batch.images) * 255.0
    diff = np.abs(ours - ref)
    assert diff.max() <= 1.0 + 1e-4  # float32 vs float64 arithmetic can move a value across an 8-bit step
    assert (diff > 0).mean() < 0.01
    assert 0.0 <= ours.min() and ours.max() <= 255.0


def _table(images, bands="grz", scale=0.262, ids=None):
    n, nb, s, _ = images.shape
    return pa.table({"image_id": ids or [f"i{k}" for k in range(n)], "bands": [bands] * n,
                     "size_px": pa.array([s] * n, pa.int16()), "pixel_scale_arcsec": pa.array([scale] * n, pa.float32()),
                     "pixels": pa.array(list(images.reshape(n, -1)), type=pa.list_(pa.float32()))})


def test_rows_resized_and_bad_rows_rejected(batch):
    t = stamps_table(batch, 0.262)
    good, x, reasons = network_input(t, 32)
    assert list(good) == list(range(6)) and x.shape == (6, 3, 32, 32) and all(r is None for r in reasons)
    img = batch.images.copy()
    img[1, 0, 3, 3] = np.nan
    rows = pa.concat_tables([_table(img[:3]), _table(img[3:4, :2], bands="gr"),
                             _table(np.zeros((1, 3, 8, 8), np.float32)),
                             _table(img[4:5]).set_column(4, "pixels", pa.array([list(np.zeros(5, np.float32))],
                                                                                 type=pa.list_(pa.float32())))])
    good, x, reasons = network_input(rows, 64)
    assert list(good) == [0, 2]
    assert "1 non-finite pixels" in reasons[1]
    assert "needs g, r, z" in reasons[3] and "missing z" in reasons[3]
    assert "below the minimum 16 px" in reasons[4]
    assert "pixels has 5 values, expected 3 bands x 64 x 64" in reasons[5]


def test_surface_brightness_scaling_makes_binned_stamps_match(batch):
    """A 2 x 2 binned stamp (flux summed, pixel 0.524") looks like the original (mean surface brightness)."""
    summed = batch.images.reshape(6, 3, 32, 2, 32, 2).sum((3, 5))
    _, a, _ = network_input(_table(summed, scale=0.524), 32, "grz")
    _, b, _ = network_input(_table(batch.images.reshape(6, 3, 32, 2, 32, 2).mean((3, 5)), scale=0.262), 32, "grz")
    assert np.abs(a - b).max() <= 1 / 255 + 1e-6


def test_id_column():
    assert id_column(["stamp_id", "pixels"]) == "stamp_id" and id_column(["image_id", "stamp_id"]) == "image_id"
    assert id_column(["object_id", "ra_deg"]) == "object_id"
    with pytest.raises(ValueError, match="image_id or stamp_id or object_id"):
        id_column(["pixels"])


def test_real_sdss_cutouts(shared_data):
    from astropy.io import fits

    t, skipped = read_sdss_cutouts(str(shared_data / "sdss-imaging"))
    assert t.num_rows == 1 and not skipped
    row = t.to_pylist()[0]
    hdr = fits.getheader(shared_data / "sdss-imaging" / "stamp-r-164.4311-39.0359.fits")
    # CRPIX 26 (1-based) is the central pixel of 51: the position is the header's CRVAL
    assert row["ra_deg"] == pytest.approx(hdr["CRVAL1"], abs=1e-9)
    assert row["dec_deg"] == pytest.approx(hdr["CRVAL2"], abs=1e-9)
    assert row["bands"] == list("ugriz") and row["size_px"] == 51 and row["object_id"] == "sdss-164.4311-39.0359"
    assert row["pixel_scale_arcsec"] == pytest.approx(0.396, abs=1e-3)
    r_plane = np.asarray(row["pixels"]).reshape(5, 51, 51)[2]
    assert np.array_equal(r_plane, fits.getdata(shared_data / "sdss-imaging" / "stamp-r-164.4311-39.0359.fits").astype(np.float32))
    good, x, reasons = network_input(t, 64)
    assert list(good) == [0] and x.shape == (1, 3, 64, 64) and x.max() > 0.5  # the bright star at the centre


def test_stamps_with_positions(batch):
    t = stamps_with_positions(stamps_table(batch, 0.262), np.arange(6.0), np.zeros(6), "c")
    assert t.column("object_id").to_pylist()[:2] == ["c0", "c1"] and t.column("ra_deg").to_pylist()[3] == 3.0
    good, x, _ = network_input(t, 64)  # bands as a list of names, as make-cutouts writes them
    assert list(good) == list(range(6))

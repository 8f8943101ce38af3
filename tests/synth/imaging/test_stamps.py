"""Galaxy10-like stamps: seeded and batch-invariant, all ten classes, labels only in the truth."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from skysift.synth.imaging import stamps
from skysift.synth.imaging.config import GALAXY10_CLASSES, StampConfig

SEED = 5


@pytest.fixture(scope="module")
def batch():
    """300 stamps (~10-25 s on this machine): the tests that use them are marked slow."""
    return stamps.stamp_batch(SEED, StampConfig(), 0, 300)


@pytest.mark.slow
def test_all_ten_classes_present_with_galaxy10_frequencies(batch):
    counts = np.bincount(batch.truth["label"], minlength=10)
    assert (counts > 0).all()
    want = np.array([1081, 1853, 2645, 2027, 334, 2043, 1829, 2628, 1423, 1873]) / 17736
    assert np.all(np.abs(counts / counts.sum() - want) < 4 * np.sqrt(want * (1 - want) / counts.sum()))
    assert list(batch.truth["morphology"].unique()) and set(batch.truth["morphology"]) == set(GALAXY10_CLASSES)


@pytest.mark.slow
def test_shape_and_bands(batch):
    assert batch.images.shape == (300, 3, 256, 256) and batch.images.dtype == np.float32
    assert batch.bands == ("g", "r", "z")
    assert (batch.truth["n_stars"] > 0).mean() > 0.8 and (batch.truth["n_neighbours"] > 0).mean() > 0.7


@pytest.mark.slow
def test_same_seed_same_stamps_whatever_the_batch(batch):
    again = stamps.stamp_batch(SEED, StampConfig(), 290, 5)
    np.testing.assert_array_equal(again.images, batch.images[290:295])
    assert (again.truth["label"].to_numpy() == batch.truth["label"].to_numpy()[290:295]).all()
    other = stamps.stamp_batch(SEED + 1, StampConfig(), 290, 5)
    assert not np.array_equal(other.images, again.images)


def test_central_galaxy_dominates_and_has_its_flux():
    cfg = dataclasses.replace(StampConfig(), noiseless=True, mean_field_stars=0.0, mean_neighbours=0.0)
    b = stamps.stamp_batch(SEED, cfg, 0, 20)
    for k, row in b.truth.iterrows():
        img = b.images[k, 1]
        # All the light of the central galaxy is in the stamp unless it is cut at the edge (big R_e).
        flux = 10 ** (-0.4 * (row["mag_r"] - 22.5))
        assert img.sum() == pytest.approx(flux, rel=1e-3)
        yy, xx = np.mgrid[:256, :256]
        cx, cy = (img * xx).sum() / img.sum(), (img * yy).sum() / img.sum()
        if row["morphology"] in ("round_smooth", "in_between_round_smooth", "cigar_shaped_smooth", "edge_on_without_bulge"):
            assert np.hypot(cx - row["x_px"], cy - row["y_px"]) < 0.5  # symmetric classes: centroid on the centre


@pytest.mark.slow
def test_tables_keep_labels_out_of_the_pixels(batch):
    t = stamps.stamps_table(stamps.StampBatch(batch.stamp_ids[:4], batch.images[:4], batch.truth[:4], batch.bands), 0.262)
    assert "label" not in t.column_names
    pix = np.asarray(t.column("pixels")[2].values).reshape(3, 256, 256)
    np.testing.assert_array_equal(pix, batch.images[2])
    truth = stamps.stamp_truth_table(stamps.StampBatch(batch.stamp_ids[:4], batch.images[:4], batch.truth[:4], batch.bands))
    assert truth.column("label").to_pylist() == batch.truth["label"][:4].tolist()
    rgb = stamps.to_uint8_rgb(batch.images[:2])
    assert rgb.shape == (2, 256, 256, 3) and rgb.dtype == np.uint8 and rgb.max() > 100

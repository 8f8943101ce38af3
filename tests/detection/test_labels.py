"""Magnitude boxes: WCS positions, the binned side table, the r cut, clipping, the petroRad fix; synthetic truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skysift.config import ConfigError
from skysift.detection.labels import MagnitudeBoxConfig, box_side_px, box_table_from_footprints, label_magnitude, magnitude_boxes
from skysift.synth.toy_frames import FieldSpec, field_wcs


def _catalog(ra, dec, mag, kind=6, petro=1.0):
    n = len(ra)
    return pd.DataFrame({"ra": ra, "dec": dec, "type": np.full(n, kind), "psfMag_r": mag, "petroMag_r": np.asarray(mag) + 0.3,
                         "petroRad_r": np.full(n, petro)})


def test_side_table_bins():
    cfg = MagnitudeBoxConfig(mag_edges=(16.0, 20.0), box_px=(30, 12, 6))
    side = box_side_px(np.array([14.0, 16.0, 19.99, 20.0, 22.0]), None, None, cfg)
    np.testing.assert_array_equal(side, [30, 12, 12, 6, 6])


def test_label_magnitude_psf_for_stars_petro_for_galaxies():
    cat = pd.DataFrame({"type": [6, 3], "psfMag_r": [18.0, 19.0], "petroMag_r": [18.5, 19.5]})
    np.testing.assert_array_equal(label_magnitude(cat), [18.0, 19.5])


def test_boxes_centred_on_known_pixels_and_r_cut():
    spec = FieldSpec("t", shape=(200, 300))
    w = field_wcs(spec)
    x = np.array([50.0, 120.3, 250.7, 10.0])
    y = np.array([40.0, 99.6, 150.2, 20.0])
    ra, dec = w.all_pix2world(x, y, 0)
    cfg = MagnitudeBoxConfig(mag_edges=(20.0,), box_px=(20, 10))
    b = magnitude_boxes(_catalog(ra, dec, [18.0, 21.0, 22.2, 22.3]), w, (200, 300), cfg)
    np.testing.assert_array_equal(b.row, [0, 1, 2])  # r = 22.3 > 22.2 dropped, 22.2 kept
    np.testing.assert_allclose(b.x_px, x[:3], atol=1e-6)
    np.testing.assert_allclose(b.y_px, y[:3], atol=1e-6)
    np.testing.assert_allclose(b.x_max - b.x_min, [20, 10, 10])
    np.testing.assert_allclose(b.x_min, x[:3] - [10, 5, 5])


def test_clipping_and_visible_fraction():
    spec = FieldSpec("t", shape=(100, 100))
    w = field_wcs(spec)
    x, y = np.array([2.0, -4.0, 50.0]), np.array([50.0, 50.0, 98.0])
    ra, dec = w.all_pix2world(x, y, 0)
    cfg = MagnitudeBoxConfig(mag_edges=(20.0,), box_px=(20, 20), min_visible_fraction=0.3)
    b = magnitude_boxes(_catalog(ra, dec, [18.0, 18.0, 18.0]), w, (100, 100), cfg)
    # x = -4: box -14..6 -> visible (6 + 0.5) / 20 = 0.325 kept; edges clipped to -0.5 and 99.5
    np.testing.assert_array_equal(b.row, [0, 1, 2])
    np.testing.assert_allclose(b.x_min[:2], [-0.5, -0.5])
    np.testing.assert_allclose(b.x_max[:2], [12.0, 6.0])
    np.testing.assert_allclose(b.y_max[2], 99.5)
    b2 = magnitude_boxes(_catalog(ra, dec, [18.0] * 3), w, (100, 100), MagnitudeBoxConfig(mag_edges=(20.0,), box_px=(20, 20), min_visible_fraction=0.4))
    np.testing.assert_array_equal(b2.row, [0, 2])


def test_large_galaxy_box_from_petro_radius():
    spec = FieldSpec("t", shape=(400, 400))
    w = field_wcs(spec)
    ra, dec = w.all_pix2world([200.0, 200.0], [200.0, 100.0], 0)
    cat = _catalog(ra, dec, [17.0, 17.0], kind=3, petro=10.0)
    cat.loc[1, "type"] = 6  # a star with the same petroRad keeps its table box
    b = magnitude_boxes(cat, w, (400, 400))
    side = b.x_max - b.x_min
    assert side[0] == pytest.approx(4.0 * 10.0 / 0.396)
    assert side[1] == MagnitudeBoxConfig().box_px[3]


def test_footprint_table_median():
    med, count = box_table_from_footprints(np.array([14, 14.5, 15, 15.5, 16]), np.array([10, 12, 7, 9, np.nan]), (15.0,), min_count=2)
    np.testing.assert_array_equal(count, [2, 2])
    np.testing.assert_allclose(med, [11, 8])


def test_synthetic_truth_boxes_hold_true_positions(synth_field):
    po, truth = synth_field["photoobj"], synth_field["truth"]
    b = magnitude_boxes(po, synth_field["wcs_r"], synth_field["stack"].shape[1:])
    assert len(b) > 20
    t = truth.set_index("object_id").loc[po["object_id"].to_numpy()[b.row]]
    # the catalog's positions are measurements: the true centre must lie inside the box
    assert np.all((t["x_r"].to_numpy() >= b.x_min) & (t["x_r"].to_numpy() <= b.x_max))
    assert np.all((t["y_r"].to_numpy() >= b.y_min) & (t["y_r"].to_numpy() <= b.y_max))
    assert np.all(b.mag_r <= 22.2)
    # every catalogued r <= 22.2 source well inside the frame gets a box; no fainter one does
    mag = label_magnitude(po)
    tp = truth.set_index("object_id").loc[po["object_id"].to_numpy()]
    ny, nx = synth_field["stack"].shape[1:]
    inner = (tp["x_r"].to_numpy() > 20) & (tp["x_r"].to_numpy() < nx - 20) & (tp["y_r"].to_numpy() > 20) & (tp["y_r"].to_numpy() < ny - 20)
    expected = np.flatnonzero(inner & (mag <= 22.2))
    assert set(expected) <= set(b.row)
    assert not set(np.flatnonzero(mag > 22.2)) & set(b.row)


def test_bad_config():
    with pytest.raises(ConfigError, match="box_px"):
        MagnitudeBoxConfig(mag_edges=(20.0,), box_px=(10,))
    with pytest.raises(ConfigError, match="increase"):
        MagnitudeBoxConfig(mag_edges=(20.0, 19.0), box_px=(10, 9, 8))

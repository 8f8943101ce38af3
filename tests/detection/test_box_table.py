"""The box-table measurement on toy frames: footprint sides grow with brightness, isolated sources only."""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.detection.box_table import footprints, measure_box_table
from skysift.synth.toy_frames import FieldSpec, field_wcs, render_band


def test_brighter_sources_get_bigger_footprints():
    spec = FieldSpec("b", shape=(200, 400), seed=2)
    w = field_wcs(spec, "r")
    x = np.array([50.0, 150.0, 250.0, 350.0])
    y = np.full(4, 100.0)
    flux = np.array([200.0, 50.0, 10.0, 3.0])
    ra, dec = w.all_pix2world(x, y, 0)
    img = render_band(spec, "r", ra, dec, flux)
    mag = 22.5 - 2.5 * np.log10(flux)
    cat = pd.DataFrame({"ra": ra, "dec": dec, "type": 6, "psfMag_r": mag, "petroMag_r": mag, "petroRad_r": 1.0})
    m, side, iso = footprints(img, w, cat)
    np.testing.assert_allclose(m, mag)
    assert iso.all() and np.all(np.diff(side) < 0)
    med, count, proposed = measure_box_table([(img, w, cat)], (17.0, 19.0, 21.0), margin_px=4.0)
    np.testing.assert_array_equal(count, [1, 1, 1, 1])
    assert np.all(np.isnan(med))  # fewer than 5 per bin: left for a person to fill

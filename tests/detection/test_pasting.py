"""Source pasting: unlabelled sources vanish into the mean background, labelled ones come back pixel for pixel."""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.detection.labels import MagnitudeBoxConfig, magnitude_boxes
from skysift.detection.pasting import PastingConfig, footprint_sides, pasted_image, source_mask, source_segments
from skysift.synth.toy_frames import FieldSpec, field_wcs, render_band, star_positions


def _toy(n=24):
    spec = FieldSpec("p", shape=(256, 256), sky_noise=0.03, seed=5)
    ra, dec, _ = star_positions(spec, n)
    flux = np.full(n, 40.0)
    stack = np.stack([render_band(spec, b, ra, dec, flux) for b in ("g", "r", "i")])
    w = field_wcs(spec, "r")
    x, y = w.all_world2pix(ra, dec, 0)
    return spec, stack, w, ra, dec, np.asarray(x), np.asarray(y)


def test_mask_covers_every_star_and_little_sky():
    _, stack, _, _, _, x, y = _toy()
    mask, bkg = source_mask(stack)
    # registration offsets move g / i stars a few pixels: check the r band position, which every band's union covers
    assert mask[np.rint(y).astype(int), np.rint(x).astype(int)].all()
    # 2 sigma on pure noise with >= 3 connected pixels plus 2 px dilation still leaves most of the sky unmasked
    assert mask.mean() < 0.35
    assert bkg.shape == stack.shape
    assert abs(float(np.median(bkg))) < 0.01


def test_unlabelled_removed_labelled_pasted():
    _, stack, w, ra, dec, x, y = _toy()
    listed = np.arange(len(ra)) % 2 == 0
    cat = pd.DataFrame({"ra": ra[listed], "dec": dec[listed], "type": 6, "psfMag_r": 19.0, "petroMag_r": 19.0, "petroRad_r": 1.0})
    boxes = magnitude_boxes(cat, w, stack.shape[1:], MagnitudeBoxConfig())
    out = pasted_image(stack, boxes)
    r, r0 = out[1], stack[1]
    for xi, yi, keep in zip(x, y, listed):
        j, i = int(round(yi)), int(round(xi))
        if keep:
            assert r[j, i] == r0[j, i]
        else:
            patch = r[j - 2 : j + 3, i - 2 : i + 3]
            # filled with one constant close to the background (0), no star left
            assert np.ptp(patch) == 0.0 and abs(float(patch[0, 0])) < 0.01
    # untouched sky outside the mask and the boxes is the original image
    mask, _ = source_mask(stack)
    np.testing.assert_array_equal(out[:, ~mask], stack[:, ~mask])


def test_threshold_and_min_pixels_follow_config():
    img = np.zeros((64, 64), dtype=np.float32) + np.random.default_rng(0).normal(0, 1.0, (64, 64)).astype(np.float32)
    img[10, 10:12] = 50.0  # 2 connected pixels: below min_pixels 3
    img[40:42, 40:42] = 50.0  # 4 pixels
    labels, _ = source_segments(img, PastingConfig(threshold_sigma=5.0, min_pixels=3, background_box_px=16))
    assert labels[40, 40] > 0 and labels[10, 10] == 0
    labels2, _ = source_segments(img, PastingConfig(threshold_sigma=5.0, min_pixels=2, background_box_px=16))
    assert labels2[10, 10] > 0


def test_footprint_sides_and_isolation():
    labels = np.zeros((20, 20), dtype=np.int32)
    labels[2:5, 2:9] = 1  # 3 x 7
    labels[10:15, 10:14] = 2  # 5 x 4
    side, iso = footprint_sides(labels, np.array([3.0, 5.0, 11.0, 18.0]), np.array([3.0, 3.0, 12.0, 18.0]))
    np.testing.assert_array_equal(side[:3], [7, 7, 5])
    assert np.isnan(side[3])
    np.testing.assert_array_equal(iso, [False, False, True, False])

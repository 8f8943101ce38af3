"""The central source's footprint (images.central_source) against the isophote worked out from a Gaussian
galaxy's profile and the smoothed noise, a field star kept out, and network_input's mask option."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from skysift.images.central_source import DETECT_SIGMA, GROW_PER_SIDE, central_footprint, mask_to_central_source
from skysift.images.network_input import network_input

S = 64
GAL_SIGMA_PX, GAL_PEAK, STAR_AT, STAR_PEAK, NOISE = 4.0, 20.0, (10, 52), 30.0, 1.0


def _gaussian(cy, cx, sigma, peak):
    yy, xx = np.mgrid[:S, :S]
    return peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))


def _field(seed=0):
    """(3, S, S): a round Gaussian galaxy at the centre and a star near a corner in every band, white noise."""
    rng = np.random.default_rng(seed)
    model = _gaussian(S // 2, S // 2, GAL_SIGMA_PX, GAL_PEAK) + _gaussian(*STAR_AT, 1.0, STAR_PEAK)
    return (model[None] + rng.normal(0, NOISE, (3, S, S))).astype(np.float32)


def test_footprint_is_the_central_isophote_grown():
    mask = central_footprint(_field())
    # the isophote where the smoothed 3-band sum meets DETECT_SIGMA x the smoothed noise: smoothing by sigma_s = 1
    # px widens the galaxy to sqrt(16 + 1) px, lowers its peak by 16 / 17, and divides white noise by
    # 2 sqrt(pi) sigma_s; then the growth adds 2 px (a cross-shaped dilation: 2 px along the axes, ~1.4 px on the
    # diagonals)
    sigma_eff2 = GAL_SIGMA_PX ** 2 + 1.0
    peak = 3 * GAL_PEAK * GAL_SIGMA_PX ** 2 / sigma_eff2
    noise_smoothed = np.sqrt(3) * NOISE / (2 * np.sqrt(np.pi))
    r_iso = np.sqrt(2 * sigma_eff2 * np.log(peak / (DETECT_SIGMA * noise_smoothed)))
    r_eq = np.sqrt(mask.sum() / np.pi)
    grow = GROW_PER_SIDE * S
    assert r_iso + 0.5 * grow <= r_eq <= r_iso + grow + 0.5, (r_iso, r_eq)
    assert mask[S // 2, S // 2] and not mask[STAR_AT] and not mask[0, 0] and not mask[-1, -1]


def test_mask_zeroes_outside_keeps_inside():
    img = _field(1)
    out = mask_to_central_source(img[None])[0]
    mask = central_footprint(img)
    assert np.array_equal(out[:, mask], img[:, mask]) and not out[:, ~mask].any()
    assert out[:, STAR_AT[0], STAR_AT[1]].sum() == 0 and img[:, STAR_AT[0], STAR_AT[1]].sum() > 60


def test_nothing_at_the_centre_keeps_the_whole_image():
    rng = np.random.default_rng(2)
    only_star = (_gaussian(*STAR_AT, 1.0, STAR_PEAK)[None] + rng.normal(0, NOISE, (3, S, S))).astype(np.float32)
    assert central_footprint(only_star).all()
    assert central_footprint(np.zeros((3, S, S), np.float32)).all()  # no noise at all: nothing to threshold


def test_the_footprint_scales_with_the_side():
    # the same sky drawn at 4x the side (sigmas x 4, noise per pixel x 4 so the S/N per smoothed beam is kept):
    # the footprint, binned back, is the small image's within a pixel's rim
    big_s = 4 * S
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:big_s, :big_s]
    gal = GAL_PEAK * np.exp(-((yy - big_s / 2) ** 2 + (xx - big_s / 2) ** 2) / (2 * (4 * GAL_SIGMA_PX) ** 2))
    big = (gal[None] + rng.normal(0, 4 * NOISE, (3, big_s, big_s))).astype(np.float32)
    small_mask = central_footprint((gal[None] + rng.normal(0, 4 * NOISE, (3, big_s, big_s)))
                                   .reshape(3, S, 4, S, 4).mean((2, 4)).astype(np.float32))
    big_mask = central_footprint(big).reshape(S, 4, S, 4).mean((1, 3)) > 0.5
    r_small, r_big = np.sqrt(small_mask.sum() / np.pi), np.sqrt(big_mask.sum() / np.pi)
    assert abs(r_small - r_big) <= 1.0, (r_small, r_big)


def _table(images):
    n = len(images)
    return pa.table({"image_id": [f"i{k}" for k in range(n)], "bands": ["grz"] * n,
                     "size_px": pa.array([S] * n, pa.int16()),
                     "pixels": pa.array(list(images.reshape(n, -1)), type=pa.list_(pa.float32()))})


def test_network_input_mask_option():
    imgs = np.stack([_field(4), _field(5)])
    _, whole, _ = network_input(_table(imgs), S)
    good, masked, reasons = network_input(_table(imgs), S, mask="central_source")
    assert list(good) == [0, 1] and all(r is None for r in reasons)
    for i in range(2):
        fp = central_footprint(imgs[i])
        # the stretch is per pixel, so inside the footprint nothing changes, outside it is the stretch of 0
        assert np.array_equal(masked[i][:, fp], whole[i][:, fp])
        assert not masked[i][:, ~fp].any() and whole[i][:, STAR_AT[0], STAR_AT[1]].max() > 0.5
    with pytest.raises(ValueError, match="mask must be"):
        network_input(_table(imgs), S, mask="segment")

"""Classification crops: selection, balance, bilinear resampling (torch reference), augmentation, normalisation, split."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from skysift.detection.crops import (CropConfig, augment, balance_by_class, class_index, crop_sides_px, cut_crops, minmax,
                                     select_labelled, split_indices, zscore, zscore_stats)


def test_select_labelled_rules():
    t = pd.DataFrame({"class": ["GALAXY", "STAR", "QSO", "qso", "UNKNOWN", "STAR"], "zWarning": [0, 0, 4, 0, 0, 0],
                      "type": [3, 6, 6, 6, 6, 6], "psfMag_r": [30.0, 22.2, 18, 18, 18, 22.3], "petroMag_r": [19.0, 30, 30, 30, 30, 30]})
    # galaxy uses petroMag (19), star 22.2 kept, zWarning 4 out, unknown class out, 22.3 out
    np.testing.assert_array_equal(select_labelled(t), [0, 1, 3])


def test_balance_by_class():
    labels = np.array([0] * 50 + [1] * 7 + [2] * 20)
    idx = balance_by_class(labels, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(labels[idx]), [7, 7, 7])
    assert len(np.unique(idx)) == 21


def test_cut_crops_matches_torch_bilinear():
    rng = np.random.default_rng(1)
    stack = rng.normal(size=(3, 200, 200)).astype(np.float32)
    p0, side = 50, 96  # pixels 50..145, left edge 49.5, centre 49.5 + 48
    got = cut_crops(stack, np.array([49.5 + side / 2]), np.array([49.5 + side / 2]), np.array([side]), 48)[0]
    ref = torch.nn.functional.interpolate(torch.from_numpy(stack[None, :, p0 : p0 + side, p0 : p0 + side]), size=(48, 48),
                                          mode="bilinear", align_corners=False)[0].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)
    same = cut_crops(stack, np.array([100.0 + 23.5]), np.array([10.0 + 23.5]), np.array([48.0]), 48)[0]
    np.testing.assert_allclose(same, stack[:, 10:58, 100:148], atol=1e-6)


def test_augment_flips_and_rotation():
    crop = np.zeros((3, 48, 48), dtype=np.float32)
    crop[:, 10, 30] = 1.0
    cfg = CropConfig(flip_p=1.0, rotation_max_deg=0.0)
    out = augment(crop, np.random.default_rng(0), cfg)
    assert out[0, 37, 17] == pytest.approx(1.0)  # both flips
    assert augment(crop, np.random.default_rng(0), CropConfig(flip_p=0.0, rotation_max_deg=0.0))[0, 10, 30] == pytest.approx(1.0)
    rot = augment(crop, np.random.default_rng(0), CropConfig(flip_p=0.0))
    assert rot.shape == crop.shape and rot.sum() == pytest.approx(3.0, rel=0.05)  # bilinear rotation keeps the flux


def test_minmax_joint_over_bands_and_zscore():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 3, 8, 8)).astype(np.float32)
    x[:, 2] += 5.0  # a band brighter than the others: the joint min-max keeps it brighter
    m = minmax(x)
    assert m.min() == 0.0 and m.max() == 1.0
    assert np.all(m[:, 2].mean(axis=(1, 2)) > m[:, 0].mean(axis=(1, 2)))
    mean, sd = zscore_stats(m)
    z = zscore(m, mean, sd)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert np.all(minmax(np.ones((1, 3, 4, 4))) == 0)


def test_split_stratified_8_1_1():
    labels = np.repeat([0, 1, 2], 100)
    s = split_indices(labels, np.random.default_rng(0))
    for name, n in (("train", 80), ("val", 10), ("test", 10)):
        np.testing.assert_array_equal(np.bincount(labels[s[name]]), [n, n, n])
    assert len(np.unique(np.concatenate(list(s.values())))) == 300


def test_synthetic_crops_centred_on_truth(synth_field):
    po, truth = synth_field["photoobj"], synth_field["truth"]
    t = truth.set_index("object_id").loc[po["object_id"].to_numpy()]
    table = po.assign(**{"class": t["class"].to_numpy(), "zWarning": 0})
    idx = select_labelled(table)
    stars = idx[(table["class"].to_numpy()[idx] == "STAR") & (table["psfMag_r"].to_numpy()[idx] < 21.5)]
    assert len(stars) >= 2
    sub = table.iloc[stars]
    x, y = synth_field["wcs_r"].all_world2pix(sub["ra"].to_numpy(), sub["dec"].to_numpy(), 0)
    crops = cut_crops(synth_field["stack"], np.asarray(x), np.asarray(y), crop_sides_px(sub), 48)
    assert crops.shape == (len(stars), 3, 48, 48)
    # the r-band peak of a star sits at the crop centre (output pixels 23 / 24) within 1.5 frame pixels (noise, faint stars)
    peak = np.array([np.unravel_index(np.argmax(c[1]), c[1].shape) for c in crops])
    offset_frame_px = np.abs(peak - 23.5) * (crop_sides_px(sub)[:, None] / 48)
    assert np.all(offset_frame_px <= 1.5)
    assert np.all(class_index(table["class"].iloc[idx]) >= 0)

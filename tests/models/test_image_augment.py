"""Contrastive pair generation: the transform pools, determinism, the pair labels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skysift.models import image_augment as A


def _img(seed=0, s=32):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0, 1, (3, s, s)).astype(np.float32))


def test_flips_and_crop_pad():
    x = _img()
    rng = np.random.default_rng(0)
    assert torch.equal(A.hflip(x, rng), x.flip(-1))
    assert torch.equal(A.vflip(x, rng), x.flip(-2))
    out = A.crop_pad(x, rng)
    c = round(150 / 224 * 32)
    lo = (32 - c) // 2
    assert torch.equal(out[:, lo:lo + c, lo:lo + c], x[:, lo:lo + c, lo:lo + c])
    inside = torch.zeros_like(out, dtype=torch.bool)
    inside[:, lo:lo + c, lo:lo + c] = True
    assert (out[~inside] == 0).all()  # zeros outside


def test_noise_only_on_pixels_up_to_0_8_and_erasing_area():
    x = _img(1)
    out = A.noise(x, np.random.default_rng(1))
    assert torch.equal(out[x > 0.8], x[x > 0.8])
    assert (out[x <= 0.8] != x[x <= 0.8]).float().mean() > 0.99
    assert abs(float((out - x)[x <= 0.8].std()) - 0.18) < 0.01
    x = torch.ones(3, 64, 64)
    erased = A.erase(x, np.random.default_rng(2))
    frac = float((erased[0] == 0).float().mean())
    assert 0.015 < frac < 0.11


def test_random_subset_is_deterministic_and_without_replacement():
    x = _img(3)
    a = A.apply_random(x.clone(), A.NEGATIVE_POOL, 3, np.random.default_rng(7))
    b = A.apply_random(x.clone(), A.NEGATIVE_POOL, 3, np.random.default_rng(7))
    assert torch.equal(a, b) and 0 <= float(a.min()) and float(a.max()) <= 1
    picks = np.random.default_rng(7).choice(len(A.NEGATIVE_POOL), size=3, replace=False)
    assert len(set(picks.tolist())) == 3
    assert set(A.NEGATIVE_POOL) - set(A.POSITIVE_POOL) == {"erase", "blur"}


def test_pairs_labels_and_negative_partner():
    data = torch.stack([_img(i, 16) for i in range(10)])
    rng = np.random.default_rng(4)
    fetched = []

    def fetch(j):
        fetched.append(j)
        return data[j]

    ys = []
    for start in range(0, 10, 5):
        idx = np.arange(start, start + 5)
        anchors, others, y = A.make_pairs(data[idx], 10, fetch, idx, rng, n_transforms=1)
        assert torch.equal(anchors, data[idx]) and others.shape == anchors.shape
        ys.append(y.numpy())
    y = np.concatenate(ys)
    assert set(np.unique(y)) <= {0.0, 1.0} and len(fetched) == int((y == 0).sum())
    # a negative partner is never the anchor itself
    neg_rows = np.flatnonzero(y == 0)
    assert all(j != r for j, r in zip(fetched, neg_rows))


def test_dihedral_draws_the_7_exact_non_identity_symmetries():
    x = _img(5, 8)
    rng = np.random.default_rng(0)
    seen = {A.dihedral(x, rng).numpy().tobytes() for _ in range(200)}
    want = {np.rot90(x.numpy(), k, (-2, -1)).copy().tobytes() for k in range(1, 4)}
    want |= {np.rot90(x.numpy(), k, (-2, -1))[..., ::-1].copy().tobytes() for k in range(4)}
    assert seen == want and len(want) == 7  # exact: no interpolation, no zero corners


def test_pools_by_name():
    assert list(A.pool(["dihedral", "hflip"])) == ["dihedral", "hflip"]
    assert A.pool(["hflip"])["hflip"] is A.hflip
    with pytest.raises(ValueError, match="unknown transform"):
        A.pool(["twirl"])


def test_zoom_rescales_about_the_centre():
    # a centred Gaussian blob of sigma 4 px: after a zoom by f its second moment is (4 f)^2
    s = 64
    yy, xx = np.mgrid[:s, :s] - (s - 1) / 2
    blob = torch.from_numpy(np.exp(-(xx ** 2 + yy ** 2) / (2 * 4.0 ** 2)).astype(np.float32))[None].repeat(3, 1, 1)
    seen = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        f = float(np.exp(np.random.default_rng(seed).uniform(np.log(A.ZOOM_RANGE[0]), np.log(A.ZOOM_RANGE[1]))))
        out = A.zoom(blob, rng)[0].numpy().astype(np.float64)
        sigma = np.sqrt((out * xx ** 2).sum() / out.sum())
        assert sigma == pytest.approx(4.0 * f, rel=0.03)
        cx = (out * xx).sum() / out.sum()
        assert abs(cx) < 0.05  # about the centre
        seen.append(f)
    assert min(seen) < 0.85 and max(seen) > 1.15 and A.ZOOM_RANGE[0] <= min(seen) <= max(seen) <= A.ZOOM_RANGE[1]


def test_brightness_scales_by_one_factor_in_range():
    x = _img(6)
    for seed in range(10):
        f = float(np.exp(np.random.default_rng(seed).uniform(np.log(A.BRIGHTNESS_RANGE[0]), np.log(A.BRIGHTNESS_RANGE[1]))))
        assert torch.allclose(A.brightness(x, np.random.default_rng(seed)), x * f)
        assert A.BRIGHTNESS_RANGE[0] <= f <= A.BRIGHTNESS_RANGE[1]


def test_stars_adds_one_to_three_point_sources():
    x = torch.zeros(3, 64, 64)
    for seed in range(10):
        out = A.stars(x, np.random.default_rng(seed))
        assert (out >= 0).all() and float(out.max()) <= A.STAR_PEAK[1] * 3
        # local maxima of the added light, one per source (sources may overlap: at most 3)
        p = out[0]
        peaks = (p > 0.05) & (p == torch.nn.functional.max_pool2d(p[None, None], 3, 1, 1)[0, 0])
        assert 1 <= int(peaks.sum()) <= 3
        # each is point-like: half the light within 2 sigma_max of its peak (sigma <= 1.2 px)
        y0, x0 = np.unravel_index(int(torch.argmax(p)), p.shape)
        near = p[max(0, y0 - 3):y0 + 4, max(0, x0 - 3):x0 + 4].sum()
        assert float(near) > 0.3 * float(p.sum()) / int(peaks.sum())

"""kb.multiscale_anomaly alone: box sums against numpy, the systematic term against an injected mismatch, and
detection of a spike, a broad bump and a smooth tilt against white-noise normals."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.kb import multiscale_anomaly as ma

P = 600
WIDTHS = (1, 3, 9, 27, 81)


def _normals(n, rng, sigma=0.05, model_level=1.0):
    model = np.full((n, P), model_level)
    ivar = np.full((n, P), 1.0 / sigma**2)
    resid = rng.normal(0.0, sigma, (n, P))
    return resid, ivar, np.ones((n, P), bool), model


@pytest.mark.parametrize("width", [1, 3, 9, 27])
def test_box_sum_is_a_centred_convolution(width):
    x = np.random.default_rng(width).normal(size=(3, 50))
    ref = np.stack([np.convolve(r, np.ones(width), mode="same") for r in x])
    assert np.allclose(ma._box_sum(x, width), ref)


def test_window_stats_are_weighted_means_with_their_noise():
    rng = np.random.default_rng(1)
    resid = rng.normal(size=(2, 40))
    ivar = rng.uniform(0.5, 2.0, (2, 40))
    good = rng.random((2, 40)) > 0.1
    model = rng.uniform(1, 2, (2, 40))
    st = ma.window_stats(resid, ivar, good, model, (5,), min_cover=0.6)
    i, p = 1, 20
    sl = slice(p - 2, p + 3)
    w = np.where(good[i, sl], ivar[i, sl], 0.0)
    assert st.covered[i, 0, p] == (good[i, sl].sum() >= 3)
    assert st.resid[i, 0, p] == pytest.approx((w * resid[i, sl]).sum() / w.sum(), rel=1e-5)
    assert st.noise_var[i, 0, p] == pytest.approx(1.0 / w.sum(), rel=1e-5)
    assert st.model[i, 0, p] == pytest.approx((w * model[i, sl]).sum() / w.sum(), rel=1e-5)
    # a box with under 60 % of its pixels good is not scored
    good2 = np.ones((1, 40), bool)
    good2[0, 18:21] = False
    st2 = ma.window_stats(resid[:1], ivar[:1], good2, model[:1], (5,))
    assert not st2.covered[0, 0, 19] and st2.covered[0, 0, 16]


def test_white_noise_normals_have_no_systematic_and_unit_z():
    rng = np.random.default_rng(2)
    st = ma.window_stats(*_normals(800, rng), WIDTHS)
    cal = ma.fit_normals(st)
    assert np.median(cal.systematic) < 0.005  # of a 5 % noise: nothing beyond it
    z = ma._z_maps(st, cal.systematic)
    inner = z[:, :, 60:-60]
    assert np.std(inner[:, 0]) == pytest.approx(0.6, abs=0.05)  # |N(0,1)|: sd sqrt(1 - 2/pi) = 0.603
    assert np.mean(inner[:, 3]) == pytest.approx(np.sqrt(2 / np.pi), abs=0.03)  # |z| of a 27-px box is |N(0,1)|


def test_systematic_meets_the_quantile_condition_as_a_bisection_does():
    """_systematic against its definition: a 60-step bisection on numpy's quantile of each box's covered normals'
    z^2 (written out here, box by box) agrees to within the gap between neighbouring order statistics of the s each
    normal needs, and the counts of normals under the chi^2_1(q) target bracket q; uncovered boxes are left out."""
    from scipy.stats import chi2

    rng = np.random.default_rng(7)
    frac = rng.normal(0.0, 0.05, (300, 2, 6)) * rng.uniform(0.5, 3.0, (1, 2, 6))
    nfrac = rng.uniform(0.5e-3, 2e-3, (300, 2, 6))
    frac[rng.random(frac.shape) < 0.1] = np.nan  # uncovered
    frac[:, 1, 5] = np.nan  # a box no normal covers
    nfrac[:, 0, 4] = 1.0  # noise alone explains the scatter: no systematic
    q = 0.9
    s = ma._systematic(frac, nfrac, q)
    target = chi2.ppf(q, 1)
    assert s[1, 5] == 0.0 and s[0, 4] == 0.0
    for w in range(2):
        for p in range(6):
            if (w, p) in ((1, 5), (0, 4)):
                continue
            f, nf = frac[:, w, p], nfrac[:, w, p]
            ok = np.isfinite(f)
            f, nf = f[ok], nf[ok]
            lo, hi = 0.0, 1.0
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if np.quantile(f**2 / (nf + mid**2), q) > target else (lo, mid)
            under = lambda sv: np.mean(f**2 / (nf + sv**2) <= target)  # noqa: E731
            gap = np.diff(np.sort(np.sqrt(np.maximum(f**2 / target - nf, 0))))[int((len(f) - 1) * q)]
            assert abs(s[w, p] - hi) <= gap + 1e-12, (w, p, s[w, p], hi)
            assert under(s[w, p] * 0.999) <= q + 1 / len(f) and under(s[w, p] * 1.001) >= q - 1 / len(f), (w, p)


def test_injected_mismatch_is_measured_where_it_is():
    rng = np.random.default_rng(3)
    resid, ivar, good, model = _normals(1500, rng, sigma=0.01)
    resid[:, 300:330] += rng.normal(0.0, 0.1, (1500, 1))  # a 10 % mismatch shared by 30 pixels
    cal = ma.fit_normals(ma.window_stats(resid, ivar, good, model, WIDTHS))
    assert cal.systematic[2, 315] == pytest.approx(0.1, rel=0.15)  # 9-px boxes inside the band
    assert cal.systematic[2, 150] < 0.003


def test_spike_bump_and_tilt_are_found_and_noise_is_not():
    rng = np.random.default_rng(4)
    cal = ma.fit_normals(ma.window_stats(*_normals(1000, rng), WIDTHS))
    resid, ivar, good, model = _normals(4, rng)
    resid[1, 200] += 10 * 0.05  # a 10-sigma one-pixel spike
    x = np.arange(P)
    resid[2] += 1.0 * 0.05 * np.exp(-0.5 * ((x - 400) / 8.0) ** 2)  # a broad bump, 1 sigma per pixel at its peak
    resid[3] += 0.6 * 0.05 * (x - P / 2) / (P / 2)  # a tilt of +-0.6 sigma per pixel across the spectrum
    st = ma.window_stats(resid, ivar, good, model, WIDTHS)
    out = ma.anomaly_scores(st, cal)
    null = ma.anomaly_scores(ma.window_stats(*_normals(400, rng), WIDTHS), cal)["anomaly"]
    cut = np.quantile(null, 0.99)
    assert out["anomaly"][0] < cut
    assert (out["anomaly"][1:] > cut).all(), (out["anomaly"], cut)
    assert WIDTHS[out["width_index"][1]] == 1
    assert WIDTHS[out["width_index"][2]] in (9, 27)
    assert WIDTHS[out["width_index"][3]] == 81

"""kb.residual_lines: the foreground fit, the veto and the background line redshift, on spectra with known lines."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.kb import residual_lines as rl

WAVE = np.linspace(3600.0, 8400.0, 974)


def _gauss(centre, sigma, area):
    return area / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((WAVE - centre) / sigma) ** 2)


def _continua(n, rng):
    """Smooth galaxy-like continua: a 4000 A break, a slope, a few absorption dips, different per row."""
    base = 1.0 / (1 + np.exp(-(WAVE - 4000) / 40))[None, :] * 0.5 + 0.5
    slope = (WAVE / 5500.0)[None, :] ** rng.uniform(-1, 1, (n, 1))
    dips = sum(1 - 0.2 * rng.uniform(0.5, 1, (n, 1)) * np.exp(-0.5 * ((WAVE - w) / 8) ** 2)[None, :] for w in (3934, 3969, 5175, 5894))
    return base * slope * dips


def test_least_squares_fit_is_exact_for_a_combination_of_neighbours():
    rng = np.random.default_rng(0)
    g = _continua(5, rng)[None]  # (1, 5, P)
    coef = np.array([0.3, 0.1, 0.0, 0.5, 0.2])
    f = (coef[:, None] * g[0]).sum(0)[None]
    resid, good = rl.foreground_residual(f, np.ones_like(f), g, ridge=0.0)
    assert np.abs(resid).max() < 1e-5 and good.all()
    # numpy lstsq is the reference with unequal weights and a line the neighbours lack
    w = rng.uniform(0.5, 2, f.shape)
    f2 = f + _gauss(5000, 3, 2.0)[None]
    resid, _ = rl.foreground_residual(f2, w, g, ridge=0.0)
    sw = np.sqrt(w[0])
    sol = np.linalg.lstsq((g[0] * sw).T, f2[0] * sw, rcond=None)[0]
    assert resid[0] == pytest.approx(f2[0] - sol @ g[0], abs=1e-5)


def test_uncovered_neighbour_pixels_are_not_good():
    g = np.ones((1, 3, len(WAVE)))
    iv = np.ones((1, 3, len(WAVE)))
    iv[0, 1, 900:] = 0
    _, good = rl.foreground_residual(np.ones((1, len(WAVE))), np.ones((1, len(WAVE))), g, iv)
    assert not good[0, 900:].any() and good[0, :900].all()


def _lens_batch(n, z_rel, snr_line, rng, with_lines=True):
    """Queries: a continuum + noise (+ background [O II], Hbeta, [O III] at 1 + z_rel); neighbours: the same
    continuum's relatives (scaled, slightly different slope) + their own noise."""
    sigma_noise = 0.02
    cont = _continua(n, rng)
    q = cont + rng.normal(0, sigma_noise, cont.shape)
    if with_lines:
        for w0 in (3728.5, 4862.7, 5008.2):
            # a line of S/N snr_line: area = snr * sigma_noise * sqrt(2 sqrt(pi) sigma_pix) * step
            sig_a = 2.5
            area = snr_line * sigma_noise * np.sqrt(2 * np.sqrt(np.pi) * sig_a / 4.93) * 4.93
            q += _gauss(w0 * (1 + z_rel), sig_a, area)[None]
    nb = np.stack([cont * rng.uniform(0.8, 1.2, (n, 1)) * (WAVE / 5500.0)[None, :] ** rng.uniform(-0.02, 0.02, (n, 1))
                   + rng.normal(0, sigma_noise / 3, cont.shape) for _ in range(8)], axis=1)
    ivar = np.full(q.shape, 1 / sigma_noise**2, np.float32)
    return q.astype(np.float32), ivar, nb.astype(np.float32)


def test_background_lines_found_at_their_relative_redshift():
    rng = np.random.default_rng(1)
    q, iv, nb = _lens_batch(20, 0.25, 8.0, rng)  # lines at 4661, 6078, 6260 A: clear of the foreground vetoes
    resid, good = rl.foreground_residual(q, iv, nb, np.ones_like(nb))
    out = rl.background_lines(resid, iv, good, WAVE)
    assert (out["n_lines"] >= 2).mean() >= 0.9
    found = out["n_lines"] >= 2
    assert out["z_rel"][found] == pytest.approx(0.25, abs=0.001)
    assert (out["score"][found] > 8).all()


def test_no_lines_no_background():
    rng = np.random.default_rng(2)
    q, iv, nb = _lens_batch(100, 0.3, 0.0, rng, with_lines=False)
    resid, good = rl.foreground_residual(q, iv, nb, np.ones_like(nb))
    out = rl.background_lines(resid, iv, good, WAVE)
    assert (out["n_lines"] == 0).mean() >= 0.98  # noise alone (nearly) never makes two agreeing lines
    loose = rl.background_lines(resid, iv, good, WAVE, rl.ResidualLineConfig(threshold_sigma=1.5, min_line_snr=3.0, z_tolerance=0.002))
    assert (loose["n_lines"] >= 2).mean() >= 0.03  # ... which looser cuts do (4 % measured): the test can fail
    assert np.all(out["score"][out["n_lines"] == 0] == 0)


def test_foreground_lines_are_vetoed():
    rng = np.random.default_rng(3)
    q, iv, nb = _lens_batch(10, 0.3, 0.0, rng, with_lines=False)
    # the query's own (foreground) [O III] and Hbeta, much stronger than in its neighbours: not a background
    q = q + _gauss(5008.2, 2.0, 3.0)[None].astype(np.float32) + _gauss(4862.7, 2.0, 1.0)[None].astype(np.float32)
    resid, good = rl.foreground_residual(q, iv, nb, np.ones_like(nb))
    assert (rl.background_lines(resid, iv, good, WAVE)["n_lines"] == 0).all()
    # without the veto the pair is read as a "background" at z_rel ~ 0
    out = rl.background_lines(resid, iv, good, WAVE, rl.ResidualLineConfig(veto_angstrom=0.0, z_min=-0.002))
    assert (out["n_lines"] >= 2).all() and np.abs(out["z_rel"]).max() < 0.001


def test_covering_neighbours_prefers_full_coverage_in_distance_order():
    kb_ivar = np.ones((6, 10))
    kb_ivar[0, 8:] = 0  # the nearest candidate lacks the red end
    kb_ivar[2, 9:] = 0
    cand = np.array([[0, 1, 2, 3, 4, 5]])
    out = rl.covering_neighbours(cand, np.ones((1, 10)), kb_ivar, 3)
    assert out.tolist() == [[1, 3, 4]]
    out = rl.covering_neighbours(cand, np.ones((1, 10)), np.r_[kb_ivar[:3], np.zeros((3, 10))], 3)
    assert out.tolist() == [[1, 2, 0]]  # topped up with the best-covering others


def test_neighbour_rows_skip_targets_and_self():
    x = np.array([[0.0], [0.1], [0.2], [5.0], [5.1]], np.float32)
    target = np.array([False, True, False, False, False])
    assert rl.neighbour_rows(x, target, x[:1], 2).tolist() == [[0, 2]]
    assert rl.neighbour_rows(x, target, x, 2, exclude_self=True)[0].tolist() == [2, 3]

"""kb.outlier_model and kb.residual_lines.mask_background_lines alone."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.kb import outlier_model
from skysift.kb import residual_lines as rl


def test_out_of_fold_probabilities_rank_targets_first():
    # targets differ from the others in an interaction of two features (either alone separates nothing: the
    # targets sit in both tails of each)
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=(n, 4))
    y = ((x[:, 0] > 0.8) & (x[:, 1] > 0.8)) | ((x[:, 0] < -0.8) & (x[:, 1] < -0.8))
    oof, (q,) = outlier_model.fit_predict(x, y, [x[:200]], seed=0)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, oof) > 0.97
    assert abs(roc_auc_score(y, x[:, 0]) - 0.5) < 0.1 and abs(roc_auc_score(y, x[:, 1]) - 0.5) < 0.1
    assert q.shape == (200,) and roc_auc_score(y[:200], q) > 0.97
    with pytest.raises(ValueError, match="targets"):
        outlier_model.fit_predict(x[:50], np.r_[True, np.zeros(49, bool)], [x[:5]])


def test_background_lines_are_masked_only_where_a_redshift_is_given():
    wave = np.linspace(3600.0, 8400.0, 974)
    good = np.ones((2, len(wave)), bool)
    out = rl.mask_background_lines(good, wave, np.array([0.2, np.nan]), half_width_angstrom=8.0)
    assert out[1].all() and good.all()
    gone = wave[~out[0]]
    for rest in (3728.5, 4862.7, 5008.2, 6564.6):  # [O II], Hbeta, [O III], Halpha at z_rel 0.2 (vacuum)
        assert np.any(np.abs(gone - rest * 1.2) < 5.0)
    assert np.all(np.min(np.abs(gone[:, None] - 1.2 * np.array([3728.5, 4862.7, 4960.3, 5008.2, 6564.6])[None]), axis=1) <= 10.0)

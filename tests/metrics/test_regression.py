"""Regression metrics against scikit-learn and hand-computed values."""
import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from skysift.metrics.regression import mae, mean_std, mse, r2, regression_report, rmse


def test_hand_computed_case():
    t = [1.0, 2.0, 3.0, 4.0]
    p = [1.0, 2.0, 4.0, 2.0]
    # residuals 0, 0, -1, 2: MSE = 5/4, MAE = 3/4; SS_tot = 5 -> R2 = 1 - 5/5 = 0
    assert mse(t, p) == pytest.approx(1.25)
    assert rmse(t, p) == pytest.approx(np.sqrt(1.25))
    assert mae(t, p) == pytest.approx(0.75)
    assert r2(t, p) == pytest.approx(0.0)


def test_matches_sklearn_on_random_values():
    rng = np.random.default_rng(5)
    t = rng.normal(0.0, 0.7, 300)
    p = t + rng.normal(0.1, 0.4, 300)
    r = regression_report(t, p)
    assert r["n"] == 300
    assert r["mse"] == pytest.approx(mean_squared_error(t, p))
    assert r["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t, p)))
    assert r["mae"] == pytest.approx(mean_absolute_error(t, p))
    assert r["r2"] == pytest.approx(r2_score(t, p))
    # and against the formulas, not only sklearn
    assert r["r2"] == pytest.approx(1 - np.sum((t - p) ** 2) / np.sum((t - t.mean()) ** 2))


def test_bad_input():
    with pytest.raises(ValueError, match="entries"):
        mse([1, 2], [1])
    with pytest.raises(ValueError, match="non-finite"):
        regression_report([1.0, np.nan], [1.0, 2.0])
    assert regression_report([], [])["n"] == 0


def test_mean_std_over_seeds():
    reports = [{"mse": 1.0, "rmse": 1.0, "mae": 1.0, "r2": 0.2}, {"mse": 3.0, "rmse": 2.0, "mae": 1.0, "r2": 0.4}]
    s = mean_std(reports)
    assert s["mse"]["mean"] == pytest.approx(2.0) and s["mse"]["std"] == pytest.approx(1.0)
    assert s["r2"]["values"] == [0.2, 0.4]

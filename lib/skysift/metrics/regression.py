"""Regression metrics from scikit-learn (MSE, RMSE, MAE, R2) as one JSON-ready dict, plus mean +- std over seeds.

Rows where the truth or the prediction is not finite are an error, not silently dropped: a model that
returns NaN must show up (the caller decides what to exclude before calling).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn import metrics as skm

METRIC_NAMES = ("mse", "rmse", "mae", "r2")
"""The keys of ``regression_report`` besides ``n`` (Rustamov 2025 plan RMSE, MAE, R2 and report MSE, R2)."""


def _arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} entries, y_pred {p.shape[0]}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError(f"non-finite values: {int((~np.isfinite(t)).sum())} in y_true, {int((~np.isfinite(p)).sum())} in y_pred")
    return t, p


def mse(y_true, y_pred) -> float:
    """Mean squared error (sklearn ``mean_squared_error``)."""
    t, p = _arrays(y_true, y_pred)
    return float(skm.mean_squared_error(t, p))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error (sklearn ``root_mean_squared_error``)."""
    t, p = _arrays(y_true, y_pred)
    return float(skm.root_mean_squared_error(t, p))


def mae(y_true, y_pred) -> float:
    """Mean absolute error (sklearn ``mean_absolute_error``)."""
    t, p = _arrays(y_true, y_pred)
    return float(skm.mean_absolute_error(t, p))


def r2(y_true, y_pred) -> float:
    """Coefficient of determination (sklearn ``r2_score``; 1 - SS_res / SS_tot)."""
    t, p = _arrays(y_true, y_pred)
    return float(skm.r2_score(t, p))


def regression_report(y_true, y_pred) -> dict:
    """{'mse', 'rmse', 'mae', 'r2', 'n'} of one prediction (n < 2: R2 is NaN, sklearn's undefined case)."""
    t, p = _arrays(y_true, y_pred)
    if len(t) == 0:
        return {"mse": float("nan"), "rmse": float("nan"), "mae": float("nan"), "r2": float("nan"), "n": 0}
    out = {"mse": mse(t, p), "rmse": rmse(t, p), "mae": mae(t, p),
           "r2": r2(t, p) if len(t) >= 2 else float("nan"), "n": int(len(t))}
    return out


def mean_std(reports: Sequence[Mapping[str, float]], names: Sequence[str] = METRIC_NAMES) -> dict:
    """{name: {'mean', 'std', 'values'}} over several runs' reports (std: population, ddof=0)."""
    out = {}
    for name in names:
        values = np.array([float(r[name]) for r in reports], dtype=np.float64)
        out[name] = {"mean": float(values.mean()) if len(values) else float("nan"),
                     "std": float(values.std()) if len(values) else float("nan"), "values": values.tolist()}
    return out

"""Outlier probability from the residual's statistics, learned from the KB's own labels (issue 19 extension).

Not in Tang et al. 2025. The KB vote finds outliers whose embedding has outlier neighbours; the rest differ from
their normal neighbours somewhere in the spectrum, in a way that no single threshold on one statistic separates
from the normal galaxies' own misfits (lens candidates' background lines, Seyferts' strong lines, high-S/N
spectra). A small gradient-boosted tree model on a handful of numbers per spectrum
(``kb.residual_lines.outlier_features``: the largest |z| per box width, the lens scan's score, the
percentile statistic, the continuum S/N) learns which combinations the KB's labelled outliers show.

The KB's own probabilities are out-of-fold (stratified folds): the extension's threshold is chosen on them, as
for the other statistics, never on a test spectrum.
"""
from __future__ import annotations

import numpy as np


def _model(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # skysift choice: shallow trees, slow rate; 5-fold CV F1 on the reduced survey's KB 0.69 (logistic
    # regression on the same features 0.65, the best single statistic 0.60)
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=seed)


def fit_predict(kb_features: np.ndarray, kb_is_target: np.ndarray, query_features: list[np.ndarray],
                seed: int = 0, folds: int = 5) -> tuple[np.ndarray, list[np.ndarray]]:
    """(out-of-fold target probability of every KB row, [probability of each query set]) of the model trained on
    the KB (the queries' model is trained on all of it). Needs >= ``folds`` (>= 2) targets and others."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(kb_is_target, bool)
    if folds < 2 or y.sum() < folds or (~y).sum() < folds:
        raise ValueError(f"outlier model: {int(y.sum())} targets and {int((~y).sum())} others in the KB, need >= {folds} each")
    oof = np.zeros(len(y))
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(kb_features, y):
        oof[held] = _model(seed).fit(kb_features[train], y[train]).predict_proba(kb_features[held])[:, 1]
    full = _model(seed).fit(kb_features, y)
    return oof, [full.predict_proba(q)[:, 1] if len(q) else np.zeros(0) for q in query_features]

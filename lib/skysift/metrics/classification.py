"""Classification metrics from scikit-learn: confusion matrix, per-class precision / recall / F1, macro
averages and accuracy, as one JSON-ready dict.

Predictions may be None ("no neighbour voted"): such a row is a miss for its true class and counts in no
column of the confusion matrix. A class never predicted (never true) has precision (recall) 0
(``zero_division=0``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn import metrics as skm

_NONE = "\x00no-prediction"  # stands for None; never a label


def _labels_and_arrays(y_true, y_pred, labels: Sequence | None):
    t = np.asarray(y_true, dtype=object)
    p = np.asarray(y_pred, dtype=object)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape} entries, y_pred {p.shape}")
    if labels is None:
        labels = sorted(set(t.tolist()) | {v for v in p.tolist() if v is not None}, key=str)
    t = np.array([str(v) for v in t.tolist()], dtype=object)
    p = np.array([_NONE if v is None else str(v) for v in p.tolist()], dtype=object)
    return [str(x) for x in labels], list(labels), t, p


def confusion_matrix(y_true, y_pred, labels: Sequence | None = None) -> tuple[list, np.ndarray]:
    """(labels, counts) with counts[i, j] = rows of true labels[i] predicted as labels[j]."""
    names, labels, t, p = _labels_and_arrays(y_true, y_pred, labels)
    if not names:
        return labels, np.zeros((0, 0), dtype=np.int64)
    return labels, skm.confusion_matrix(t, p, labels=names).astype(np.int64)


def classification_report(y_true, y_pred, labels: Sequence | None = None) -> dict:
    """Per-class precision / recall / F1 / support, macro averages, accuracy, n and the confusion matrix."""
    names, labels, t, p = _labels_and_arrays(y_true, y_pred, labels)
    n = len(t)
    if not names or n == 0:
        return {"labels": names, "per_class": {}, "macro_precision": 0.0, "macro_recall": 0.0, "macro_f1": 0.0,
                "accuracy": 0.0, "n": n, "confusion": []}
    precision, recall, f1, support = skm.precision_recall_fscore_support(t, p, labels=names, zero_division=0)
    return {
        "labels": names,
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(support[i])} for i, name in enumerate(names)},
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "accuracy": float(skm.accuracy_score(t, p)),
        "n": n,
        "confusion": skm.confusion_matrix(t, p, labels=names).tolist(),
    }


def macro_f1(y_true, y_pred, labels: Sequence | None = None) -> float:
    """Unweighted mean of per-class F1."""
    return classification_report(y_true, y_pred, labels)["macro_f1"]

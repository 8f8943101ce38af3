"""Classification metrics: confusion matrix, per-class precision / recall / F1, macro-F1, accuracy.

Plain numpy over label arrays (strings or ints). A class with no predicted
(true) members has precision (recall) 0, as scikit-learn's ``zero_division=0``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(y_true, y_pred, labels: Sequence | None = None) -> tuple[list, np.ndarray]:
    """(labels, counts) with counts[i, j] = rows of true labels[i] predicted as labels[j].

    Predictions outside ``labels`` (e.g. None for "no neighbour") count in no column.
    """
    t = np.asarray(y_true, dtype=object)
    p = np.asarray(y_pred, dtype=object)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape} entries, y_pred {p.shape}")
    if labels is None:
        labels = sorted(set(t.tolist()) | {v for v in p.tolist() if v is not None}, key=str)
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    ti = np.array([index.get(v, -1) for v in t.tolist()], dtype=np.int64)
    pi = np.array([index.get(v, -1) for v in p.tolist()], dtype=np.int64)
    ok = (ti >= 0) & (pi >= 0)
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(counts, (ti[ok], pi[ok]), 1)
    return labels, counts


def classification_report(y_true, y_pred, labels: Sequence | None = None) -> dict:
    """Per-class precision / recall / F1 / support, macro averages and accuracy."""
    labels, cm = confusion_matrix(y_true, y_pred, labels)
    tp = np.diag(cm).astype(float)
    pred_n = cm.sum(axis=0).astype(float)
    # true counts include rows predicted outside `labels` (they are misses)
    t = np.asarray(y_true, dtype=object).tolist()
    true_n = np.array([sum(1 for v in t if v == lab) for lab in labels], dtype=float)
    precision = np.divide(tp, pred_n, out=np.zeros_like(tp), where=pred_n > 0)
    recall = np.divide(tp, true_n, out=np.zeros_like(tp), where=true_n > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    per_class = {
        str(lab): {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(true_n[i])}
        for i, lab in enumerate(labels)
    }
    n = len(t)
    return {
        "labels": [str(x) for x in labels],
        "per_class": per_class,
        "macro_precision": float(precision.mean()) if len(labels) else 0.0,
        "macro_recall": float(recall.mean()) if len(labels) else 0.0,
        "macro_f1": float(f1.mean()) if len(labels) else 0.0,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "n": n,
        "confusion": cm.tolist(),
    }


def macro_f1(y_true, y_pred, labels: Sequence | None = None) -> float:
    """Unweighted mean of per-class F1."""
    return classification_report(y_true, y_pred, labels)["macro_f1"]

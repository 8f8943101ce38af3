"""Object-detection metrics (numpy): IoU, greedy matching by score, precision / recall / F1, AP at one IoU and
averaged over IoU 0.50:0.95 (Zhao et al. 2025 §4.1.2 report P, R, F1, AP@0.5 and AP@0.5:0.95, one class).

Matching (COCO's rule): per image, detections in decreasing score; each takes the unmatched truth box of highest
IoU if that IoU is >= the threshold (a true positive), else it is a false positive. AP is the area under the
precision-recall curve of the score-ranked detections of all images:

* ``coco101`` (default): precision made monotone (the running maximum from the right), read at the 101 recall
  points 0, 0.01, ..., 1 and averaged, as COCO does (ultralytics integrates the same envelope with np.trapz);
* ``step``: sum over the ranked detections of (recall step) x precision, no envelope; equals
  (TP / n_truth) x scikit-learn's ``average_precision_score`` over the detections (tests check it).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["iou_matrix", "match_image", "average_precision", "pr_curve", "detection_report", "IOU_RANGE"]

IOU_RANGE = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))
"""0.50, 0.55, ..., 0.95: the thresholds of AP@0.5:0.95."""


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) IoU of boxes a (n, 4) and b (m, 4), as (x_min, y_min, x_max, y_max)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_image(pred: np.ndarray, scores: np.ndarray, truth: np.ndarray, iou_threshold: float,
                iou: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(tp (n_pred,) bool in the input order, truth index matched by each prediction or -1) for one image."""
    n, m = len(scores), len(truth)
    tp = np.zeros(n, bool)
    matched = np.full(n, -1, np.int64)
    if n == 0 or m == 0:
        return tp, matched
    iou = iou_matrix(pred, truth) if iou is None else iou
    taken = np.zeros(m, bool)
    for i in np.argsort(-np.asarray(scores, np.float64), kind="stable"):
        cand = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(cand))
        if cand[j] >= iou_threshold:
            tp[i], matched[i], taken[j] = True, j, True
    return tp, matched


def pr_curve(scores: np.ndarray, tp: np.ndarray, n_truth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score thresholds, precision, recall) of the detections ranked by decreasing score (one point each)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    t = np.asarray(tp, bool)[order]
    ctp = np.cumsum(t)
    prec = ctp / np.arange(1, len(t) + 1)
    rec = ctp / max(n_truth, 1)
    return np.asarray(scores, np.float64)[order], prec, rec


def average_precision(scores: np.ndarray, tp: np.ndarray, n_truth: int, method: str = "coco101") -> float:
    """AP of ranked detections (``method`` coco101 or step, see the module doc); 0 without truth or detections."""
    if n_truth == 0 or len(scores) == 0:
        return 0.0
    _, prec, rec = pr_curve(scores, tp, n_truth)
    if method == "step":
        steps = np.diff(np.concatenate([[0.0], rec]))
        return float(np.sum(steps * prec))
    if method != "coco101":
        raise ValueError(f"method must be coco101 or step, got {method!r}")
    env = np.maximum.accumulate(prec[::-1])[::-1]
    points = np.linspace(0.0, 1.0, 101)
    at = np.searchsorted(rec, points, side="left")
    return float(np.mean(np.where(at < len(env), env[np.minimum(at, len(env) - 1)], 0.0)))


def detection_report(preds: Sequence[tuple[np.ndarray, np.ndarray]], truths: Sequence[np.ndarray],
                     score_threshold: float = 0.25, iou_thresholds: Sequence[float] = IOU_RANGE) -> dict:
    """P, R, F1 at ``score_threshold`` and IoU 0.5; AP@0.5, AP@0.5:0.95; the max-F1 operating point.

    ``preds``: per image (boxes (n, 4), scores (n,)); ``truths``: per image boxes (m, 4).
    """
    n_truth = int(sum(len(t) for t in truths))
    ious = [iou_matrix(p, t) if len(p) and len(t) else None for (p, _), t in zip(preds, truths)]
    scores = np.concatenate([np.asarray(s, np.float64) for _, s in preds]) if preds else np.zeros(0)
    aps = {}
    tp50 = None
    for thr in iou_thresholds:
        tp = np.concatenate([match_image(p, s, t, thr, iou)[0] for (p, s), t, iou in zip(preds, truths, ious)]) \
            if preds else np.zeros(0, bool)
        aps[float(thr)] = average_precision(scores, tp, n_truth)
        if abs(thr - 0.5) < 1e-9:
            tp50 = tp
    if tp50 is None:
        tp50 = np.concatenate([match_image(p, s, t, 0.5, iou)[0] for (p, s), t, iou in zip(preds, truths, ious)])
    keep = scores >= score_threshold
    n_tp = int(tp50[keep].sum())
    precision = n_tp / max(int(keep.sum()), 1)
    recall = n_tp / max(n_truth, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    thr_sorted, prec, rec = pr_curve(scores, tp50, n_truth)
    f1s = np.where(prec + rec > 0, 2 * prec * rec / np.where(prec + rec > 0, prec + rec, 1), 0.0)
    best = int(np.argmax(f1s)) if len(f1s) else -1
    return {"n_truth": n_truth, "n_detections": int(len(scores)), "score_threshold": score_threshold,
            "precision": precision, "recall": recall, "f1": f1, "ap50": aps.get(0.5, float("nan")),
            "ap50_95": float(np.mean(list(aps.values()))) if aps else float("nan"),
            "best_f1": float(f1s[best]) if best >= 0 else 0.0, "best_f1_threshold": float(thr_sorted[best]) if best >= 0 else None,
            "best_f1_precision": float(prec[best]) if best >= 0 else 0.0, "best_f1_recall": float(rec[best]) if best >= 0 else 0.0}

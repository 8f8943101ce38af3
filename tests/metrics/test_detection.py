"""Detection metrics: IoU against merge.iou, greedy matching, AP (step) against scikit-learn, COCO 101-point AP by hand."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.detection.merge import iou as merge_iou
from skysift.metrics.detection import average_precision, detection_report, iou_matrix, match_image


def test_iou_matrix_equals_the_merge_kernel():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 50, (7, 2))
    a = np.column_stack([a, a + rng.uniform(1, 20, (7, 2))])
    b = rng.uniform(0, 50, (5, 2))
    b = np.column_stack([b, b + rng.uniform(1, 20, (5, 2))])
    m = iou_matrix(a, b)
    for i in range(len(a)):
        np.testing.assert_allclose(m[i], merge_iou(a[i], b), atol=1e-12)


def test_greedy_matching_takes_the_best_free_truth_in_score_order():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    pred = np.array([[1, 0, 11, 10], [0, 0, 10, 10], [21, 0, 31, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    tp, matched = match_image(pred, scores, truth, 0.5)
    # the 0.9 box takes truth 0, so the 0.6 duplicate is a false positive
    assert tp.tolist() == [False, True, True, False] and matched.tolist() == [-1, 0, 1, -1]


def test_step_ap_is_sklearn_average_precision_scaled_by_the_found_share():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        scores = rng.uniform(0, 1, n)
        tp = rng.random(n) < 0.6
        if not tp.any():
            continue
        n_truth = int(tp.sum() + rng.integers(0, 10))
        ours = average_precision(scores, tp, n_truth, method="step")
        ref = average_precision_score(tp, scores) * tp.sum() / n_truth
        assert ours == pytest.approx(ref, abs=1e-12)


def test_coco101_by_hand():
    # ranked: TP, FP, TP with 4 truths: recall 0.25, 0.25, 0.5; precision 1, 0.5, 0.667
    scores = np.array([0.9, 0.8, 0.7])
    tp = np.array([True, False, True])
    # envelope: 1 up to recall 0.25 (26 points 0..0.25), 2/3 for 0.26..0.5 (25 points), 0 beyond
    want = (26 * 1.0 + 25 * (2 / 3)) / 101
    assert average_precision(scores, tp, 4) == pytest.approx(want, abs=1e-12)
    assert average_precision(scores, np.zeros(3, bool), 4) == 0.0


def test_report_of_perfect_detections():
    truth = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)]
    preds = [(truth[0].copy(), np.array([0.9, 0.8]))]
    r = detection_report(preds, truth)
    assert (r["precision"], r["recall"], r["f1"], r["ap50"], r["ap50_95"]) == (1.0, 1.0, 1.0, 1.0, 1.0)

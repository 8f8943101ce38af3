"""Metrics against scikit-learn and a hand-computed confusion matrix."""
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_cm
from sklearn.metrics import f1_score, precision_recall_fscore_support

from skysift.metrics.classification import classification_report, confusion_matrix, macro_f1


def test_hand_computed_case():
    t = ["a", "a", "a", "b", "b", "c"]
    p = ["a", "a", "b", "b", "c", "c"]
    labels, cm = confusion_matrix(t, p)
    assert labels == ["a", "b", "c"]
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    r = classification_report(t, p)
    # a: P = 2/2, R = 2/3, F1 = 0.8; b: P = 1/2, R = 1/2, F1 = 0.5; c: P = 1/2, R = 1, F1 = 2/3
    assert r["per_class"]["a"]["f1"] == pytest.approx(0.8)
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["accuracy"] == pytest.approx(4 / 6)


def test_matches_sklearn_on_random_labels():
    rng = np.random.default_rng(3)
    t = rng.choice(["sf", "agn", "normal", "rare"], 500, p=[0.5, 0.3, 0.18, 0.02])
    p = np.where(rng.random(500) < 0.7, t, rng.choice(["sf", "agn", "normal"], 500))
    labels = ["agn", "normal", "rare", "sf"]
    r = classification_report(t, p, labels)
    pr, rc, f1, sup = precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    assert [r["per_class"][x]["precision"] for x in labels] == pytest.approx(pr)
    assert [r["per_class"][x]["recall"] for x in labels] == pytest.approx(rc)
    assert macro_f1(t, p, labels) == pytest.approx(f1_score(t, p, labels=labels, average="macro", zero_division=0))
    assert np.array_equal(confusion_matrix(t, p, labels)[1], sk_cm(t, p, labels=labels))


def test_unpredicted_rows_count_as_misses():
    r = classification_report(["a", "b"], ["a", None])
    assert r["per_class"]["b"]["recall"] == 0.0 and r["accuracy"] == 0.5

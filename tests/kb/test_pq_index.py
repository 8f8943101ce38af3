"""The IVF-PQ option of kb.pq_index against brute-force search (numpy), and its files."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.kb.pq_index import (
    PQRun, check_ivfpq, default_ivf_lists, ivf_nbits, load_ivfpq, search_ivfpq_top1, train_ivfpq, write_ivfpq,
)


def clustered(n, dim=200, n_centres=12, seed=0):
    """(database, queries): n unit vectors around n_centres centres, and n // 5 queries around the same centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (n_centres, dim))

    def draw(m):
        x = centres[rng.integers(0, n_centres, m)] + rng.normal(0, 0.3, (m, dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return draw(n), draw(n // 5)


def brute_top1(db, q):
    d = ((q[:, None, :].astype(np.float64) - db[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1), d.min(axis=1)


def test_nbits_round_k_up_to_a_power_of_two():
    assert [ivf_nbits(k) for k in (1, 2, 100, 128, 129, 800, 3200)] == [1, 1, 7, 7, 8, 10, 12]
    assert default_ivf_lists(10_000) == 256 and default_ivf_lists(200_000) == 1789 and default_ivf_lists(50) == 1


def test_refine_over_every_cell_is_exact_search():
    db, q = clustered(600)
    run = PQRun(2.0, 10, 16)
    index = train_ivfpq(db, run, n_lists=8, refine=True, n_iter=5)
    d, i = search_ivfpq_top1(index, q, n_probe=8, refine=600)
    ref_i, ref_d = brute_top1(db, q)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(d, ref_d, rtol=1e-4, atol=1e-5)


def test_one_training_fills_both_variants_as_training_each():
    from skysift.kb.pq_index import fill_ivfpq, train_ivfpq_empty

    db, q = clustered(600)
    run = PQRun(2.0, 10, 16)
    trained = train_ivfpq_empty(db, run, n_lists=8, n_iter=5)
    for refine, k in ((False, 0), (True, 5)):
        a = search_ivfpq_top1(fill_ivfpq(trained, db, refine), q, 2, k)
        b = search_ivfpq_top1(train_ivfpq(db, run, n_lists=8, refine=refine, n_iter=5), q, 2, k)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], b[0])
    assert trained.ntotal == 0  # filling copies the trained index


def test_more_probes_more_recall_and_files_round_trip(tmp_path):
    db, _ = clustered(1500, n_centres=40)
    q = db[:300] + np.random.default_rng(2).normal(0, 0.002, (300, db.shape[1])).astype(np.float32)
    run = PQRun(2.0, 20, 32)
    index = train_ivfpq(db, run, n_lists=32, n_iter=5)
    ref_i, _ = brute_top1(db, q)
    recall = [np.mean(search_ivfpq_top1(index, q, p)[1] == ref_i) for p in (1, 32)]
    assert recall[1] >= recall[0] and recall[1] > 0.8  # a query next to its own row mostly finds it (86 % here)
    uri = write_ivfpq(str(tmp_path), run, index)
    again = load_ivfpq(uri)
    for p in (1, 4):
        np.testing.assert_array_equal(search_ivfpq_top1(again, q, p)[1], search_ivfpq_top1(index, q, p)[1])


def test_bad_setups_name_the_values(tmp_path):
    with pytest.raises(ValueError, match="rounds up to 128"):
        check_ivfpq(PQRun(2.0, 10, 100), 200, 100, 4)
    with pytest.raises(ValueError, match="do not divide"):
        check_ivfpq(PQRun(2.0, 30, 16), 200, 1000, 4)
    with pytest.raises(ValueError, match="coarse cells"):
        check_ivfpq(PQRun(2.0, 10, 16), 200, 10, 40)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "ivfpq.faiss").write_bytes(b"not an index")
    with pytest.raises(ValueError, match="not a faiss index"):
        load_ivfpq(str(tmp_path / "x"))

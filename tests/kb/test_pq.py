"""Product quantisation against faiss.IndexPQ, faiss.IndexFlatL2 brute force and numpy formulas."""
import numpy as np
import pytest

import faiss

from skysift.config import ConfigError
from skysift.kb.pq import (
    TABLE1, PQCodebook, PQConfig, check_pq_shape, distance_tables, encode, gather_sum, reconstruct, search,
    train_codebook,
)


def faiss_pq_with(codebook: PQCodebook, nbits: int, data: np.ndarray) -> faiss.IndexPQ:
    index = faiss.IndexPQ(codebook.dim, codebook.n_segments, nbits)
    faiss.copy_array_to_vector(codebook.centroids.ravel(), index.pq.centroids)
    index.is_trained = True
    index.add(data)
    return index


def clustered(n, dim, n_clusters, seed, spread=0.3, labels=False, centre_seed=None):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(seed if centre_seed is None else centre_seed).normal(size=(n_clusters, dim))
    label = rng.integers(0, n_clusters, n)
    x = (centres[label] + spread * rng.normal(size=(n, dim))).astype(np.float32)
    return (x, label) if labels else x


def test_table1_configurations():
    assert len(TABLE1) == 12
    assert [c.name for c in TABLE1] == [
        "2/25/100", "2/50/200", "2/100/400", "2/250/800", "2/500/1600", "2/1250/3200",
        "1/50/200", "1/100/400", "1/200/800", "1/500/800", "1/500/1600", "1/1000/3200"]
    for c in TABLE1:
        assert c.n_points == (2500 if c.step_angstrom == 2 else 5000)
        assert c.n_points % c.n_segments == 0
        assert c.k & (c.k - 1) != 0  # none a power of two: the reason for this module


def test_config_and_shape_errors_name_the_values():
    with pytest.raises(ConfigError, match=r"n_segments \(7\) must divide the 2500"):
        PQConfig(2.0, 7, 100)
    with pytest.raises(ConfigError, match="k must be"):
        PQConfig(2.0, 25, 70000)
    with pytest.raises(ValueError, match="M=3 must divide the vector dimension D=100"):
        check_pq_shape(100, 3, 10, 1000)
    with pytest.raises(ValueError, match="K=500 centroids per segment exceeds the 100 training vectors"):
        train_codebook(np.zeros((100, 20), np.float32), 4, 500)
    bad = np.zeros((50, 20), np.float32)
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        train_codebook(bad, 4, 5)


@pytest.mark.parametrize("nbits", [8, 5])
def test_squared_metric_equals_faiss_index_pq(nbits):
    # unclustered data: no two templates share all codes, so no distance ties whose order faiss would choose
    rng = np.random.default_rng(nbits)
    x = rng.normal(size=(3000, 64)).astype(np.float32)
    q = rng.normal(size=(200, 64)).astype(np.float32)
    cb = train_codebook(x, 8, 2**nbits, seed=3)
    codes = encode(cb, x)
    index = faiss_pq_with(cb, nbits, x)
    # the same codes: faiss's decode of its codes equals our reconstruction
    np.testing.assert_array_equal(index.pq.decode(index.pq.compute_codes(x)), reconstruct(cb, codes))
    if nbits == 8:
        np.testing.assert_array_equal(index.pq.compute_codes(x), codes.astype(np.uint8))
    d_faiss, i_faiss = index.search(q, 5)
    d_ours, i_ours = search(cb, codes, q, k=5, metric="squared")
    np.testing.assert_array_equal(i_ours, i_faiss)
    np.testing.assert_allclose(d_ours, d_faiss, rtol=2e-5, atol=1e-4)


def test_l2_sum_metric_equals_the_brute_force_formula():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 24)).astype(np.float32)
    q = rng.normal(size=(20, 24)).astype(np.float32)
    cb = train_codebook(x, 6, 13, seed=5)  # K = 13: not a power of two
    codes = encode(cb, x)
    recon = reconstruct(cb, codes).reshape(300, 6, 4)
    # sum over segments of || q_m - c_m ||, written out with numpy
    brute = np.sqrt(((q.reshape(20, 1, 6, 4) - recon[None]) ** 2).sum(axis=3)).sum(axis=2)
    d, i = search(cb, codes, q, k=300, metric="l2_sum")
    np.testing.assert_allclose(d, np.take_along_axis(brute, i, axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(i[:, 0], brute.argmin(axis=1))
    assert np.all(np.diff(d, axis=1) >= 0)
    # squared tables: the squared formula
    t = distance_tables(cb, q, "squared")
    np.testing.assert_allclose(t[3, 2], ((q[3, 8:12] - cb.centroids[2]) ** 2).sum(axis=1), rtol=1e-5, atol=1e-5)


def test_encode_picks_the_nearest_centroid():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(500, 30)).astype(np.float32)
    cb = train_codebook(x, 3, 37, seed=7)
    codes = encode(cb, x)
    for m in range(3):
        d = ((x[:, None, m * 10:(m + 1) * 10] - cb.centroids[m][None]) ** 2).sum(axis=2)
        np.testing.assert_array_equal(codes[:, m], d.argmin(axis=1))
    assert codes.dtype == np.uint16


def test_recall_against_exact_search_on_clustered_data():
    x, x_label = clustered(5000, 100, 60, seed=8, spread=0.4, labels=True, centre_seed=0)
    q, q_label = clustered(300, 100, 60, seed=9, spread=0.4, labels=True, centre_seed=0)
    cb = train_codebook(x, 25, 100, seed=10)  # the paper's first configuration shape: M = 25, K = 100
    codes = encode(cb, x)
    flat = faiss.IndexFlatL2(100)
    flat.add(x)
    _, exact = flat.search(q, 1)
    _, top10 = search(cb, codes, q, k=10)
    recall_at_10 = np.mean([exact[j, 0] in top10[j] for j in range(len(q))])
    _, top1 = search(cb, codes, q, k=1)
    recall_at_1 = np.mean(top1[:, 0] == exact[:, 0])
    assert np.mean(x_label[exact[:, 0]] == q_label) == 1.0  # the set-up: exact neighbours share the cluster
    assert np.mean(x_label[top1[:, 0]] == q_label) > 0.98  # so does the PQ top-1
    assert recall_at_10 > 0.5, recall_at_10  # random: 10 / 5000
    assert recall_at_1 > 0.08, recall_at_1  # random: 1 / 5000 (measured 0.12: within a cluster all are near-equidistant)
    d_exact = np.linalg.norm(x[exact[:, 0]] - q, axis=1)
    d_pq = np.linalg.norm(x[top1[:, 0]] - q, axis=1)
    # the PQ top-1 is almost as close as the true nearest (measured 1.07; a random member of the cluster: 1.18)
    assert np.median(d_pq / d_exact) < 1.10


def test_numba_and_numpy_gathers_agree_exactly():
    rng = np.random.default_rng(11)
    tables = rng.random((7, 9, 300)).astype(np.float32)
    codes = rng.integers(0, 300, (1000, 9)).astype(np.uint16)
    np.testing.assert_array_equal(gather_sum(tables, codes, "numba"), gather_sum(tables, codes, "numpy"))
    brute = tables[:, np.arange(9)[None, :], codes.astype(int)].sum(axis=2)
    np.testing.assert_allclose(gather_sum(tables, codes), brute, rtol=1e-5)


def test_small_table_budget_gives_the_same_result():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(400, 20)).astype(np.float32)
    q = rng.normal(size=(33, 20)).astype(np.float32)
    cb = train_codebook(x, 5, 50, seed=13)
    codes = encode(cb, x)
    a = search(cb, codes, q, k=3)
    b = search(cb, codes, q, k=3, table_budget_bytes=1)  # one query per block
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5)  # BLAS rounds a block of 1 and of 33 differently
    with pytest.raises(ValueError, match="k=401"):
        search(cb, codes, q, k=401)
    with pytest.raises(ValueError, match=r"\(n, 20\)"):
        search(cb, codes, q[:, :10])


def test_codebook_round_trips_through_bytes_and_files(tmp_path):
    rng = np.random.default_rng(14)
    cb = PQCodebook(rng.normal(size=(4, 7, 3)).astype(np.float32))
    back = PQCodebook.from_bytes(cb.to_bytes())
    np.testing.assert_array_equal(back.centroids, cb.centroids)
    path = tmp_path / "cb.npz"
    cb.save(str(path))
    np.testing.assert_array_equal(PQCodebook.load(str(path)).centroids, cb.centroids)
    with pytest.raises(ValueError, match="not a skysift PQ codebook"):
        PQCodebook.from_bytes(b"junk", source="s3://bucket/cb.npz")

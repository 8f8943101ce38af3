"""The `lines` and `pq` benchmark cases at a tiny size: they run, agree with their baselines where they must."""
from __future__ import annotations

import pytest

from skysift.bench import cases
from skysift.bench.job import BenchmarkConfig, _line


def test_lines_case_same_redshifts_as_the_loop(tmp_path):
    cfg = BenchmarkConfig(case="lines", n_spectra=30, n_queries=3, record="")
    out = cases.bench_lines(None, cfg, tmp_path, _line)
    assert out["same_redshifts_as_loop"] is True and out["specutils_measured_on"] == 3
    assert out["ours_spectra_per_s"] > 0 and out["loop_ratio"] > 0 and out["scipy_loop_ratio"] > 0


def test_pq_case_with_ivf(tmp_path):
    cfg = BenchmarkConfig(case="pq", n_rows=300, n_queries=40, record="", pq_configurations="2/25/100", ivf_lists=4,
                          ivf_probes=(1, 4), ivf_refine=20)
    out = cases.bench_pq(None, cfg, tmp_path, _line)["runs"]["2/25/100"]
    assert 0 <= out["recall_at_1"] <= 1 and 0 <= out["z_agreement"] <= 1
    ivf = {(r["refine"], r["n_probe"]): r for r in out["ivf"]}
    assert set(ivf) == {(0, 1), (0, 4), (20, 1), (20, 4)}
    # more cells probed never finds fewer exact neighbours; re-ranking 20 of 300 candidates over every cell
    # is close to exact search
    assert ivf[(0, 4)]["recall_at_1"] >= ivf[(0, 1)]["recall_at_1"] - 0.05
    assert ivf[(20, 4)]["recall_at_1"] >= 0.8


@pytest.mark.slow
def test_emission_scale_case_runs_the_job_and_estimates_the_paper_run(tmp_path):
    cfg = BenchmarkConfig(case="emission-scale", n_spectra=120, n_rows=120, record="",
                          scale_configurations="2/25/100")
    out = cases.bench_emission_scale(None, cfg, tmp_path, _line)
    assert out["stages"]["searched"] > 100 and out["configurations"] == ["2/25/100"]
    assert set(out["stage_seconds"]) == {"lines_and_redshifts", "pq_training", "pq_scoring",
                                         "classification_and_catalogs"}
    est = out["paper_estimate"]
    assert est["hours_on_16_cores_train_on_driver"] >= est["hours_on_256_cores_train_on_driver"] > 0
    assert out["python_driver_peak_gib"] > 0


@pytest.mark.parametrize("templates", [False, True])
def test_cached_pool_chunks_are_the_rows_of_one_draw(tmp_path, monkeypatch, templates):
    import numpy as np

    from skysift.bench import emission_bench as eb

    def same(a, b):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype or (x.dtype == object and y.dtype == object)
            np.testing.assert_array_equal(x, y)

    one = eb._pool_on_grid(35, 5, templates=templates)  # pool rows re-observe earlier rows: across chunks too
    kw = dict(templates=templates, cache_dir=tmp_path, chunk_rows=10, min_rows=0)
    same(eb._cached_pool(23, 5, **kw), [a[:23] for a in one])
    folder = tmp_path / f"pool_{'tpl' if templates else 'q'}_5"
    assert sorted(p.name for p in folder.iterdir()) == [
        "rows_000000000_000000010.npz", "rows_000000010_000000020.npz", "rows_000000020_000000023.npz"]
    # a larger set reuses the whole chunks, draws the partial one again whole; an interrupted draw (a chunk
    # missing, a temporary file left behind) resumes
    (folder / "rows_000000010_000000020.npz").unlink()
    (folder / "rows_000000030_000000035.partial.npz").write_bytes(b"interrupted")
    same(eb._cached_pool(35, 5, **kw), one)
    assert (folder / "rows_000000020_000000030.npz").exists() and (folder / "rows_000000010_000000020.npz").exists()

    def no_draw(*a, **k):
        raise AssertionError("drawn again")

    monkeypatch.setattr(eb, "_pool_on_grid", no_draw)
    same(eb._cached_pool(30, 5, **kw), [a[:30] for a in one])


def test_search_vectors_blocks_give_the_rows_of_one_block():
    import numpy as np

    from skysift.bench.emission_bench import WAVE
    from skysift.kb.pq_index import search_vectors

    flux = np.random.default_rng(1).uniform(-1, 3, (23, 2500)).astype(np.float32)
    flux[3] = 0.0
    flux[5, 100:200] = np.nan
    for step, norm in ((2.0, "l2"), (2.0, "lu2022"), (1.0, "l2")):
        whole = search_vectors(flux, WAVE, step, norm, block_rows=10**6)
        assert whole.dtype == np.float32 and not whole[3].any()
        for block in (1, 4, 7):
            np.testing.assert_array_equal(search_vectors(flux, WAVE, step, norm, block_rows=block), whole)

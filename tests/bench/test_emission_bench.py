"""The `lines` and `pq` benchmark cases at a tiny size: they run, agree with their baselines where they must."""
from __future__ import annotations

from skysift.bench import cases
from skysift.bench.job import BenchmarkConfig, _line


def test_lines_case_same_redshifts_as_the_loop(tmp_path):
    cfg = BenchmarkConfig(case="lines", n_spectra=30, n_queries=3, record="")
    out = cases.bench_lines(None, cfg, tmp_path, _line)
    assert out["same_redshifts_as_loop"] is True and out["specutils_measured_on"] == 3
    assert out["ours_spectra_per_s"] > 0 and out["loop_ratio"] > 0


def test_pq_case_with_ivf(tmp_path):
    cfg = BenchmarkConfig(case="pq", n_rows=150, n_queries=40, record="", pq_configurations="2/25/100", ivf_lists=4,
                          ivf_probe=4)
    out = cases.bench_pq(None, cfg, tmp_path, _line)["runs"]["2/25/100"]
    assert 0 <= out["recall_at_1"] <= 1 and 0 <= out["z_agreement"] <= 1
    # probing every cell is the plain PQ search: the same answers
    assert out["ivf_recall_at_1"] == out["recall_at_1"]

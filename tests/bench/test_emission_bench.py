"""The `lines` and `pq` benchmark cases at a tiny size: they run, agree with their baselines where they must."""
from __future__ import annotations

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

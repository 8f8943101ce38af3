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

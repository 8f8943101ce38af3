"""The predict-sfr benchmark case on a small table: both sides predict the same rows alike."""
import numpy as np
import pytest

from skysift.bench.sfr_bench import SPECTRUM_PX, synthetic_rows


def test_synthetic_rows_are_what_predict_sfr_reads():
    from skysift.models.sfr_inputs import table_arrays

    t = synthetic_rows(20, seed=1)
    a, good, reasons = table_arrays(t, 16, 3, 5, SPECTRUM_PX, True, True)
    assert len(good) == 20 and reasons == [None] * 20
    assert a.pixels.shape == (20, 5, 16, 16) and a.flux.shape == (20, SPECTRUM_PX)
    np.testing.assert_array_equal(a.pixels[3].ravel(), np.asarray(t.column("pixels")[3].as_py(), np.float32))


@pytest.mark.slow
def test_case_runs_and_both_sides_agree(spark, tmp_path):
    from skysift.bench.job import _line
    from skysift.bench.sfr_bench import run_predict_sfr_benchmark

    r = run_predict_sfr_benchmark(spark, tmp_path, n_rows=300, seed=3, line=_line, repeats=1, train=False, ceiling=True)
    assert r["case"] == "predict-sfr" and r["rows"] == 300 and r["same_predictions"]
    assert r["ours"] > 0 and r["baseline"] > 0 and r["one_thread_rows_per_s"] > 0
    # the no-Spark ceiling: two loop processes over half the files each predict every row once
    c = r["two_process_ceiling"]
    assert c["one_process_s"] > 0 and c["ceiling"] == pytest.approx(c["one_process_s"] / c["two_processes_s"], rel=1e-2)
    import pyarrow.parquet as pq

    rows = {d: pq.read_table(tmp_path / "ceiling" / d).num_rows for d in ("all0", "h0-0", "h1-0")}
    assert rows == {"all0": 300, "h0-0": 150, "h1-0": 150}, rows


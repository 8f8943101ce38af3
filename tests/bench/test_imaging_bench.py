"""The frames / cutouts benchmark cases' inputs: ``n_fields`` selects the synthetic survey, and the cutout
catalog is repeated to ``n_rows`` with a bounded jitter (issue 14: 100,000 cutouts of 40 fields)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from astropy.coordinates import SkyCoord


def test_repeated_catalog_keeps_the_originals_and_jitters_the_copies_within_3_arcsec():
    from skysift.bench.cutouts_bench import repeat_catalog

    base = pa.table({"objid": [11, 12, 13], "ra": [10.0, 10.01, 200.0], "dec": [0.5, -0.2, 60.0]})
    out = repeat_catalog(base, 10, seed=3)
    ids = out.column("objid").to_pylist()
    assert ids[:3] == ["11", "12", "13"] and ids[3:6] == ["11-1", "12-1", "13-1"] and ids[9] == "11-3"
    assert len(set(ids)) == 10
    ra, dec = out.column("ra").to_numpy(), out.column("dec").to_numpy()
    np.testing.assert_array_equal(ra[:3], [10.0, 10.01, 200.0])
    take = np.arange(10) % 3
    sep = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(base.column("ra").to_numpy()[take],
                                                            base.column("dec").to_numpy()[take], unit="deg")).arcsec
    assert sep[:3].max() == 0 and 0 < sep[3:].min() and sep.max() <= 3.0 * np.sqrt(2) + 1e-6
    assert repeat_catalog(base, 10, seed=3).equals(out)


@pytest.mark.parametrize("case", ["frames", "cutouts"])
def test_n_fields_selects_the_synthetic_inputs(case, monkeypatch, tmp_path):
    from skysift.bench import cases, cutouts_bench, frames_bench
    from skysift.bench.job import BenchmarkConfig

    seen = {}

    def fake_run(spark, make_inputs, workdir, **options):
        seen["inputs"] = make_inputs
        return {k: 1.0 for k in ("ours_s", "baseline_s", "frames", "tiles", "ours_frames_per_s", "decompress_share",
                                 "baseline_frames_per_s", "cutouts", "ours_cutouts_per_s", "baseline_cutouts_per_s")}

    monkeypatch.setattr(frames_bench, "run_frames_benchmark", fake_run)
    monkeypatch.setattr(cutouts_bench, "run_cutouts_benchmark", fake_run)
    fn = cases.bench_frames if case == "frames" else cases.bench_cutouts
    line = lambda *a, **k: {}  # noqa: E731
    fn(None, BenchmarkConfig(case=case), tmp_path, line)
    assert seen["inputs"] in (frames_bench.real_frames_inputs, cutouts_bench.real_cutout_inputs)
    fn(None, BenchmarkConfig(case=case, n_fields=40, n_rows=100_000, seed=9), tmp_path, line)
    assert seen["inputs"].keywords["n_fields"] == 40 and seen["inputs"].keywords["seed"] == 9
    assert seen["inputs"].func in (frames_bench.synthetic_frames_inputs, cutouts_bench.synthetic_cutout_inputs)
    if case == "cutouts":
        assert seen["inputs"].keywords["n_rows"] == 100_000

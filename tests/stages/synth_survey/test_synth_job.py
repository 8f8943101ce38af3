"""`skysift synth-survey` on a local[2] Spark session, both formats, small n."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest

from skysift.cli import run_job
from skysift.config import ConfigError, load_config
from skysift.runtime.output import count_rows
from skysift.runtime.rejects import read_rejects
from skysift.io.tables import read_table_json
from skysift.paths import default_job_config
from skysift.schema import SPECTRA, TRUTH
from skysift.stages.synth_survey.job import SynthSurveyConfig, read_truth, run
from skysift.synth.model import generate

SMALL = ["--set", "rows_per_partition=40", "--set", "batch_rows=16"]


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("_table.json", "_manifest.json")  # _table.json names the output; the manifest holds its size
    }


def test_fits_job_twice_same_bytes(spark, tmp_path):
    out = tmp_path / "survey"
    argv = ["--output", str(out), "--set", "n_spectra=90", "--set", "seed=5", "--set", "format=fits", *SMALL]
    s1 = run_job("synth-survey", argv, spark=spark)
    assert (s1["read"], s1["written"], s1["rejected"], s1["files_written"]) == (90, 90, 0, 90)
    assert s1["balanced"] and s1["partitions"] == 3
    first = _hashes(out)
    assert sum(k.endswith(".fits") for k in first) == 90
    truth = read_truth(out)
    assert truth.row_number.tolist() == list(range(90))
    assert pads.dataset(str(out / "truth")).schema.remove_metadata() == TRUTH
    for rel in truth.source_file:
        assert (out / rel).is_file()
    run_job("synth-survey", argv, spark=spark)
    assert _hashes(out) == first  # re-run replaced the output with identical bytes
    assert not list(tmp_path.glob(".survey.*"))  # no staging left behind
    # the same rows from a different partitioning (and no Spark) give the same files
    seq = tmp_path / "seq"
    cfg = load_config(SynthSurveyConfig, default_job_config("synth-survey"), ["n_spectra=90", "seed=5", "rows_per_partition=90", "batch_rows=50"], {"output": str(seq)})
    run(None, cfg)  # the sequential twin: the same tasks in this process
    seq_fits = {k: v for k, v in _hashes(seq).items() if k.endswith(".fits")}
    assert seq_fits == {k: v for k, v in first.items() if k.endswith(".fits")}


def test_fits_output_ingests(spark, tmp_path):
    """The files go through the lead's ingest job: every file read, z and class from SPECOBJ match truth."""
    out = tmp_path / "survey"
    run_job("synth-survey", ["--output", str(out), "--set", "n_spectra=40", *SMALL], spark=spark)
    table = tmp_path / "spectra"
    summary = run_job("ingest-spectra", ["--input", str(out / "spectra"), "--output", str(table)], spark=spark)
    assert summary["read"] == 40 and summary["written"] + summary["rejected"] == 40
    rows = pads.dataset(str(table), format="parquet", partitioning="hive").to_table(columns=["spec_id", "z", "class"]).to_pandas()
    truth = read_truth(out).set_index("file_spec_id")
    joined = rows.join(truth[["z", "class"]], on="spec_id", rsuffix="_truth")
    assert len(joined) == summary["written"] >= 36
    np.testing.assert_allclose(joined.z, joined.z_truth, rtol=1e-6, atol=1e-8)
    assert (joined["class"] == joined["class_truth"]).all()


def test_parquet_job(spark, tmp_path):
    out = tmp_path / "direct"
    argv = ["--output", str(out), "--set", "n_spectra=100", "--set", "seed=8", "--set", "format=parquet", *SMALL]
    s = run_job("synth-survey", argv, spark=spark)
    assert s["read"] == 100 and s["written"] + s["rejected"] == 100 and s["files_written"] == 0
    assert s["written"] >= 95
    spectra = out / "spectra"
    assert count_rows(spectra) == s["written"]
    assert len(read_rejects(out)) == s["rejected"]
    props = read_table_json(spectra)
    assert props["grid_id"] == "lin:3850:9000:3688" and props["partition_column"] == "healpix_part"
    table = pads.dataset(str(spectra), format="parquet", partitioning="hive").to_table()
    assert set(SPECTRA.names) - {"healpix_part"} <= set(table.column_names)
    df = table.to_pandas().sort_values("spec_id").reset_index(drop=True)
    assert all(len(f) == 3688 for f in df.flux)
    truth = read_truth(out)
    assert len(truth) == 100 and set(df.spec_id) <= set(truth.spec_id)
    t = truth.set_index("spec_id").loc[df.spec_id]
    np.testing.assert_allclose(df.z.to_numpy(), t.z.to_numpy())
    assert (df.healpix29.to_numpy() == t.healpix29.to_numpy()).all()
    # resampled flux x norm_factor is the generated spectrum interpolated onto the grid (numpy.interp)
    row = int(df.spec_id.iat[0].split("-")[1])
    b = generate(np.array([row]), 8, load_config(SynthSurveyConfig, None, [], {"output": "x"}).model)
    s0 = b.pixel_slice(0)
    wave = 10 ** (3.5 + 1e-4 * np.arange(b.k0[0], b.k0[0] + b.n_pix[0]))
    grid = np.linspace(3850, 9000, 3688)
    inside = (grid > wave[0] + 5) & (grid < wave[-1] - 5)
    good = (b.ivar[0, s0] > 0) & (b.and_mask[0, s0] == 0)
    want = np.interp(grid, wave[good], b.flux[0, s0][good].astype(np.float64))
    got = np.asarray(df.flux.iat[0], dtype=np.float64) * float(df.norm_factor.iat[0])
    np.testing.assert_allclose(got[inside], want[inside], rtol=2e-3, atol=1e-3 * np.abs(want).max())
    # the sequential runner with the same partitioning writes the same bytes
    seq = tmp_path / "seq"
    cfg = load_config(
        SynthSurveyConfig, default_job_config("synth-survey"),
        ["n_spectra=100", "seed=8", "format=parquet", "rows_per_partition=40", "batch_rows=16"], {"output": str(seq)},
    )
    run(None, cfg)  # the sequential twin: the same tasks in this process
    assert _hashes(seq) == _hashes(out)


def test_config_errors():
    with pytest.raises(ConfigError, match="format"):
        load_config(SynthSurveyConfig, None, ["format=hdf5"], {"output": "x"})
    with pytest.raises(ConfigError, match="n_spectra"):
        load_config(SynthSurveyConfig, None, ["n_spectra=0"], {"output": "x"})
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(SynthSurveyConfig, None, ["model.classes.galaxy=1"], {"output": "x"})
    cfg = load_config(SynthSurveyConfig, default_job_config("synth-survey"), [], {"output": "x"})
    assert cfg == SynthSurveyConfig(output="x")  # YAML defaults = dataclass defaults

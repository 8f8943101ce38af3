"""`skysift dedupe`: friends-of-friends merging against a brute-force reference."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from skysift.stages.dedupe.config import DedupeConfig
from skysift.stages.dedupe.job import run
from skysift.stages.dedupe.tasks import dedupe_frame
from skysift.runtime.rejects import read_rejects
from skysift.synth.mock_catalogs import _offset, hard_sky, neighbours_of


def _reference_groups(df, radius):
    c = SkyCoord(df["ra_deg"].to_numpy() * u.deg, df["dec_deg"].to_numpy() * u.deg)
    i, j, _, _ = search_around_sky(c, c, radius * u.arcsec)
    n = len(df)
    _, comp = connected_components(coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)), directed=False)
    return comp


@pytest.fixture(scope="module")
def detections():
    base = hard_sky(1500, seed=31)
    dup = neighbours_of(base, 900, seed=32, max_sep_arcsec=0.45)
    df = pd.concat([base, dup], ignore_index=True)
    # a chain: 0.4" steps, ends 1.2" apart -> one group of 4 by friends-of-friends
    ra, dec = _offset(np.full(4, 200.0), np.full(4, 10.0), np.arange(4) * 0.4, np.zeros(4))
    df = pd.concat([df, pd.DataFrame({"ra_deg": ra, "dec_deg": dec})], ignore_index=True)
    df["score"] = np.random.default_rng(33).uniform(0, 1, len(df))
    df["det"] = np.arange(len(df))
    return df


def test_dedupe_frame_equals_brute_force(detections):
    comp = _reference_groups(detections, 0.5)
    out = dedupe_frame(detections, 0.5, score="score")
    ref = detections.assign(g=comp).sort_values(["g", "score"], ascending=[True, False]).groupby("g").head(1)
    assert sorted(out["det"]) == sorted(ref["det"])
    sizes = pd.Series(comp).value_counts()
    assert (out.set_index("det")["n_merged"].loc[ref["det"]].to_numpy() == sizes.loc[ref["g"]].to_numpy()).all()
    assert out["n_merged"].max() >= 4 and out["n_merged"].sum() == len(detections)


def test_dedupe_job_on_spark(spark, detections, tmp_path):
    df = detections.copy()
    df.loc[[0, 1], "dec_deg"] = [np.nan, 100.0]
    df.to_parquet(tmp_path / "det.parquet")
    summary = run(spark, DedupeConfig(input=str(tmp_path / "det.parquet"), output=str(tmp_path / "o"),
                                      score_column="score", id_column="det", target_rows_per_group=300))
    got = pd.read_parquet(tmp_path / "o")
    ref = dedupe_frame(df.drop(index=[0, 1]), 0.5, score="score")
    assert sorted(got["det"]) == sorted(ref["det"])
    assert (got.set_index("det")["n_merged"].loc[ref["det"]].to_numpy() == ref["n_merged"].to_numpy()).all()
    assert summary["read"] == summary["written"] + summary["rejected"] + summary["merged_away"] == len(df)
    assert sorted(read_rejects(tmp_path / "o").to_pandas()["spec_id"]) == ["0", "1"]


def test_dedupe_through_the_cli_is_balanced(spark, detections, tmp_path):
    from skysift.cli import run_job

    df = detections.copy()
    df.loc[[3], "ra_deg"] = np.inf
    df.to_parquet(tmp_path / "det.parquet")
    summary = run_job("dedupe", ["--input", str(tmp_path / "det.parquet"), "--output", str(tmp_path / "o"),
                                 "--set", "score_column=score"], spark=spark)
    ref = dedupe_frame(df.drop(index=[3]), 0.5, score="score")
    assert summary["balanced"] is True and summary["rejected"] == 1 and summary["written"] == len(ref)
    assert summary["other_outcomes"] == {"merged_away": len(df) - 1 - len(ref)} and summary["read"] == len(df)


def test_dedupe_without_any_duplicate(spark, tmp_path):
    """A catalog with no pair inside the radius comes back whole, n_merged = 1 everywhere."""
    import numpy as np
    import pandas as pd
    import pyarrow.dataset as pads

    from skysift.config import load_config
    from skysift.stages.dedupe.job import CONFIG, run

    src = tmp_path / "in"
    src.mkdir()
    pd.DataFrame({"ra_deg": np.arange(20) * 1.0, "dec_deg": np.zeros(20), "score": np.arange(20.0)}).to_parquet(
        src / "part.parquet")
    cfg = load_config(CONFIG, None, [f"input={src}", f"output={tmp_path / 'out'}", "radius_arcsec=0.5",
                                     "score_column=score"])
    summary = run(spark, cfg)
    out = pads.dataset(str(tmp_path / "out"), format="parquet").to_table().to_pandas()
    assert len(out) == 20 and set(out.n_merged) == {1}
    assert summary["written"] == 20

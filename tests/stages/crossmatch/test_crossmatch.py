"""`skysift crossmatch` on local Spark against astropy, the real SDSS sample and bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

from skysift.cli import run_job
from skysift.stages.crossmatch.config import CrossmatchConfig
from skysift.stages.crossmatch.job import run
from skysift.xmatch.catalogs import CatalogColumnError
from skysift.runtime.rejects import read_rejects
from skysift.io.tables import read_table_json
from skysift.synth.mock_catalogs import benchmark_pair, hard_sky, neighbours_of


def _coords(df, ra="ra_deg", dec="dec_deg"):
    return SkyCoord(df[ra].to_numpy(float) * u.deg, df[dec].to_numpy(float) * u.deg)


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory):
    """Hard sky (poles, RA seam, clumps) with ids, a string column and a few bad rows on each side."""
    root = tmp_path_factory.mktemp("xm")
    left = hard_sky(3000, seed=21)
    left["lid"] = np.arange(len(left), dtype=np.int64)
    left["name"] = [f"L{i}" for i in range(len(left))]
    right = pd.concat([neighbours_of(left, 2400, seed=22, max_sep_arcsec=3.0), hard_sky(800, seed=23)], ignore_index=True)
    right["rid"] = np.arange(len(right), dtype=np.int64)
    right["mag"] = np.linspace(14, 22, len(right)).astype(np.float32)
    right["radius_arcsec"] = np.random.default_rng(24).uniform(0.3, 5.0, len(right))
    left.loc[[7, 8, 9], ["ra_deg", "dec_deg"]] = [[np.nan, 1.0], [361.0, 0.0], [10.0, -90.5]]
    right.loc[[3, 4], ["ra_deg", "dec_deg"]] = [[-0.1, 0.0], [5.0, np.nan]]
    right.loc[5, "radius_arcsec"] = -1.0
    (root / "left").mkdir()
    (root / "right").mkdir()
    # several files per side: Spark reads a folder
    for k, part in enumerate([left.iloc[:1000], left.iloc[1000:2000], left.iloc[2000:]]):
        part.to_parquet(root / "left" / f"part-{k}.parquet", index=False)
    for k, part in enumerate([right.iloc[:1600], right.iloc[1600:]]):
        part.to_parquet(root / "right" / f"part-{k}.parquet", index=False)
    good_l = left.drop(index=[7, 8, 9])
    good_r = right.drop(index=[3, 4])
    return root, good_l, good_r


def _astropy_pairs(left, right, radius):
    i1, i2, d, _ = search_around_sky(_coords(left), _coords(right), radius * u.arcsec)
    return dict(zip(zip(left["lid"].to_numpy()[i1].tolist(), right["rid"].to_numpy()[i2].tolist()), d.to_value(u.arcsec)))


def test_all_pairs_equal_astropy_and_bad_rows_rejected(spark, catalogs):
    root, left, right = catalogs
    out = root / "all"
    summary = run(spark, CrossmatchConfig(left=str(root / "left"), right=str(root / "right"), output=str(out),
                                          mode="all", target_rows_per_group=400, left_id_column="lid", right_id_column="rid"))
    got = pd.read_parquet(out)
    ref = _astropy_pairs(left, right, 2.0)
    pairs = dict(zip(zip(got["lid"].tolist(), got["rid_right"].tolist()), got["separation_arcsec"].tolist()))
    assert len(ref) > 2000
    assert len(pairs) == len(got)  # none counted twice
    assert set(pairs) == set(ref)
    assert max(abs(pairs[k] - ref[k]) for k in ref) < 1e-6
    assert summary["groups"] >= summary["buckets"] > 4  # many buckets (salting: test_one_dense_cell_is_salted)
    rej = read_rejects(out).to_pandas()
    assert len(rej) == 5 and summary["rejected"] == 3 and summary["right_rejected"] == 2
    # accounting of left rows: every one read is written (has a pair), rejected or unmatched
    assert summary["read"] == len(left) + 3 == summary["written"] + 3 + summary["other_outcomes"]["unmatched_left"]
    assert summary["written"] == got["lid"].nunique() and summary["pairs"] == len(got) == summary["rows_written"]
    assert summary["right_read"] == len(right) + 2
    assert sorted(rej["spec_id"]) == ["3", "4", "7", "8", "9"]
    assert all("RA in [0, 360]" in r for r in rej["reason"])
    assert all(rej["source_file"].str.contains("part-"))
    assert {"name", "healpix29", "mag_right", "healpix29_right"} <= set(got.columns)
    assert read_table_json(out)["healpix_order"] == 15


def test_nearest_left_join_equals_match_to_catalog_sky(spark, catalogs):
    root, left, right = catalogs
    out = root / "nearest"
    run(spark, CrossmatchConfig(left=str(root / "left"), right=str(root / "right"), output=str(out),
                                mode="nearest", how="left", radius_arcsec=1.5, target_rows_per_group=500))
    got = pd.read_parquet(out).sort_values("lid").reset_index(drop=True)
    assert got["lid"].tolist() == sorted(left["lid"])  # every valid left row exactly once
    idx, d2d, _ = _coords(left).match_to_catalog_sky(_coords(right))
    d = d2d.to_value(u.arcsec)
    hit = d <= 1.5
    sep = got["separation_arcsec"].to_numpy(float)
    assert np.array_equal(~np.isnan(sep), hit)
    assert np.max(np.abs(sep[hit] - d[hit])) < 1e-6
    assert np.array_equal(got["rid_right"].to_numpy(float)[hit], right["rid"].to_numpy()[idx[hit]])
    counts = _astropy_pairs(left, right, 1.5)
    n_ref = pd.Series([k[0] for k in counts]).value_counts()
    n_got = got.set_index("lid")["n_matches"]
    assert (n_got[n_ref.index] == n_ref).all() and (n_got.drop(n_ref.index) == 0).all()


def test_fits_and_votable_outputs_hold_the_parquet_rows(spark, catalogs):
    """format=fits / votable: one file each, read back by astropy, with the rows of the Parquet output."""
    from astropy.table import Table

    root, _left, _right = catalogs
    common = dict(left=str(root / "left"), right=str(root / "right"), mode="nearest", radius_arcsec=1.5,
                  target_rows_per_group=500)
    run(spark, CrossmatchConfig(output=str(root / "near_pq"), **common))
    ref = pd.read_parquet(root / "near_pq").sort_values("lid").reset_index(drop=True)
    for fmt, suffix in (("fits", ".fits"), ("votable", ".vot")):
        out = root / f"near_{fmt}"
        summary = run(spark, CrossmatchConfig(output=str(out), format=fmt, **common))
        got = Table.read(out / f"near_{fmt}{suffix}").to_pandas().sort_values("lid").reset_index(drop=True)
        assert summary["rows_written"] == len(got) == len(ref)
        assert got["lid"].tolist() == ref["lid"].tolist()
        np.testing.assert_allclose(got["separation_arcsec"], ref["separation_arcsec"], rtol=0, atol=1e-9)
        assert got["rid_right"].tolist() == ref["rid_right"].tolist()


def test_left_join_summary_is_balanced_through_the_cli(spark, catalogs):
    """how=left: every valid left row is written (matched or not), bad ones rejected; the CLI says balanced."""
    root, left, right = catalogs
    summary = run_job("crossmatch", ["--left", str(root / "left"), "--right", str(root / "right"), "--output",
                                     str(root / "cli_left"), "--set", "how=left", "--set", "mode=all"], spark=spark)
    got = pd.read_parquet(root / "cli_left")
    assert summary["balanced"] is True and summary["other_outcomes"] == {}
    assert summary["read"] == len(left) + 3 and summary["rejected"] == 3 and summary["written"] == len(left)
    assert got["lid"].nunique() == len(left)
    assert summary["pairs"] == int(got["rid_right"].notna().sum()) and summary["rows_written"] == len(got)
    assert summary["right_read"] == len(right) + 2 and summary["right_rejected"] == 2


def test_per_row_radius_from_right_column(spark, catalogs):
    root, left, right = catalogs
    out = root / "regions"
    run(spark, CrossmatchConfig(left=str(root / "left"), right=str(root / "right"), output=str(out), mode="all",
                                radius_column="radius_arcsec", target_rows_per_group=400))
    got = pd.read_parquet(out)
    good_r = right.drop(index=[5])
    i1, i2, _, _ = search_around_sky(_coords(good_r), _coords(left), good_r["radius_arcsec"].to_numpy() * u.arcsec)
    ref = set(zip(left["lid"].to_numpy()[i2].tolist(), good_r["rid"].to_numpy()[i1].tolist()))
    assert len(ref) > 1000 and set(zip(got["lid"], got["rid_right"])) == ref and len(got) == len(ref)
    assert (got["separation_arcsec"] <= got["radius_arcsec_right"]).all()
    assert len(read_rejects(out)) == 6


def test_missing_column_names_the_columns_found(spark, catalogs, tmp_path):
    root, left, _ = catalogs
    left.rename(columns={"dec_deg": "DEC"}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(CatalogColumnError, match=r"'dec_deg' not found; columns found: ra_deg, DEC"):
        run(spark, CrossmatchConfig(left=str(tmp_path / "bad.parquet"), right=str(root / "right"),
                                    output=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()


def test_skewed_field_through_the_cli(spark, tmp_path):
    """A dense clump beside sparse sky: salted groups, same answer as astropy, via `skysift crossmatch`."""
    left, right = benchmark_pair(4000, 4000, seed=3, clump_fraction=0.6, clump_radius_deg=0.01)
    left.to_parquet(tmp_path / "l.parquet")
    right.drop(columns="healpix29").to_parquet(tmp_path / "r.parquet")  # computed when absent
    summary = run_job("crossmatch", ["--left", str(tmp_path / "l.parquet"), "--right", str(tmp_path / "r.parquet"),
                                     "--output", str(tmp_path / "o"), "--set", "mode=nearest",
                                     "--target-rows-per-group", "500"], spark=spark)
    assert summary["groups"] >= 12
    assert summary["balanced"] is True and summary["read"] == 4000 and summary["right_read"] == 4000
    got = pd.read_parquet(tmp_path / "o")
    assert summary["written"] == len(got) == summary["pairs"]
    assert summary["other_outcomes"] == {"unmatched_left": 4000 - len(got)}
    idx, d2d, _ = _coords(left).match_to_catalog_sky(_coords(right))
    hit = d2d.to_value(u.arcsec) <= 2.0
    assert len(got) == hit.sum() and got["id"].is_unique
    got = got.set_index("id").loc[np.flatnonzero(hit)]
    assert np.array_equal(got["id_right"].to_numpy(), idx[hit])
    assert np.array_equal(got["healpix29_right"].to_numpy(), right["healpix29"].to_numpy()[idx[hit]])


def test_sdss_sample_matched_with_itself(spark, shared_data, tmp_path):
    """The real SDSS DR14 SkyServer rows matched with themselves at 1 arcsec: every object once, at 0."""
    csv = shared_data / "catalogs" / "sdss_dr14_skyserver_rows0001-7000.csv"
    sdss = pd.read_csv(csv).rename(columns={"ra": "ra_deg", "dec": "dec_deg"})
    sdss["row"] = np.arange(len(sdss))
    sdss.to_parquet(tmp_path / "sdss.parquet")
    run(spark, CrossmatchConfig(left=str(tmp_path / "sdss.parquet"), right=str(tmp_path / "sdss.parquet"),
                                output=str(tmp_path / "self"), radius_arcsec=1.0, mode="nearest", target_rows_per_group=1000))
    got = pd.read_parquet(tmp_path / "self")
    assert len(got) == len(sdss) == 7000 and got["row"].is_unique
    assert (got["row"] == got["row_right"]).all() and (got["separation_arcsec"] == 0).all()
    # all pairs at 1 arcsec: exactly astropy's (the sample has no two objects closer than 1 arcsec but itself)
    run(spark, CrossmatchConfig(left=str(tmp_path / "sdss.parquet"), right=str(tmp_path / "sdss.parquet"),
                                output=str(tmp_path / "all"), radius_arcsec=1.0, mode="all", target_rows_per_group=1000))
    pairs = pd.read_parquet(tmp_path / "all")
    i1, i2, _, _ = search_around_sky(_coords(sdss), _coords(sdss), 1 * u.arcsec)
    assert set(zip(pairs["row"], pairs["row_right"])) == set(zip(i1.tolist(), i2.tolist()))


def test_one_dense_cell_is_salted(spark, tmp_path):
    """Hundreds of rows inside one order-15 cell (a bucket that cannot be cut): salted groups, astropy's pairs."""
    from skysift.synth.mock_catalogs import _offset

    def cat(n_dense, n_field, seed):
        r = np.random.default_rng(seed)
        ra, dec = _offset(np.full(n_dense, 150.0), np.full(n_dense, 20.0), 1.5 * np.sqrt(r.uniform(0, 1, n_dense)),
                          r.uniform(0, 2 * np.pi, n_dense))
        ra = np.concatenate([ra, r.uniform(149.9, 150.1, n_field)])
        dec = np.concatenate([dec, r.uniform(19.9, 20.1, n_field)])
        return pd.DataFrame({"ra_deg": ra, "dec_deg": dec, "k": np.arange(ra.size)})

    left, right = cat(500, 1500, 42), cat(300, 1500, 43)
    left.to_parquet(tmp_path / "l.parquet")
    right.to_parquet(tmp_path / "r.parquet")
    summary = run(spark, CrossmatchConfig(left=str(tmp_path / "l.parquet"), right=str(tmp_path / "r.parquet"),
                                          output=str(tmp_path / "o"), mode="all", target_rows_per_group=200))
    assert summary["groups"] > summary["buckets"]  # the dense bucket was split by salt
    got = pd.read_parquet(tmp_path / "o")
    i1, i2, d, _ = search_around_sky(_coords(left), _coords(right), 2 * u.arcsec)
    assert len(i1) > 100_000 and len(got) == len(i1)
    assert set(zip(got["k"], got["k_right"])) == set(zip(i1.tolist(), i2.tolist()))
    assert summary["written"] == len(np.unique(i1)) and summary["pairs"] == len(i1)
    assert summary["read"] == summary["written"] + summary["other_outcomes"]["unmatched_left"] == len(left)


def _cli(spark, root, name, *sets):
    args = ["--left", str(root / "left"), "--right", str(root / "right"), "--output", str(root / name),
            "--set", "target_rows_per_group=400", "--set", "left_id_column=lid", "--set", "right_id_column=rid"]
    for s in sets:
        args += ["--set", s]
    return run_job("crossmatch", args, spark=spark)


def test_anti_join_is_the_left_rows_astropy_leaves_alone(spark, catalogs):
    """how=anti: exactly the valid left rows with no right row within the radius, left columns only."""
    root, left, right = catalogs
    summary = _cli(spark, root, "anti", "how=anti", "mode=nearest", "radius_arcsec=1.5")
    got = pd.read_parquet(root / "anti")
    hit = set(left["lid"].to_numpy()[search_around_sky(_coords(left), _coords(right), 1.5 * u.arcsec)[0]])
    assert sorted(got["lid"]) == sorted(set(left["lid"]) - hit) and 300 < len(got) < len(left) - 300
    assert not any(c.endswith("_right") for c in got.columns) and "separation_arcsec" not in got.columns
    assert summary["balanced"] is True and summary["written"] == len(got)
    assert summary["other_outcomes"] == {"matched_left": len(hit)} and summary["rejected"] == 3


def test_outer_join_all_pairs_with_per_row_radius(spark, catalogs):
    """how=outer, mode=all, per-row radius: astropy's pairs + unmatched left + unmatched right, each once."""
    root, left, right = catalogs
    summary = _cli(spark, root, "outer", "how=outer", "mode=all", "radius_column=radius_arcsec")
    got = pd.read_parquet(root / "outer")
    good_r = right.drop(index=[5])
    i_r, i_l, _, _ = search_around_sky(_coords(good_r), _coords(left), good_r["radius_arcsec"].to_numpy() * u.arcsec)
    ref = set(zip(left["lid"].to_numpy()[i_l].tolist(), good_r["rid"].to_numpy()[i_r].tolist()))
    pairs = got[got["lid"].notna() & got["rid_right"].notna()]
    alone_l, alone_r = got[got["rid_right"].isna()], got[got["lid"].isna()]
    assert set(zip(pairs["lid"].astype(int), pairs["rid_right"].astype(int))) == ref and len(pairs) == len(ref)
    assert sorted(alone_l["lid"].astype(int)) == sorted(set(left["lid"]) - {a for a, _ in ref})
    assert sorted(alone_r["rid_right"].astype(int)) == sorted(set(good_r["rid"]) - {b for _, b in ref})
    assert alone_r["name"].isna().all() and alone_r["separation_arcsec"].isna().all()
    assert summary["balanced"] is True and summary["written"] == len(left) and summary["rejected"] == 3
    assert summary["right_unmatched"] == len(alone_r) > 100 and summary["right_rejected"] == 3
    assert summary["right_matched"] + summary["right_unmatched"] + 3 == summary["right_read"] == len(right) + 2
    assert summary["rows_written"] == len(got)


def test_outer_nearest_as_fits_and_index_only_association(spark, catalogs):
    """how=outer, nearest, format=fits (the extra pass before the FITS writer); columns=index, how=left:
    just (lid, rid_right, separation_arcsec), the nearest of match_to_catalog_sky."""
    from astropy.table import Table

    root, left, right = catalogs
    summary = _cli(spark, root, "outer_fits", "how=outer", "mode=nearest", "format=fits", "radius_arcsec=1.5")
    got = Table.read(root / "outer_fits" / "outer_fits.fits").to_pandas()
    idx, d2d, _ = _coords(left).match_to_catalog_sky(_coords(right))
    hit = d2d.to_value(u.arcsec) <= 1.5
    r_hit = set(right["rid"].to_numpy()[search_around_sky(_coords(right), _coords(left), 1.5 * u.arcsec)[0]])
    alone_r = got[got["lid"].isna()]  # FITS TNULL: astropy masks it, pandas gets <NA>
    assert sorted(alone_r["rid_right"].astype(int)) == sorted(set(right["rid"]) - r_hit)
    assert len(got) == len(left) + len(alone_r) and summary["balanced"] is True
    assert summary["right_unmatched"] == len(alone_r) and summary["written"] == len(left)

    summary = _cli(spark, root, "index", "how=left", "mode=nearest", "columns=index", "radius_arcsec=1.5")
    got = pd.read_parquet(root / "index").sort_values("lid").reset_index(drop=True)
    assert list(pd.read_parquet(root / "index").columns) == ["lid", "rid_right", "separation_arcsec", "n_matches"]
    assert got["lid"].tolist() == sorted(left["lid"])
    assert np.array_equal(got["rid_right"].to_numpy(float)[hit], right["rid"].to_numpy()[idx[hit]])
    assert got["rid_right"].isna().sum() == (~hit).sum()
    assert summary["balanced"] is True and summary["written"] == len(left)

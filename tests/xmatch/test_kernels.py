"""Numpy cross-match kernels against astropy and cdshealpix, no Spark."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

import cdshealpix.nested as cds
from skysift.xmatch.buckets import assign_build, assign_probe, plan_buckets
from skysift.sky.healpix import (
    healpix29, neighbour_order, neighbourhood, safe_radius_arcsec, cells, valid_position,
)
from skysift.synth.mock_catalogs import hard_sky, neighbours_of
from skysift.sky.separation import angular_separation_arcsec, separation_from_vectors_arcsec, unit_vectors
from skysift.xmatch.frames import MatchSpec, crossmatch_frames, sample_plan


def _coords(df):
    return SkyCoord(df["ra_deg"].to_numpy() * u.deg, df["dec_deg"].to_numpy() * u.deg)


def _astropy_pairs(left, right, radius_arcsec):
    i1, i2, d, _ = search_around_sky(_coords(left), _coords(right), radius_arcsec * u.arcsec)
    return dict(zip(zip(i1.tolist(), i2.tolist()), d.to_value(u.arcsec)))


@pytest.fixture(scope="module")
def catalogs():
    left = hard_sky(4000, seed=11)
    right = pd.concat([neighbours_of(left, 3000, seed=12, max_sep_arcsec=4.0), hard_sky(1500, seed=13)], ignore_index=True)
    return left, right


def test_separation_matches_astropy_tiny_and_antipodal():
    rng = np.random.default_rng(0)
    ra1, dec1 = rng.uniform(0, 360, 2000), rng.uniform(-90, 90, 2000)
    scale = 10.0 ** rng.uniform(-6, 2.2, 2000)  # 1 microdegree .. 160 degrees
    ra2 = (ra1 + rng.normal(0, 1, 2000) * scale) % 360
    dec2 = np.clip(dec1 + rng.normal(0, 1, 2000) * scale, -90, 90)
    ref = _coords(pd.DataFrame({"ra_deg": ra1, "dec_deg": dec1})).separation(
        _coords(pd.DataFrame({"ra_deg": ra2, "dec_deg": dec2}))).to_value(u.arcsec)
    ours = angular_separation_arcsec(ra1, dec1, ra2, dec2)
    vec = separation_from_vectors_arcsec(unit_vectors(ra1, dec1), unit_vectors(ra2, dec2))
    assert np.max(np.abs(ours - ref)) < 1e-6
    assert np.max(np.abs(vec - ref)) < 1e-6
    anti = angular_separation_arcsec([10.0], [20.0], [190.0], [-20.0])
    assert abs(anti[0] - 180 * 3600) < 1e-6


def test_neighbour_order_is_the_deepest_safe_order():
    for radius in (0.1, 0.5, 1.0, 2.0, 30.0, 600.0, 3600.0):
        m = neighbour_order(radius)
        assert safe_radius_arcsec(m) >= radius
        assert m == 29 or safe_radius_arcsec(m + 1) < radius
    with pytest.raises(ValueError):
        neighbour_order(1e9)


def test_cone_cells_are_inside_the_neighbourhood_everywhere():
    """cdshealpix's own cone search never leaves a cell's 3x3 neighbourhood at the chosen order."""
    rng = np.random.default_rng(1)
    pts = [(0.0, 90.0), (0.0, -90.0), (0.0, 0.0), (359.9999999, 0.0), (45.0, 41.8103149), (90.0, -41.8103149)]
    pts += list(zip(rng.uniform(0, 360, 150), np.degrees(np.arcsin(rng.uniform(-1, 1, 150)))))
    pts += list(zip(rng.uniform(0, 360, 50), rng.uniform(89.9, 90, 50)))
    for radius in (2.0, 300.0):
        m = neighbour_order(radius)
        for ra, dec in pts:
            cone = cds.cone_search(ra * u.deg, dec * u.deg, radius * u.arcsec, depth=m, depth_delta=4, flat=True)[0]
            own = cells(healpix29([ra], [dec]), m)
            around = set(neighbourhood(own, m)[0].tolist())
            assert set(np.asarray(cone, dtype=np.int64).tolist()) <= around, (ra, dec, radius)


def test_valid_coordinates():
    ok = valid_position([0, 360, 10, np.nan, -1, 361, 5], [0, 90, -90, 0, 0, 0, np.inf])
    assert ok.tolist() == [True, True, True, False, False, False, False]


def test_every_pair_meets_in_exactly_one_group(catalogs):
    left, right = catalogs
    order = neighbour_order(2.0)
    lh, rh = healpix29(left.ra_deg, left.dec_deg), healpix29(right.ra_deg, right.dec_deg)
    plan = plan_buckets(rh, lh, order, target_rows=200)
    assert plan.n_buckets > 20 and plan.salt_build.max() > 1  # clumps force salted groups
    l_rows, l_group, l_copies = assign_build(lh, np.arange(lh.size), plan)
    assert l_rows.size == lh.size and np.all(l_copies == 1)
    r_rows, r_group, _ = assign_probe(rh, np.arange(rh.size), plan)
    group_of_left = np.empty(lh.size, np.int64)
    group_of_left[l_rows] = l_group
    ref = _astropy_pairs(left, right, 2.0)
    reach = pd.DataFrame({"r": r_rows, "g": r_group})
    pairs = pd.DataFrame(list(ref), columns=["l", "r"])
    pairs["g"] = group_of_left[pairs["l"]]
    met = pairs.merge(reach, on=["r", "g"], how="left", indicator=True)
    assert (met["_merge"] == "both").all()
    assert len(met) == len(pairs)  # no pair reachable twice
    sizes = np.bincount(l_group, minlength=plan.n_groups) + np.bincount(r_group, minlength=plan.n_groups)
    assert sizes.max() < 4 * 200  # dense clumps are split, not handed to one group


def test_frames_all_and_nearest_equal_astropy(catalogs):
    left, right = catalogs
    cols = dict(left_columns=("ra_deg", "dec_deg"), right_columns=("ra_deg", "dec_deg"))
    spec = MatchSpec(order=neighbour_order(2.0), radius_arcsec=2.0, mode="all", **cols)
    out = crossmatch_frames(left.assign(_lid=np.arange(len(left))), right.assign(_rid=np.arange(len(right))),
                            MatchSpec(**{**spec.__dict__, "keep_ids": True}), target_rows=300)
    ref = _astropy_pairs(left, right, 2.0)
    got = dict(zip(zip(out["_lid"].astype(int), out["_rid"].astype(int)), out["separation_arcsec"].astype(float)))
    assert set(got) == set(ref)
    assert max(abs(got[k] - ref[k]) for k in ref) < 1e-6
    # nearest, how=left: astropy match_to_catalog_sky with the radius cut
    near = MatchSpec(**{**spec.__dict__, "mode": "nearest", "how": "left", "keep_ids": True})
    out = crossmatch_frames(left.assign(_lid=np.arange(len(left))), right.assign(_rid=np.arange(len(right))), near, target_rows=300)
    assert len(out) == len(left) and out["_lid"].astype(int).is_unique
    idx, d2d, _ = _coords(left).match_to_catalog_sky(_coords(right))
    hit = d2d.to_value(u.arcsec) <= 2.0
    out = out.sort_values("_lid")
    sep = out["separation_arcsec"].astype("float64").to_numpy()
    assert np.array_equal(~np.isnan(sep), hit)
    assert np.max(np.abs(sep[hit] - d2d.to_value(u.arcsec)[hit])) < 1e-6
    assert np.array_equal(out["_rid"].astype("float64").to_numpy()[hit], idx[hit])


def test_per_row_radius_equals_astropy(catalogs):
    left, right = catalogs
    rng = np.random.default_rng(5)
    radius = rng.uniform(0.2, 6.0, len(right))
    right = right.assign(r_arcsec=radius, _rid=np.arange(len(right)))
    spec = MatchSpec(order=neighbour_order(radius.max()), radius_arcsec=0.0, mode="all", radius_column="r_arcsec",
                     left_columns=("ra_deg", "dec_deg"), right_columns=("ra_deg", "dec_deg", "r_arcsec"), keep_ids=True)
    out = crossmatch_frames(left.assign(_lid=np.arange(len(left))), right, spec, target_rows=400)
    i1, i2, d, _ = search_around_sky(_coords(right), _coords(left), radius * u.arcsec)
    ref = set(zip(i2.tolist(), i1.tolist()))
    got = set(zip(out["_lid"].astype(int), out["_rid"].astype(int)))
    assert len(ref) > 500 and got == ref


@pytest.mark.parametrize("mode", ["nearest", "all"])
@pytest.mark.parametrize("per_row", [False, True])
def test_anti_and_outer_joins_equal_astropy(catalogs, mode, per_row):
    """how=anti: the left rows astropy finds no right row for; how=outer: the pairs, those left rows and the
    right rows with no left row within their radius (null left columns), each exactly once."""
    left, right = catalogs
    left = left.assign(_lid=np.arange(len(left)), name=[f"L{i}" for i in range(len(left))])
    radius = np.random.default_rng(8).uniform(0.5, 4.0, len(right)) if per_row else np.full(len(right), 2.0)
    right = right.assign(_rid=np.arange(len(right)), r_arcsec=radius)
    base = dict(order=neighbour_order(radius.max()), radius_arcsec=2.0, mode=mode, keep_ids=True,
                radius_column="r_arcsec" if per_row else None, left_columns=("ra_deg", "name"),
                right_columns=("ra_deg", "r_arcsec"))
    i_r, i_l, _, _ = search_around_sky(_coords(right), _coords(left), radius.max() * u.arcsec)
    d = search_around_sky(_coords(right), _coords(left), radius.max() * u.arcsec)[2].to_value(u.arcsec)
    within = d <= radius[i_r]
    left_hit, right_hit = set(i_l[within].tolist()), set(i_r[within].tolist())
    assert 500 < len(left_hit) < len(left) - 500 and len(right_hit) < len(right) - 500

    anti = crossmatch_frames(left, right, MatchSpec(how="anti", **base), target_rows=300)
    assert list(anti.columns) == ["ra_deg", "name", "_lid"]
    assert sorted(anti["_lid"]) == sorted(set(range(len(left))) - left_hit)
    assert (anti["name"] == "L" + anti["_lid"].astype(str)).all()

    outer = crossmatch_frames(left, right, MatchSpec(how="outer", **base), target_rows=300)
    alone_r = outer[outer["_lid"].isna()]
    alone_l = outer[outer["_rid"].isna()]
    pairs = outer[outer["_lid"].notna() & outer["_rid"].notna()]
    assert sorted(alone_r["_rid"].astype(int)) == sorted(set(range(len(right))) - right_hit)
    assert alone_r["name"].isna().all() and alone_r["separation_arcsec"].isna().all()
    assert np.allclose(alone_r["r_arcsec_right"], radius[alone_r["_rid"].astype(int)])
    assert sorted(alone_l["_lid"].astype(int)) == sorted(anti["_lid"])
    if mode == "all":
        assert set(zip(pairs["_lid"].astype(int), pairs["_rid"].astype(int))) == set(zip(i_l[within], i_r[within]))
    else:
        assert pairs["_lid"].is_unique and set(pairs["_lid"].astype(int)) == left_hit


def test_nearest_per_build_ties_and_order():
    """Closest pair per build row; exact ties go to the smaller probe key; result sorted by build index."""
    from skysift.sky.pairs import nearest_per_build, nearest_per_probe

    rng = np.random.default_rng(7)
    b = rng.integers(0, 500, 5000)
    p = rng.integers(0, 800, 5000)
    sep = rng.integers(0, 20, 5000).astype(float)  # many exact ties
    key = rng.permutation(800)
    got = nearest_per_build(p, b, sep, key)
    ref = nearest_per_probe(b, p, sep, key)  # lexsort reference: (b, sep, key)
    assert np.array_equal(b[got], np.unique(b))
    assert np.array_equal(sep[got], sep[ref]) and np.array_equal(key[p[got]], key[p[ref]])


def test_tree_pairs_equal_astropy(catalogs):
    """The KD-tree kernel (the one the job runs) against astropy, wide radius included."""
    from skysift.sky.pairs import tree_pairs

    left, right = catalogs
    for radius in (0.5, 2.0, 25.0):
        p, b, s = tree_pairs(unit_vectors(right.ra_deg, right.dec_deg), radius, unit_vectors(left.ra_deg, left.dec_deg))
        ref = _astropy_pairs(left, right, radius)
        ours = dict(zip(zip(b.tolist(), p.tolist()), s.tolist()))
        assert len(ours) == p.size and set(ours) == set(ref)
        assert max(abs(ours[k] - ref[k]) for k in ref) < 1e-6


@pytest.mark.parametrize("radius", [0.05, 2.0, 25.0])
def test_grid_nearest_equals_astropy_with_duplicate_ties(catalogs, radius):
    """The compiled nearest kernel: astropy's choice, separation and counts; exact duplicates go to the
    smaller key. 0.05 arcsec is below the grid's smallest cell, 25 arcsec spans many cells."""
    from skysift.sky._nearest_kernel import grid_nearest

    left, right = catalogs
    dup = right.iloc[:300]
    right2 = pd.concat([right, dup], ignore_index=True)  # rows n.. duplicate rows 0..299 exactly
    key = np.arange(len(right2))[::-1].copy()  # the duplicate (higher position) has the smaller key
    b, p, s, n = grid_nearest(unit_vectors(right2.ra_deg, right2.dec_deg), radius,
                              unit_vectors(left.ra_deg, left.dec_deg), probe_key=key)
    idx, d2d, _ = _coords(left).match_to_catalog_sky(_coords(right2))
    d = d2d.to_value(u.arcsec)
    assert np.array_equal(b, np.flatnonzero(d <= radius)) and np.max(np.abs(s - d[b]), initial=0) < 1e-6
    # where astropy picked one of a duplicate pair, we pick the copy with the smaller key
    twin = np.where(idx[b] < 300, idx[b] + len(right), np.where(idx[b] >= len(right), idx[b], -1))
    expect = np.where(twin >= 0, twin, idx[b])
    assert np.array_equal(p, expect)
    if radius >= 2.0:
        assert (twin >= 0).sum() > 50
    ref = pd.Series([k[0] for k in _astropy_pairs(left, right2, radius)]).value_counts()
    assert np.array_equal(n[ref.index.to_numpy()], ref.to_numpy()) and n.sum() == ref.sum()


def test_grid_nearest_equals_the_pair_list_in_a_dense_polar_clump():
    """Against the KD-tree pair list + nearest_per_build (bit-identical indices, separations, counts) where
    hundreds of rows share a few arcsec around the north pole and across RA 0/360."""
    from skysift.sky._nearest_kernel import grid_nearest
    from skysift.sky.pairs import nearest_per_build, tree_pairs

    rng = np.random.default_rng(3)

    def clump(n):
        return unit_vectors(rng.uniform(0, 360, n), 90 - np.abs(rng.normal(0, 0.01, n)))

    build, probe = clump(20_000), np.concatenate([clump(20_000), unit_vectors([0.0, 359.9999], [89.99, 89.99])])
    key = rng.permutation(len(probe)).astype(np.int64)
    b, p, s, n = grid_nearest(probe, 5.0, build, key)
    P, B, S = tree_pairs(probe, 5.0, build)
    best = nearest_per_build(P, B, S, key)
    assert np.bincount(B, minlength=len(build)).max() > 50  # dense enough to matter
    assert np.array_equal(b, B[best]) and np.array_equal(p, P[best]) and np.array_equal(s, S[best])
    assert np.array_equal(n, np.bincount(B, minlength=len(build)))


def test_frames_nearest_without_counts(catalogs):
    left, right = catalogs
    spec = MatchSpec(order=neighbour_order(2.0), radius_arcsec=2.0, mode="nearest", left_columns=("ra_deg",),
                     right_columns=("ra_deg",), keep_ids=True, count_matches=False)
    out = crossmatch_frames(left, right, spec, target_rows=500)
    assert "n_matches" not in out.columns
    idx, d2d, _ = _coords(left).match_to_catalog_sky(_coords(right))
    hit = np.flatnonzero(d2d.to_value(u.arcsec) <= 2.0)
    out = out.sort_values("_lid")
    assert np.array_equal(out["_lid"].to_numpy(), hit) and np.array_equal(out["_rid"].to_numpy(), idx[hit])

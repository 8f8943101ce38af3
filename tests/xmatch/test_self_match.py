"""Friends-of-friends best-row selection (twin) against a brute-force union-find on all pairs."""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.xmatch.self_match import fof_best_frame


def _brute(ra, dec, r_arcsec):
    n = len(ra)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    from astropy.coordinates import SkyCoord
    import astropy.units as u

    c = SkyCoord(ra * u.deg, dec * u.deg)
    for i in range(n):
        sep = c[i].separation(c).arcsec
        for j in np.flatnonzero(sep < r_arcsec):
            parent[find(i)] = find(int(j))
    return np.array([find(i) for i in range(n)])


def test_groups_and_best_rows_match_brute_force():
    rng = np.random.default_rng(5)
    base_ra, base_dec = 150 + rng.uniform(0, 0.01, 60), 2 + rng.uniform(0, 0.01, 60)
    ra = np.concatenate([base_ra, base_ra[:25] + rng.normal(0, 0.1 / 3600, 25)])
    dec = np.concatenate([base_dec, base_dec[:25] + rng.normal(0, 0.1 / 3600, 25)])
    df = pd.DataFrame({"ra_deg": ra, "dec_deg": dec, "score": rng.uniform(0, 1, len(ra)),
                       "name": [f"s{k:03d}" for k in range(len(ra))]})
    out = fof_best_frame(df, 0.5, [("score", False), ("name", True)])
    groups = _brute(ra, dec, 0.5)
    assert len(out) == len(np.unique(groups))
    want = df.assign(g=groups).sort_values(["g", "score"], ascending=[True, False]).drop_duplicates("g")
    assert sorted(out.name) == sorted(want.name)
    sizes = pd.Series(groups).value_counts()
    got = out.set_index("name").n_merged
    for name, g in zip(want.name, want.g):
        assert got[name] == sizes[g]

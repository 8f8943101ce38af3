"""xmatch.fof: friends-of-friends labels against a brute-force union-find over astropy separations."""
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from skysift.xmatch.fof import fof_group_labels, link_groups


def _brute(ra, dec, radius_arcsec):
    c = SkyCoord(ra * u.deg, dec * u.deg)
    parent = list(range(len(ra)))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(ra)):
        close = np.flatnonzero(c[i].separation(c).arcsec <= radius_arcsec)
        for j in close:
            a, b = find(i), find(int(j))
            parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(len(ra))])
    # label = smallest index of the group
    return np.array([np.flatnonzero(roots == r).min() for r in roots])


def test_labels_equal_brute_force_with_chains_and_bad_rows():
    rng = np.random.default_rng(4)
    centres = rng.uniform([10, -5], [10.05, -4.95], (40, 2))
    pts = np.repeat(centres, 5, axis=0) + rng.normal(0, 0.6 / 3600, (200, 2))  # clumps of 5 within ~1''
    ra, dec = pts[:, 0], pts[:, 1]
    ra[[3, 77]] = np.nan  # invalid rows stay alone
    got = fof_group_labels(ra, dec, 1.0)
    ok = np.isfinite(ra)
    want = np.arange(len(ra))
    want[ok] = np.flatnonzero(ok)[_brute(ra[ok], dec[ok], 1.0)]
    assert np.array_equal(got, want)
    assert got[3] == 3 and got[77] == 77


def test_link_groups_chain():
    ids, group = link_groups([5, 7, 9], [7, 9, 11])
    assert ids.tolist() == [5, 7, 9, 11] and group.tolist() == [5, 5, 5, 5]
    assert link_groups([], [])[0].size == 0

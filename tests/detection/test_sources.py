"""Raw detections -> sources: per-frame merge with stable ids, classes, the per-frame WCS check."""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.detection.merge import MergeConfig
from skysift.detection.sources import WcsCheckConfig, flag_fields, merge_field, wcs_offsets, with_class


def _dets(rng, n=40, field="f"):
    x, y = rng.uniform(20, 600, n), rng.uniform(20, 400, n)
    rows = []
    for k in range(n):
        for t in range(int(rng.integers(1, 3))):  # a twin from the neighbouring tile, 0.3 px away
            dx = 0.3 * t
            rows.append({"tile_id": f"{field}-t{t:02d}", "tile_index": t, "field_id": field, "x_px": x[k] + dx, "y_px": y[k],
                         "x_min": x[k] + dx - 5, "x_max": x[k] + dx + 5, "y_min": y[k] - 5, "y_max": y[k] + 5,
                         "ra_deg": 150 + x[k] * 1e-4, "dec_deg": 2 + y[k] * 1e-4, "det_score": rng.uniform(0.3, 1.0),
                         "p_galaxy": 0.2, "p_star": 0.5, "p_qso": 0.3})
    return pd.DataFrame(rows), x, y


def test_merge_keeps_one_per_source_with_ids_by_position():
    rng = np.random.default_rng(1)
    dets, x, y = _dets(rng)
    out = merge_field(dets.sample(frac=1.0, random_state=3), MergeConfig())
    # the isolated sources (no other source within 12 px) survive exactly once
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None]) + np.eye(len(x)) * 1e9
    assert len(out) <= len(x) and len(out) >= int((d.min(1) > 12).sum())
    assert out.source_id.tolist() == [f"f-s{k:05d}" for k in range(len(out))]
    assert (np.diff(out.y_px.to_numpy()) >= 0).all()
    # the same input in another row order gives the same rows (ids included)
    again = merge_field(dets, MergeConfig())
    pd.testing.assert_frame_equal(out.reset_index(drop=True), again.reset_index(drop=True))
    # the kept twin is the higher score one
    for sid, row in out.set_index("source_id").iterrows():
        near = dets[((dets.x_px - row.x_px).abs() < 1) & ((dets.y_px - row.y_px).abs() < 1)]
        assert row.det_score >= near.det_score.max() - 1e-12


def test_class_is_the_most_probable():
    df = pd.DataFrame({"p_galaxy": [0.6, 0.1, 0.2], "p_star": [0.3, 0.8, 0.2], "p_qso": [0.1, 0.1, 0.6]})
    assert with_class(df)["class"].tolist() == ["galaxy", "star", "qso"]


def test_wcs_check_flags_a_shifted_frame_and_one_with_few_matches():
    rng = np.random.default_rng(2)
    n = 50
    ra = 150 + rng.uniform(0, 0.05, 3 * n)
    dec = 2 + rng.uniform(0, 0.05, 3 * n)
    fid = np.repeat(["good", "shifted", "lost"], n)
    noise = rng.normal(0, 0.1 / 3600, (2, 3 * n))
    cra, cdec = ra + noise[0], dec + noise[1]
    cra[fid == "shifted"] += 1.0 / 3600 / np.cos(np.radians(2.0))  # the catalog is 1 arcsec east: detections 1" west
    lost = np.flatnonzero(fid == "lost")[: int(0.8 * n)]
    cra[lost], cdec[lost] = np.nan, np.nan  # 20 % matched
    off = wcs_offsets(fid, ra, dec, cra, cdec).set_index("field_id")
    assert abs(off.loc["shifted", "median_east_arcsec"] + 1.0) < 0.05
    assert off.loc["good", "median_offset_arcsec"] < 0.05
    assert off.loc["lost", "matched"] == n - len(lost)
    flags = flag_fields(off.reset_index(), WcsCheckConfig()).set_index("field_id")
    assert flags.flagged.to_dict() == {"good": False, "lost": True, "shifted": True}
    assert "median offset" in flags.loc["shifted", "why"] and "matched" in flags.loc["lost", "why"]

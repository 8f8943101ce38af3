"""`skysift detect-sources`: accounting, catalog columns, the 2 arcsec match against astropy, merge rules,
HATS, rejects, the no-catalog mode, errors, and Spark against the sequential twin."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.config import ConfigError, load_config
from skysift.paths import conf_dir
from skysift.runtime.errors import SkysiftError
from skysift.runtime.output import read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.detect_sources import job
from skysift.stages.detect_sources.tasks import output_columns

pytestmark = pytest.mark.slow  # the session fixture trains two tiny models (~30 s of CPU, minutes on a loaded machine)

# a one-epoch detector scores its boxes low: keep what it finds, at most 100 per tile
SETS = ("detector.conf=0.001", "detector.max_det=100")


def _cfg(det_data, out, *sets, catalog=True):
    """detect-sources' config; ``catalog``: True = the photoObj table, a path, or False = none."""
    extra = [f"input={det_data.root}", f"output={out}", *SETS]
    if catalog:
        extra.append(f"catalog={det_data.photoobj if catalog is True else catalog}")
    extra += list(sets)
    return load_config(job.CONFIG, conf_dir() / "detect_sources.yaml", extra)


@pytest.fixture
def registry(tiny, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny.tracking_uri)
    return tiny


class _Env:
    """MLFLOW_TRACKING_URI set for a block (module fixtures cannot use monkeypatch)."""

    def __init__(self, uri):
        import os

        self.os, self.uri, self.old = os, uri, os.environ.get("MLFLOW_TRACKING_URI")

    def __enter__(self):
        self.os.environ["MLFLOW_TRACKING_URI"] = self.uri

    def __exit__(self, *exc):
        if self.old is None:
            self.os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            self.os.environ["MLFLOW_TRACKING_URI"] = self.old


@pytest.fixture(scope="module")
def nocat_run(det_data, tiny, tmp_path_factory):
    """The twin without a catalog (local model folders), HATS on."""
    out = tmp_path_factory.mktemp("det-nocat") / "out"
    s = job.run(None, _cfg(det_data, out, f"detector_uri={tiny.detector}", f"classifier_uri={tiny.classifier}", catalog=False))
    return s, out


@pytest.fixture(scope="module")
def catalog(det_data, nocat_run, tmp_path_factory):
    """photoObj plus one row near each detected source, 0-3 arcsec away in a random direction: a one-epoch detector
    finds few catalogued objects, and this gives the match both hits and misses around the 2 arcsec radius."""
    _, out = nocat_run
    src = read_table(out, under="catalog").to_pandas()
    photo = pd.read_parquet(det_data.photoobj)
    rng = np.random.default_rng(0)
    r, phi = 3.0 * np.sqrt(rng.uniform(0, 1, len(src))) / 3600.0, rng.uniform(0, 2 * np.pi, len(src))
    extra = photo.iloc[rng.integers(0, len(photo), len(src))].copy()
    extra["ra"] = src.ra_deg.to_numpy() + r * np.cos(phi) / np.cos(np.radians(src.dec_deg.to_numpy()))
    extra["dec"] = src.dec_deg.to_numpy() + r * np.sin(phi)
    extra["objid"] = np.arange(len(src), dtype=np.int64) + 2**60 + 1  # > 2**53: float64 would round them
    path = tmp_path_factory.mktemp("det-cat") / "catalog.parquet"
    pd.concat([photo, extra], ignore_index=True).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def twin_run(det_data, tiny, catalog, tmp_path_factory):
    """The twin with the catalog, models from the registry (models:/...@champion, the conf defaults)."""
    out = tmp_path_factory.mktemp("det-twin") / "out"
    with _Env(tiny.tracking_uri):
        summary = job.run(None, _cfg(det_data, out, "hats=false", catalog=catalog))
    return summary, out


def test_accounting_and_columns(twin_run, det_data):
    s, out = twin_run
    assert s["detector"] == {"uri": "models:/skysift-detector@champion", "version": "1"}
    assert (s["read"], s["written"], s["rejected"]) == (12, 12, 0)  # 2 fields x 2 x 3 tiles of 160 px
    assert s["detections"] == (s["partial"] + s["merged_in_frame"] + s["merged_across_frames"] + s["catalog_rows"]
                               + s["unmatched_rows"]) > 0
    cat = read_table(out, under="catalog").to_pandas()
    un = read_table(out, under="_unmatched").to_pandas()
    cfg = _cfg(det_data, out)
    assert 0 < len(cat) and 0 < len(un)
    assert cat.columns.tolist() == un.columns.tolist() == output_columns(cfg, True)
    assert len(cat) == s["catalog_rows"] and len(un) == s["unmatched_rows"]
    both = pd.concat([cat, un])
    assert both.source_id.is_unique
    assert set(both["class"]) <= {"galaxy", "star", "qso"}
    np.testing.assert_allclose(both[["p_galaxy", "p_star", "p_qso"]].sum(axis=1), 1.0, atol=1e-5)
    assert (both["class"].to_numpy() == np.array(["galaxy", "star", "qso"])[both[["p_galaxy", "p_star", "p_qso"]].to_numpy().argmax(1)]).all()
    assert cat.separation_arcsec.le(2.0).all() and cat.objid.notna().all()
    assert un.separation_arcsec.isna().all() and un.objid.isna().all()
    meta = json.loads((Path(out) / "_table.json").read_text())
    assert {f["field_id"] for f in meta["fields"]} <= set(det_data.field_ids) and "wcs_flagged" in s


def test_match_equals_astropy_nearest_within_2_arcsec(twin_run, catalog):
    import astropy.units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    from skysift.detection.quality import read_sources

    _, out = twin_run
    both = read_sources(str(out))
    assert str(both.objid.dtype) == "Int64"  # 64-bit ids with nulls stay exact
    photo = pd.read_parquet(catalog)
    idx, sep, _ = match_coordinates_sky(SkyCoord(both.ra_deg.to_numpy() * u.deg, both.dec_deg.to_numpy() * u.deg),
                                        SkyCoord(photo.ra.to_numpy() * u.deg, photo.dec.to_numpy() * u.deg))
    hit = sep.arcsec < 2.0
    assert (both.objid.notna().to_numpy() == hit).all()
    # through the Int64 column itself: its to_numpy() with NA present is float64, which would round the ids again
    np.testing.assert_array_equal(both.objid[hit].astype("int64").to_numpy(), photo.objid.to_numpy()[idx[hit]])
    assert (photo.objid.to_numpy()[idx[hit]] > 2**53).any()  # real-size photoObj ids among the matches
    np.testing.assert_allclose(both.separation_arcsec.to_numpy()[hit], sep.arcsec[hit], atol=1e-6)
    np.testing.assert_allclose(both.psfMag_r.to_numpy()[hit].astype(float), photo.psfMag_r.to_numpy()[idx[hit]], rtol=1e-6)


def test_merge_rules_hold(twin_run):
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    _, out = twin_run
    both = pd.concat([read_table(out, under="catalog").to_pandas(), read_table(out, under="_unmatched").to_pandas()])
    for _, g in both.groupby("field_id"):  # the 2-pixel rule inside a frame
        d = np.hypot(g.x_px.to_numpy()[:, None] - g.x_px.to_numpy()[None], g.y_px.to_numpy()[:, None] - g.y_px.to_numpy()[None])
        assert (d[np.triu_indices(len(g), 1)] >= 2.0).all()
    c = SkyCoord(both.ra_deg.to_numpy() * u.deg, both.dec_deg.to_numpy() * u.deg)  # the 0.5 arcsec rule overall
    _, sep, _ = c.match_to_catalog_sky(c, nthneighbor=2)
    assert (sep.arcsec >= 0.5).all()


def test_hats_catalog_reads_back(nocat_run):
    import hats

    s, out = nocat_run
    catalog = hats.read_hats(Path(out) / "hats")
    assert catalog.catalog_info.total_rows == s["catalog_rows"]


def test_bad_tiles_go_to_rejects(det_data, tiny, tmp_path):
    root = tmp_path / "ingest"
    shutil.copytree(det_data.root, root)
    f = sorted((root / "tiles").rglob("*.parquet"))[0]
    t = pq.read_table(f)
    pix = t.column("pixels").to_pylist()
    pix[0] = pix[0][:50]
    bands = t.column("bands").to_pylist()
    bands[1] = ["g", "r", "z"]
    fields = t.column("field_id").to_pylist()
    fields[2] = "nowhere"
    for name, values in (("pixels", pix), ("bands", bands), ("field_id", fields)):
        i = t.schema.get_field_index(name)
        t = t.set_column(i, t.schema.field(name), pa.array(values, t.schema.field(name).type))
    pq.write_table(t, f)
    data = type(det_data)(root, det_data.photoobj, det_data.truth, det_data.field_ids)
    s = job.run(None, _cfg(data, tmp_path / "out", f"detector_uri={tiny.detector}", f"classifier_uri={tiny.classifier}", "hats=false"))
    assert (s["read"], s["written"], s["rejected"]) == (12, 9, 3)
    rej = read_rejects(tmp_path / "out").to_pandas().sort_values("spec_id")
    reasons = " | ".join(rej.reason)
    assert "expected bands x size x size" in reasons and "lack one of g, r, i" in reasons and "'nowhere'" in reasons
    assert set(rej.stage) == {"detect-sources"}


def test_without_a_catalog_every_source_is_in_the_catalog(det_data, nocat_run, tmp_path):
    s, out = nocat_run
    cat = read_table(out, under="catalog").to_pandas()
    assert s["unmatched_rows"] == 0 and len(cat) == s["catalog_rows"] > 0 and s["wcs_flagged"] == []
    assert cat.columns.tolist() == output_columns(_cfg(det_data, tmp_path / "o", catalog=False), False)
    assert cat.objid.isna().all() and cat.separation_arcsec.isna().all()
    assert not (Path(out) / "_unmatched").exists()
    assert s["detections"] == s["partial"] + s["merged_in_frame"] + s["merged_across_frames"] + s["catalog_rows"]


def test_clear_errors(det_data, registry, tmp_path):
    with pytest.raises(SkysiftError, match="no registered model 'nope'"):
        job.run(None, _cfg(det_data, tmp_path / "o", "detector_uri=models:/nope@champion"))
    with pytest.raises(SkysiftError, match="has no alias 'gold'"):
        job.run(None, _cfg(det_data, tmp_path / "o", "classifier_uri=models:/skysift-classifier@gold"))
    with pytest.raises(SkysiftError, match="expected the output folder of `skysift ingest-frames`"):
        job.run(None, load_config(job.CONFIG, conf_dir() / "detect_sources.yaml", [f"input={tmp_path}", f"output={tmp_path / 'o'}"]))
    with pytest.raises(SkysiftError, match="column\\(s\\) \\['nosuch'\\] not found"):
        job.run(None, _cfg(det_data, tmp_path / "o", "catalog_columns=[nosuch]"))
    with pytest.raises(ConfigError, match="catalog_columns must not name"):
        _cfg(det_data, tmp_path / "o", "catalog_columns=[ra]")


@pytest.mark.parametrize("reader", ["pyarrow", "spark"])
def test_spark_writes_what_the_twin_writes(spark, det_data, tiny, catalog, twin_run, tmp_path, monkeypatch, reader):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny.tracking_uri)
    s_twin, twin_out = twin_run
    # driver_steps_max_rows=0: every step on Spark (by default a run this small merges and matches in the driver);
    # both tile readers (runtime.row_groups tasks, and Spark's reader + mapInArrow)
    s = job.run(spark, _cfg(det_data, tmp_path / "spark", "hats=false", "driver_steps_max_rows=0", f"reader={reader}",
                            catalog=catalog))
    assert (s["merge_match_on"], s_twin["merge_match_on"]) == ("spark", "driver")
    for key in ("read", "written", "rejected", "detections", "partial", "merged_in_frame", "merged_across_frames",
                "catalog_rows", "unmatched_rows", "wcs_flagged"):
        assert s[key] == s_twin[key], key
    for sub in ("catalog", "_unmatched"):
        a = read_table(tmp_path / "spark", under=sub).to_pandas().sort_values("source_id").reset_index(drop=True)
        b = read_table(twin_out, under=sub).to_pandas().sort_values("source_id").reset_index(drop=True)
        assert a.columns.tolist() == b.columns.tolist()
        pd.testing.assert_frame_equal(a, b, check_dtype=False, atol=1e-9)
    assert json.loads((tmp_path / "spark" / "_table.json").read_text())["fields"] == \
        json.loads((Path(twin_out) / "_table.json").read_text())["fields"]

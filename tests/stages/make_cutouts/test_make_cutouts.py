"""make-cutouts: the real u frame's photoObj objects against Cutout2D, rejects, levels, edges, masking, Spark vs twin."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from skysift.config import ConfigError, load_config
from skysift.images.cutouts import EDGE, NONFINITE
from skysift.images.tables import column_stack
from skysift.paths import conf_dir
from skysift.runtime.output import read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.ingest_frames import job as ingest_job
from skysift.stages.make_cutouts import job as cut_job
from skysift.stages.make_cutouts.tasks import MASKED
from skysift.synth.toy_frames import FieldSpec, field_wcs, star_positions, write_field


def _ingest(inputs, output, *sets):
    cfg = load_config(ingest_job.CONFIG, conf_dir() / "ingest_frames.yaml", [f"input={inputs}", f"output={output}", *sets])
    return ingest_job.run(None, cfg)


def _cut_cfg(catalog, inputs, output, *sets):
    return load_config(cut_job.CONFIG, conf_dir() / "make_cutouts.yaml",
                       [f"catalog={catalog}", f"input={inputs}", f"output={output}", *sets])


def _cutouts(out) -> tuple[pd.DataFrame, np.ndarray]:
    table = read_table(out, under="cutouts")
    table = table.take(np.lexsort([table.column("row_index").to_numpy()]))
    size, n_bands = table.column("size_px")[0].as_py(), len(table.column("bands")[0].as_py())
    pixels = column_stack(table.column("pixels"), (n_bands, size, size))
    return table.drop_columns(["pixels", "level_pixels"]).to_pandas(), pixels


@pytest.fixture(scope="module")
def u_field(shared_data, tmp_path_factory):
    """The real u frame of 3900-6-269 ingested alone (bands=u) and its photoObj plus three rows off the frame."""
    src = shared_data / "sdss-imaging"
    frame, photo = src / "frame-u-003900-6-0269.fits.bz2", src / "photoObj-003900-6-0269.fits"
    if not frame.exists() or not photo.exists():
        pytest.skip("u frame or photoObj not present")
    root = tmp_path_factory.mktemp("u")
    (root / "frames").mkdir()
    os.symlink(frame, root / "frames" / frame.name)
    _ingest(root / "frames", root / "ingest", "bands=u", "reference_band=u", "tiles.size_px=640")
    objs = Table.read(photo)
    cat = pd.DataFrame({"OBJID": [str(v).strip() for v in objs["OBJID"]], "RA": np.asarray(objs["RA"], float),
                        "DEC": np.asarray(objs["DEC"], float)})
    extra = pd.DataFrame({"OBJID": ["off-east", "nan-ra", "dec-95"],
                          "RA": [cat.RA[0] + 1.0, np.nan, cat.RA[0]], "DEC": [cat.DEC[0], cat.DEC[0], 95.0]})
    cat = pd.concat([cat, extra], ignore_index=True)
    Table.from_pandas(cat).write(root / "catalog.fits")
    out = root / "cutouts"
    summary = cut_job.run(None, _cut_cfg(root / "catalog.fits", root / "ingest", out, "bands=u"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(frame) as hdul:
            image, wcs = hdul[0].data.astype(np.float32), WCS(hdul[0].header).celestial
    return {"summary": summary, "out": out, "catalog": cat, "image": image, "wcs": wcs, "n_photo": len(objs)}


def test_u_cutouts_equal_cutout2d(u_field):
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D

    meta, pixels = _cutouts(u_field["out"])
    assert len(meta) == u_field["n_photo"]
    interior = meta.margin_px >= 0
    assert interior.sum() > 800 and (meta["flags"][interior] == 0).all()
    assert ((meta["flags"][~interior] & EDGE) != 0).all()
    for k in np.flatnonzero(interior.to_numpy())[::7]:
        pos = SkyCoord(meta.ra_deg[k], meta.dec_deg[k], unit="deg")
        ref = Cutout2D(u_field["image"], pos, (64, 64), wcs=u_field["wcs"], mode="strict").data
        np.testing.assert_array_equal(pixels[k, 0], ref)
    for k in np.flatnonzero(~interior.to_numpy())[:10]:
        pos = SkyCoord(meta.ra_deg[k], meta.dec_deg[k], unit="deg")
        ref = Cutout2D(u_field["image"], pos, (64, 64), wcs=u_field["wcs"], mode="partial", fill_value=np.nan).data
        np.testing.assert_array_equal(pixels[k, 0], ref)
    assert set(meta.field_id) == {"3900-6-269"} and (meta.n_fields == 1).all()
    cat = u_field["catalog"]
    assert list(meta.object_id) == list(cat.OBJID[: u_field["n_photo"]])


def test_rows_off_the_frame_are_rejected(u_field):
    s = u_field["summary"]
    assert s["read"] == u_field["n_photo"] + 3 == s["written"] + s["rejected"]
    rej = read_rejects(u_field["out"]).to_pandas().sort_values("row_index")
    assert list(rej.spec_id) == ["off-east", "nan-ra", "dec-95"]
    assert list(rej.row_index) == [u_field["n_photo"], u_field["n_photo"] + 1, u_field["n_photo"] + 2]
    assert "outside every field" in rej.reason.iloc[0]
    assert all("invalid position" in r for r in rej.reason.iloc[1:])
    assert all(p.endswith("catalog.fits") for p in rej.source_file)


def test_levels_are_reshape_means(u_field):
    table = read_table(u_field["out"], under="cutouts")
    pixels = column_stack(table.column("pixels"), (1, 64, 64)).astype(np.float64)
    levels = table.column("levels_px")[0].as_py()
    assert levels == [32, 16, 8]
    nested = table.column("level_pixels").combine_chunks()
    for j, size in enumerate(levels):
        got = np.stack([np.asarray(row[j].values) for row in nested[:50]]).reshape(-1, 1, size, size)
        f = 64 // size
        ref = pixels[:50].reshape(50, 1, size, f, size, f).mean(axis=(3, 5))
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.nanmax(np.abs(ref)), equal_nan=True)


# --------------------------------------------------------------------------- synthetic fields


def _two_fields(folder: Path):
    """Fields A and B overlapping by 100 columns (B 300 px east of A), g/r/i with band offsets, u only in A."""
    a = FieldSpec("fa", ra_deg=150.0, dec_deg=2.0, shape=(300, 400), bands=("u", "g", "r", "i"), seed=21)
    dra = 300 * 0.396 / 3600.0 / np.cos(np.radians(2.0))
    b = FieldSpec("fb", ra_deg=150.0 - dra, dec_deg=2.0, shape=(300, 400), seed=22)
    write_field(folder, a)
    write_field(folder, b)
    return a, b


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    a, b = _two_fields(root / "frames")
    _ingest(root / "frames", root / "ingest", "tiles.size_px=128")
    wa = field_wcs(a)
    # Sources: interior of A only, the overlap (near A's east edge: x = 390 of 400), A's west edge (only in A),
    # and one position in neither field.
    xs = np.array([200.0, 100.0, 390.0, 395.5, 3.0, 250.2, -400.0])
    ys = np.array([150.0, 80.0, 150.0, 40.0, 150.0, 297.0, 150.0])
    ra, dec = wa.all_pix2world(xs, ys, 0)
    cat = pd.DataFrame({"objid": [f"s{k}" for k in range(len(xs))], "ra": ra, "dec": dec})
    cat.to_parquet(root / "catalog.parquet")
    return {"root": root, "a": a, "b": b, "cat": cat}


def test_edge_sources_come_from_the_frame_that_holds_them(synth):
    out = synth["root"] / "cut_edge"
    s = cut_job.run(None, _cut_cfg(synth["root"] / "catalog.parquet", synth["root"] / "ingest", out, "bands=gri"))
    assert (s["read"], s["written"], s["rejected"]) == (7, 6, 1)
    meta, _ = _cutouts(out)
    by_id = meta.set_index("object_id")
    assert by_id.loc["s0", "field_id"] == "fa" and by_id.loc["s0", "n_fields"] == 1
    for sid in ("s2", "s3"):  # near A's east edge, whole in B
        assert by_id.loc[sid, "field_id"] == "fb" and by_id.loc[sid, "n_fields"] == 2
        assert by_id.loc[sid, "margin_px"] >= 0 and by_id.loc[sid, "flags"] & EDGE == 0
    for sid in ("s4", "s5"):  # A's west / north edge: no frame holds them whole
        assert by_id.loc[sid, "flags"] & EDGE and by_id.loc[sid, "margin_px"] < 0
    rej = read_rejects(out).to_pandas()
    assert list(rej.spec_id) == ["s6"]


def test_synthetic_cutouts_equal_cutout2d_on_the_registered_stack(synth):
    """gri from the tiles, u (not stacked by ingest) from its frame: both equal Cutout2D on register_frames' stack."""
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D

    from skysift.images.registration import register_frames
    from skysift.io.frames import read_frame

    root = synth["root"]
    frames = {b: read_frame(root / "frames" / f"fa-{b}.fits") for b in "ugri"}
    stack = register_frames(frames, reference="r", bands=("u", "g", "r", "i")).pixels
    wcs = frames["r"].wcs
    results = {}
    for mode in ("tiles", "frames"):
        out = root / f"cut_{mode}"
        s = cut_job.run(None, _cut_cfg(root / "catalog.parquet", root / "ingest", out, "bands=ugri", f"read_from={mode}",
                                       "size_px=32", "levels_px=[16]"))
        # Only A has u: the overlap sources s2, s3 are cut from A now (B lacks u), and nothing is rejected for bands.
        assert s["written"] == 6
        results[mode] = _cutouts(out)
    meta, pixels = results["tiles"]
    np.testing.assert_array_equal(pixels, results["frames"][1])
    assert set(meta.field_id) == {"fa"}
    for k in range(len(meta)):
        pos = SkyCoord(meta.ra_deg[k], meta.dec_deg[k], unit="deg")
        for b in range(4):
            ref = Cutout2D(stack[b], pos, (32, 32), wcs=wcs, mode="partial", fill_value=np.nan).data
            np.testing.assert_array_equal(pixels[k, b], ref)
    # The u band sits (1.5, -6) px off r: its registered margin is NaN, which the flags say.
    assert any(meta["flags"] & NONFINITE)


def test_rows_only_on_a_field_lacking_a_band_are_rejected(synth):
    out = synth["root"] / "cut_z"
    s = cut_job.run(None, _cut_cfg(synth["root"] / "catalog.parquet", synth["root"] / "ingest", out, "bands=griz"))
    assert (s["read"], s["written"], s["rejected"]) == (7, 0, 7)
    rej = read_rejects(out).to_pandas()
    assert (rej.stage == "bands").sum() == 6 and "lacks band(s) z" in rej.reason[rej.stage == "bands"].iloc[0]


def test_masking_other_sources(tmp_path):
    spec = FieldSpec("m1", shape=(200, 200), seed=31, bands=("g", "r", "i"))
    w = field_wcs(spec)
    ra, dec = w.all_pix2world(np.array([100.0, 112.0]), np.array([100.0, 100.0]), 0)
    write_field(tmp_path / "frames", spec, stars=(ra, dec, np.array([80.0, 80.0])))
    _ingest(tmp_path / "frames", tmp_path / "ingest", "tiles.size_px=200")
    pd.DataFrame({"objid": ["main"], "ra": ra[:1], "dec": dec[:1]}).to_csv(tmp_path / "cat.csv", index=False)
    plain = tmp_path / "plain"
    masked = tmp_path / "masked"
    cut_job.run(None, _cut_cfg(tmp_path / "cat.csv", tmp_path / "ingest", plain, "bands=gri"))
    cut_job.run(None, _cut_cfg(tmp_path / "cat.csv", tmp_path / "ingest", masked, "bands=gri", "mask.enabled=true"))
    (m0, p0), (m1, p1) = _cutouts(plain), _cutouts(masked)
    assert m0["flags"][0] == 0 and m1["flags"][0] & MASKED
    # The neighbour 12 px east (cutout pixel (32, 44)) is gone, the central star is untouched.
    assert p0[0, 1, 32, 44] > 1.0 and abs(p1[0, 1, 32, 44]) < 0.2
    np.testing.assert_array_equal(p0[0, :, 28:37, 28:37], p1[0, :, 28:37, 28:37])


def test_config_checks(tmp_path):
    cfg = _cut_cfg("c.fits", "in", "out", "bands=ugriz")
    assert cfg.bands == ("u", "g", "r", "i", "z") and cfg.size_px == 64 and cfg.levels_px == (32, 16, 8)
    with pytest.raises(ConfigError, match="levels_px"):
        _cut_cfg("c.fits", "in", "out", "levels_px=[24]")
    from skysift.runtime.errors import SkysiftError

    with pytest.raises(SkysiftError, match="no fields/ table"):
        cut_job.run(None, _cut_cfg("c.fits", str(tmp_path), str(tmp_path / "o")))


def test_spark_writes_the_same_rows_as_the_twin(spark, synth):
    root = synth["root"]
    sets = ("bands=gri", "size_px=32", "levels_px=[16, 8]")
    a = cut_job.run(spark, _cut_cfg(root / "catalog.parquet", root / "ingest", root / "spark", *sets))
    b = cut_job.run(None, _cut_cfg(root / "catalog.parquet", root / "ingest", root / "twin", *sets))
    for key in ("read", "written", "rejected", "fields", "flag_edge", "flag_nonfinite"):
        assert a[key] == b[key], key
    ta, tb = read_table(root / "spark", under="cutouts").to_pandas(), read_table(root / "twin", under="cutouts").to_pandas()
    ta, tb = (t.sort_values("object_id").reset_index(drop=True) for t in (ta, tb))
    scalars = [c for c in ta.columns if c not in ("pixels", "level_pixels", "bands", "levels_px")]
    assert ta[scalars].equals(tb[scalars])
    for x, y in zip(ta.pixels, tb.pixels):
        np.testing.assert_array_equal(x, y)
    ra = read_rejects(root / "spark").to_pandas().sort_values("row_index").reset_index(drop=True)
    rb = read_rejects(root / "twin").to_pandas().sort_values("row_index").reset_index(drop=True)
    assert ra.equals(rb) and len(ra) == 1

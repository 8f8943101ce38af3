"""ingest-frames: the real g/r/i field 2583-2-136 (tiles, WCS, alignment), broken inputs, the Spark/twin agreement."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skysift.config import ConfigError, load_config
from skysift.images.tables import column_stack, paste_tiles
from skysift.images.tiling import TileGridConfig, tile_grid
from skysift.paths import conf_dir
from skysift.runtime.output import read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.ingest_frames import job as ingest_job
from skysift.synth.toy_frames import FieldSpec, write_field

FIELD = "2583-2-136"


def _cfg(inputs, output, *sets):
    return load_config(ingest_job.CONFIG, conf_dir() / "ingest_frames.yaml", [f"input={inputs}", f"output={output}", *sets])


def _astropy_frame(path: Path):
    """HDU0 pixels and WCS read by astropy alone (the independent reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdul:
            return hdul[0].data.astype(np.float32), WCS(hdul[0].header).celestial


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory):
    """The real g, r, i frames ingested by the sequential twin (12 tiles)."""
    src = shared_data / "sdss-imaging"
    folder = tmp_path_factory.mktemp("frames")
    for band in "gri":
        name = f"frame-{band}-002583-2-0136.fits.bz2"
        if not (src / name).exists():
            pytest.skip(f"{name} not present")
        os.symlink(src / name, folder / name)
    out = tmp_path_factory.mktemp("ingest") / "out"
    summary = ingest_job.run(None, _cfg(folder, out))
    fields = read_table(out, under="fields").to_pylist()
    tiles = (read_table(out, under="tiles").drop_columns(["pixels"]).to_pandas()
             .sort_values("tile_index").reset_index(drop=True))
    return {"summary": summary, "out": out, "fields": fields, "tiles": tiles, "src": src, "folder": folder}


@pytest.fixture(scope="module")
def astropy_gri(real):
    """{band: (pixels, WCS)} of the three frames as astropy reads them."""
    return {b: _astropy_frame(real["src"] / f"frame-{b}-002583-2-0136.fits.bz2") for b in "gri"}


def test_real_field_row_and_counts(real, astropy_gri):
    s = real["summary"]
    assert (s["read"], s["written"], s["rejected"], s["fields"], s["tiles"]) == (3, 3, 0, 1, 12)
    (row,) = real["fields"]
    assert (row["field_id"], row["run"], row["camcol"], row["field"]) == (FIELD, 2583, 2, 136)
    assert row["bands"] == ["g", "r", "i"] and row["reference_band"] == "r"
    assert (row["height_px"], row["width_px"]) == (1489, 2048)
    assert row["pixel_scale_arcsec"] == pytest.approx(0.396, abs=0.001)
    assert (row["tiles_x"], row["tiles_y"], row["tile_size_px"]) == (4, 3, 640)
    # Sky noise against astropy's sigma-clipped MAD on each whole frame (the job uses per-box clipped sd).
    from astropy.stats import sigma_clipped_stats

    for band, noise in zip(row["bands"], row["sky_noise"]):
        data, _ = astropy_gri[band]
        _, _, mad = sigma_clipped_stats(data[::3, ::3], sigma=3, maxiters=5, stdfunc="mad_std")
        assert 0.8 < noise / mad < 1.25, (band, noise, mad)
    assert row["band_coverage"][1] == 1.0 and min(row["band_coverage"]) > 0.98


def test_tiles_cover_every_pixel_and_hold_the_registered_stack(real, astropy_gri):
    from skysift.images.registration import register_stack

    tiles = real["tiles"]
    cover = np.zeros((1489, 2048), np.int32)
    for x0, y0, s in zip(tiles.x0, tiles.y0, tiles.size_px):
        assert x0 >= 0 and y0 >= 0 and x0 + s <= 2048 and y0 + s <= 1489
        cover[y0 : y0 + s, x0 : x0 + s] += 1
    assert cover.min() >= 1
    pix = column_stack(real_pixels(real), (3, 640, 640))
    # The registration engine on astropy's pixels and WCSs (not through our frame reader).
    stack = register_stack({b: astropy_gri[b][0] for b in "gri"}, {b: astropy_gri[b][1] for b in "gri"},
                           reference="r", bands=("g", "r", "i")).pixels
    for k, (x0, y0) in enumerate(zip(tiles.x0, tiles.y0)):
        np.testing.assert_array_equal(pix[k], stack[:, y0 : y0 + 640, x0 : x0 + 640])
    # The reference band is the r frame's own pixels (astropy's read).
    r_data, _ = astropy_gri["r"]
    np.testing.assert_array_equal(paste_tiles(pix, tiles.x0, tiles.y0, (1489, 2048))[1], r_data)


def real_pixels(real):
    """The written tiles' pixel column, in tile_index order (as the ``tiles`` frame)."""
    table = read_table(real["out"], columns=["tile_index", "pixels"], under="tiles")
    return table.take(np.argsort(table.column("tile_index").to_numpy())).column("pixels")


def test_tile_wcs_maps_pixels_like_the_frame(real, astropy_gri):
    import astropy.units as u
    from astropy_healpix import HEALPix

    _, frame_wcs = astropy_gri["r"]
    rng = np.random.default_rng(3)
    for t in real["tiles"].itertuples():
        tw = WCS(fits.Header.fromstring(t.wcs_header))
        i, j = rng.uniform(-0.5, 639.5, 50), rng.uniform(-0.5, 639.5, 50)
        ra_t, dec_t = tw.all_pix2world(i, j, 0)
        ra_f, dec_f = frame_wcs.all_pix2world(t.x0 + i, t.y0 + j, 0)
        np.testing.assert_allclose(ra_t, ra_f, rtol=0, atol=1e-10)
        np.testing.assert_allclose(dec_t, dec_f, rtol=0, atol=1e-10)
        ra_c, dec_c = frame_wcs.all_pix2world(t.x0 + 319.5, t.y0 + 319.5, 0)
        assert (t.ra_deg, t.dec_deg) == pytest.approx((float(ra_c), float(dec_c)), abs=1e-10)
        hp = HEALPix(nside=2**29, order="nested")
        assert t.healpix29 == int(hp.lonlat_to_healpix(float(ra_c) * u.deg, float(dec_c) * u.deg))
        assert t.healpix_part == t.healpix29 >> (2 * (29 - 3))
        assert t.tile_id == f"{FIELD}-t{t.tile_index:02d}"


def _bright_isolated_stars(r: np.ndarray):
    import sep
    from scipy.spatial import cKDTree

    r = np.ascontiguousarray(r, dtype=np.float32)
    bkg = sep.Background(r)
    objs = sep.extract(r - bkg.back(), 10, err=bkg.globalrms, minarea=5)
    x, y = objs["x"], objs["y"]
    dist, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    ny, nx = r.shape
    keep = ((objs["flag"] == 0) & (dist[:, 1] > 15) & (x > 20) & (x < nx - 20) & (y > 20) & (y < ny - 20)
            & (objs["peak"] > 5) & (objs["peak"] < 150))
    return x[keep], y[keep]


def test_written_bands_align(real):
    """The registration check of tests/images/test_registration.py on the stack pasted from the WRITTEN tiles."""
    tiles = real["tiles"]
    stack = paste_tiles(column_stack(real_pixels(real), (3, 640, 640)), tiles.x0, tiles.y0, (1489, 2048))
    x, y = _bright_isolated_stars(stack[1])
    offsets = {0: [], 2: []}
    for xc, yc in zip(x, y):
        xi, yi = int(round(xc)), int(round(yc))
        yy, xx = np.mgrid[yi - 4 : yi + 5, xi - 4 : xi + 5]
        cents = []
        for b in range(3):
            w = np.clip(stack[b, yi - 4 : yi + 5, xi - 4 : xi + 5].astype(np.float64), 0, None)
            cents.append(((w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()) if np.isfinite(w).all() and w.sum() > 0 else (np.nan, np.nan))
        for b in (0, 2):
            offsets[b].append(np.subtract(cents[b], cents[1]))
    for b, d in offsets.items():
        d = np.array(d)
        d = d[np.isfinite(d).all(axis=1)]
        assert len(d) >= 50
        assert np.median(np.hypot(d[:, 0], d[:, 1])) <= 0.1
        assert np.hypot(*np.median(d, axis=0)) <= 0.05


def _broken_corpus(folder: Path, shared_data: Path) -> dict[str, str]:
    """Broken inputs beside two good synthetic fields; returns {file name: expected reason fragment}."""
    folder.mkdir(parents=True, exist_ok=True)
    write_field(folder, FieldSpec("good1", seed=1))
    write_field(folder, FieldSpec("good2", ra_deg=150.1, seed=2), compress=True)
    expected = {}
    # NaN-filled i: the whole field is rejected, naming i.
    paths = write_field(folder, FieldSpec("nanfield", seed=3))
    with fits.open(paths["i"], mode="update") as hdul:
        hdul[0].data[:] = np.nan
    expected["nanfield-i.fits"] = "NaN"
    expected["nanfield-g.fits"] = "lacks usable required band(s) i"
    expected["nanfield-r.fits"] = "lacks usable required band(s) i"
    # No WCS in r.
    paths = write_field(folder, FieldSpec("nowcs", seed=4))
    data = fits.getdata(paths["r"])
    fits.PrimaryHDU(data=data).writeto(paths["r"], overwrite=True)
    expected["nowcs-r.fits"] = "no celestial WCS"
    expected["nowcs-g.fits"] = "lacks usable required band(s) r"
    expected["nowcs-i.fits"] = "lacks usable required band(s) r"
    # A real SDSS frame truncated (its field's r and i are then not even read), and a corrupt bz2 stream.
    raw = (shared_data / "sdss-imaging" / "frame-g-002583-2-0136.fits.bz2").read_bytes()
    (folder / "frame-g-002583-2-0137.fits.bz2").write_bytes(raw[: len(raw) // 4])
    for band in "ri":
        os.symlink(shared_data / "sdss-imaging" / f"frame-{band}-002583-2-0136.fits.bz2", folder / f"frame-{band}-002583-2-0137.fits.bz2")
    expected["frame-g-002583-2-0137.fits.bz2"] = "truncated bzip2"
    expected["frame-r-002583-2-0137.fits.bz2"] = "lacks usable required band(s) g (required g, r, i; g: corrupt or truncated"
    expected["frame-i-002583-2-0137.fits.bz2"] = "lacks usable required band(s) g"
    paths = write_field(folder, FieldSpec("corrupt", seed=6), compress=True)
    bad = bytearray(paths["g"].read_bytes())
    bad[len(bad) // 2 : len(bad) // 2 + 64] = bytes(64)
    paths["g"].write_bytes(bytes(bad))
    expected["corrupt-g.fits.bz2"] = "bzip2"
    expected["corrupt-r.fits.bz2"] = "lacks usable required band(s) g"
    expected["corrupt-i.fits.bz2"] = "lacks usable required band(s) g"
    # An SDSS-named frame of the wrong shape (g; r and i beside it are then not read).
    for band in "gri":
        spec = FieldSpec("x", shape=(100, 120), seed=5)
        p = write_field(folder / "tmp", spec, bands=[band])[band]
        p.rename(folder / f"frame-{band}-000094-1-0012.fits")
        expected[f"frame-{band}-000094-1-0012.fits"] = "lacks usable required band(s) g"
    expected["frame-g-000094-1-0012.fits"] = "expected (1489, 2048)"
    # A field missing its i band (the real g and r of 2583-2-136 under their own names).
    for band in "gr":
        os.symlink(shared_data / "sdss-imaging" / f"frame-{band}-002583-2-0136.fits.bz2", folder / f"frame-{band}-002583-2-0136.fits.bz2")
        expected[f"frame-{band}-002583-2-0136.fits.bz2"] = "lacks usable required band(s) i (required g, r, i; i: no frame in the input)"
    # A duplicate band (plain and compressed copies of one frame).
    (folder / "good1-g.fits.gz").write_bytes(__import__("gzip").compress((folder / "good1-g.fits").read_bytes()))
    expected["good1-g.fits.gz"] = "duplicate g frame"
    (folder / "tmp").rmdir()
    return expected


def test_broken_inputs_rejected_with_reasons(shared_data, tmp_path):
    expected = _broken_corpus(tmp_path / "in", shared_data)
    out = tmp_path / "out"
    s = ingest_job.run(None, _cfg(tmp_path / "in", out, "tiles.size_px=128"))
    n_files = len([p for p in (tmp_path / "in").iterdir()])
    assert s["read"] == n_files == s["written"] + s["rejected"] + sum(s["other_outcomes"].values())
    assert s["fields"] == 2 and s["written"] == 6
    assert s["tiles"] == 2 * len(tile_grid((300, 400), TileGridConfig(size_px=128)))  # 4 x 6 each
    rej = read_rejects(out).to_pandas()
    assert len(rej) == s["rejected"] == len(expected)
    by_name = {Path(p).name: r for p, r in zip(rej.source_file, rej.reason)}
    for name, fragment in expected.items():
        assert name in by_name, name
        assert fragment in by_name[name] and name in by_name[name] and "\n" not in by_name[name], (name, by_name[name])
    fields = read_table(out, under="fields").to_pandas()
    assert sorted(fields.field_id) == ["good1", "good2"]
    assert set(fields.bands.map(tuple)) == {("g", "r", "i")}


def test_optional_and_unused_bands(tmp_path):
    write_field(tmp_path / "in", FieldSpec("f1", bands=("u", "g", "r", "i", "z"), seed=7))
    s = ingest_job.run(None, _cfg(tmp_path / "in", tmp_path / "out", "optional_bands=[z]", "tiles.size_px=256"))
    assert (s["read"], s["written"], s["rejected"], s["other_outcomes"]) == (5, 4, 0, {"frames_not_stacked": 1})
    (row,) = read_table(tmp_path / "out", under="fields").to_pylist()
    assert row["bands"] == ["g", "r", "i", "z"] and row["unused_bands"] == ["u"]
    assert Path(row["unused_files"][0]).name == "f1-u.fits" and row["bands_present"] == ["g", "i", "r", "u", "z"]
    tiles = read_table(tmp_path / "out", under="tiles")
    assert column_stack(tiles.column("pixels"), (4, 256, 256)).shape == (tiles.num_rows, 4, 256, 256)


def test_rgb_png_is_the_lupton_image_of_the_tile(tmp_path):
    from PIL import Image

    from skysift.images.rgb import lupton_rgb_stack

    write_field(tmp_path / "in", FieldSpec("c1", seed=8))
    ingest_job.run(None, _cfg(tmp_path / "in", tmp_path / "out", "rgb.enabled=true", "tiles.size_px=200"))
    tiles = read_table(tmp_path / "out", under="tiles")
    pix = column_stack(tiles.column("pixels"), (3, 200, 200))
    for k, png in enumerate(tiles.column("rgb_png").to_pylist()):
        rgb = np.asarray(Image.open(io.BytesIO(png)))
        np.testing.assert_array_equal(rgb, lupton_rgb_stack(pix[k], ("g", "r", "i")))


def test_config_checks():
    cfg = _cfg("x", "y", "bands=gri")
    assert cfg.bands == ("g", "r", "i")
    with pytest.raises(ConfigError, match="reference_band"):
        _cfg("x", "y", "bands=[g, i]")
    with pytest.raises(ConfigError, match="rgb.enabled needs g, r and i"):
        _cfg("x", "y", "bands=[r]", "rgb.enabled=true")


def test_spark_writes_the_same_rows_as_the_twin(spark, tmp_path):
    write_field(tmp_path / "in", FieldSpec("s1", seed=11))
    write_field(tmp_path / "in", FieldSpec("s2", ra_deg=150.05, seed=12), compress=True)
    (tmp_path / "in" / "s3-r.fits").write_bytes(b"SIMPLE  = garbage")
    sets = ("tiles.size_px=160",)
    a = ingest_job.run(spark, _cfg(tmp_path / "in", tmp_path / "spark", *sets))
    b = ingest_job.run(None, _cfg(tmp_path / "in", tmp_path / "twin", *sets))
    for key in ("read", "written", "rejected", "fields", "tiles"):
        assert a[key] == b[key], key
    assert a["tasks"] == 2  # s3 lacks g and i by name: rejected by the driver, never read
    for under, key in (("fields", "field_id"), ("tiles", "tile_id")):
        ta = read_table(tmp_path / "spark", under=under).to_pandas().sort_values(key).reset_index(drop=True)
        tb = read_table(tmp_path / "twin", under=under).to_pandas().sort_values(key).reset_index(drop=True)
        drop = ["seconds"] if under == "fields" else []
        assert ta.drop(columns=drop).astype(str).equals(tb.drop(columns=drop).astype(str)), under
        if under == "tiles":
            for x, y in zip(ta.pixels, tb.pixels):
                np.testing.assert_array_equal(x, y)
    ra = read_rejects(tmp_path / "spark").to_pandas().sort_values("source_file").reset_index(drop=True)
    rb = read_rejects(tmp_path / "twin").to_pandas().sort_values("source_file").reset_index(drop=True)
    assert ra.equals(rb) and len(ra) == 1

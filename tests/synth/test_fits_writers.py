"""Synthetic FITS files: real layouts, round trip through astropy and skysift's readers, same bytes."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from skysift.synth import plates
from skysift.synth.fits_writers import lamost_and_mask, write_batch
from skysift.synth.model import LayoutMix, SynthModelConfig, generate

BACKENDS = ("astropy", "fitsio")


@pytest.fixture(scope="module")
def batch():
    cfg = dataclasses.replace(SynthModelConfig(), layouts=LayoutMix(1, 1, 1, 1), fibers_per_plate=6)
    b = generate(np.arange(48), 3, cfg)
    assert set(b.truth.survey) == set(plates.LAYOUTS)
    return b


@pytest.fixture(scope="module", params=BACKENDS)
def written(request, batch, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"fits-{request.param}")
    paths = write_batch(batch, root, seed=3, backend=request.param)
    return request.param, root, paths


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.fits"))}


def test_astropy_round_trip(batch, written):
    _, root, paths = written
    t = batch.truth
    assert len(paths) == len(batch) == len(list(root.rglob("*.fits")))
    for i, rel in enumerate(paths):
        s = batch.pixel_slice(i)
        layout = t.survey.iat[i]
        with fits.open(root / rel) as h:
            if layout in ("sdss", "boss"):
                assert [x.name for x in h] == ["PRIMARY", "COADD", "SPECOBJ" if layout == "sdss" else "SPALL"]
                d = h[1].data
                assert d["flux"].tobytes() == batch.flux[i, s].astype(">f4").tobytes()
                assert d["ivar"].tobytes() == batch.ivar[i, s].astype(">f4").tobytes()
                np.testing.assert_array_equal(d["and_mask"], batch.and_mask[i, s])
                k0, n = batch.k0[i], batch.n_pix[i]
                want = (3.5 + 1e-4 * np.arange(k0 + n)).astype(np.float32)[k0:]
                assert np.asarray(d["loglam"], dtype=np.float32).tobytes() == want.tobytes()
                row = h[2].data[0]
                assert row["CLASS"] == t["class"].iat[i] and row["SUBCLASS"] == t.subclass.iat[i]
                assert row["Z"] == np.float32(t.z.iat[i])
                assert row["PLUG_RA"] == t.ra_deg.iat[i] and row["PLUG_DEC"] == t.dec_deg.iat[i]
                assert (row["PLATE"], row["MJD"], row["FIBERID"]) == (t.plate.iat[i], t.mjd.iat[i], t.fiber.iat[i])
                assert Path(rel).name == f"spec-{row['PLATE']:04d}-{row['MJD']:05d}-{row['FIBERID']:04d}.fits"
            elif layout == "lamost_image":
                assert len(h) == 1 and h[0].data.shape == (5, batch.n_pix[i]) and h[0].data.dtype.kind == "f"
                hd = h[0].header
                np.testing.assert_array_equal(h[0].data[0], batch.flux[i, s])
                wave = 10 ** (hd["COEFF0"] + hd["COEFF1"] * np.arange(batch.n_pix[i]))
                np.testing.assert_allclose(h[0].data[2], wave, rtol=1e-6)
                assert hd["CLASS"] == t["class"].iat[i] and hd["OBSID"] == int(t.file_spec_id.iat[i].split("-")[1])
            else:
                assert [x.name for x in h] == ["PRIMARY", "COADD"] and h[1].data.shape == (1,)
                np.testing.assert_array_equal(h[1].data["FLUX"][0], batch.flux[i, s])
                assert h[0].header["Z"] == pytest.approx(t.z.iat[i], abs=1e-12)
            assert "DATE" not in h[0].header and "CHECKSUM" not in h[0].header


def test_layout_matches_real_files(batch, written, shared_data):
    _, root, paths = written
    real = fits.open(shared_data / "sdss-spectra" / "spec-0280-51612-0117.fits")
    real_boss = fits.open(shared_data / "sdss-spectra" / "spec-3586-55181-0003.fits")
    real_lamost = fits.open(shared_data / "lamost-spectra" / "spec-58397-EG014118N254444M01_sp03-031.fits")
    for i, rel in enumerate(paths):
        layout = batch.truth.survey.iat[i]
        with fits.open(root / rel) as h:
            if layout in ("sdss", "boss"):
                ref = real if layout == "sdss" else real_boss
                assert h[1].columns.names == ref[1].columns.names
                assert h[1].columns.formats == ref[1].columns.formats
                ref_formats = dict(zip(ref[2].columns.names, ref[2].columns.formats))
                for name, fmt in zip(h[2].columns.names, h[2].columns.formats):
                    assert fmt[-1] == ref_formats[name][-1], name  # same type code; string widths as SDSS
            elif layout == "lamost_image":
                for key in ("RA", "DEC", "CLASS", "SUBCLASS", "Z", "Z_ERR", "OBSID", "LMJD", "PLANID", "SPID", "FIBERID", "COEFF0", "COEFF1"):
                    assert key in h[0].header and key in real_lamost[0].header, key
                assert h[0].data.dtype == real_lamost[0].data.dtype.newbyteorder("=") or h[0].data.dtype.kind == "f"


def test_skysift_readers_round_trip(batch, written):
    from skysift.io.spectra_fits import read_spectra_file

    _, root, paths = written
    t = batch.truth
    for i, rel in enumerate(paths):
        (spec,) = read_spectra_file(root / rel)
        assert hasattr(spec, "flux"), spec
        s = batch.pixel_slice(i)
        assert spec.spec_id == t.file_spec_id.iat[i]
        np.testing.assert_array_equal(spec.flux, batch.flux[i, s])
        np.testing.assert_array_equal(spec.ivar, batch.ivar[i, s])
        want_mask = batch.and_mask[i, s] if spec.survey != "lamost" else lamost_and_mask(batch.and_mask[i, s])
        np.testing.assert_array_equal(np.asarray(spec.and_mask, dtype=np.int64), want_mask)
        want = (3.5 + 1e-4 * np.arange(batch.k0[i] + batch.n_pix[i]))[batch.k0[i] :]
        np.testing.assert_allclose(np.asarray(spec.loglam, dtype=np.float64), want, atol=2e-7)
        assert spec.z == pytest.approx(t.z.iat[i], rel=1e-6, abs=1e-9)
        assert spec.class_ == t["class"].iat[i]
        assert spec.ra_deg == pytest.approx(t.ra_deg.iat[i], abs=1e-9)


def test_same_bytes_twice(batch, written, tmp_path):
    backend, root, _ = written
    again = tmp_path / "again"
    write_batch(batch, again, seed=3, backend=backend)
    assert _hashes(root) == _hashes(again)


def test_lamost_files_carry_lamost_mask_bits():
    """The model's SDSS bits, renumbered: FULLREJECT (18) -> NODATA (5), BRIGHTSKY (23) -> BRIGHTSKY (3)."""
    sdss = np.array([0, 1 << 18, 1 << 23, (1 << 18) | (1 << 23), 1 << 4])
    assert lamost_and_mask(sdss).tolist() == [0, 1 << 5, 1 << 3, (1 << 5) | (1 << 3), 0]

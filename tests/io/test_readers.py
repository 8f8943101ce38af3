"""Survey spectrum readers on small files written here with astropy: layouts, compression, broken files."""
from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from skysift.io.readers.fitsview import parse_value
from skysift.io.spectra_fits import detect_file_layout, read_spectra_file
from skysift.spectra.native import NativeSpectrum
from skysift.runtime.rejects import Reject
from skysift.synth.broken_files import write_broken_corpus

BACKENDS = ["auto", "raw", "astropy", "fitsio"]
N = 300


def _arrays(seed: int, n: int = N):
    rng = np.random.default_rng(seed)
    loglam = (3.5800 + 1e-4 * np.arange(n)).astype(np.float32)
    flux = rng.normal(20.0, 3.0, n).astype(np.float32)
    ivar = rng.uniform(0.1, 2.0, n).astype(np.float32)
    and_mask = np.where(rng.random(n) < 0.05, 1 << 23, 0).astype(np.int32)
    return loglam, flux, ivar, and_mask


def write_sdss(path: Path, meta_name="SPECOBJ", seed=0, plate=266, mjd=51602, fiber=107, ra=146.49052, dec=-0.36931044,
               z=0.12314858, cls="GALAXY", subclass="STARFORMING", flux=None, extra_hdus=0):
    loglam, f, ivar, and_mask = _arrays(seed)
    if flux is not None:
        f = flux
    primary = fits.PrimaryHDU()
    primary.header["PLATEID"] = plate
    coadd = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="flux", format="E", array=f),
            fits.Column(name="loglam", format="E", array=loglam),
            fits.Column(name="ivar", format="E", array=ivar),
            fits.Column(name="and_mask", format="J", array=and_mask),
            fits.Column(name="or_mask", format="J", array=and_mask),
            fits.Column(name="wdisp", format="E", array=np.ones(N, np.float32)),
        ],
        name="COADD",
    )
    meta = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="SURVEY", format="6A", array=np.array(["sdss"])),
            fits.Column(name="PLATE", format="J", array=np.array([plate])),
            fits.Column(name="MJD", format="J", array=np.array([mjd])),
            fits.Column(name="FIBERID", format="J", array=np.array([fiber])),
            fits.Column(name="OBJID", format="5J", array=np.array([[1, 2, 3, 4, 5]])),
            fits.Column(name="CLASS", format="6A", array=np.array([cls])),
            fits.Column(name="SUBCLASS", format="21A", array=np.array([subclass])),
            fits.Column(name="Z", format="E", array=np.array([z], np.float32)),
            fits.Column(name="Z_ERR", format="E", array=np.array([1.39e-5], np.float32)),
            fits.Column(name="ZWARNING", format="J", array=np.array([4])),
            fits.Column(name="PLUG_RA", format="D", array=np.array([ra])),
            fits.Column(name="PLUG_DEC", format="D", array=np.array([dec])),
        ],
        name=meta_name,
    )
    hdus = [primary, coadd, meta, fits.BinTableHDU.from_columns([fits.Column(name="LINENAME", format="13A", array=np.array(["Ha"]))], name="SPZLINE")]
    hdus += [fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.ones(10, np.float32))], name=f"B1-{i:08d}") for i in range(extra_hdus)]
    fits.HDUList(hdus).writeto(path)
    return loglam, f, ivar, and_mask


LAMOST_HEADER = {"TELESCOP": "LAMOST", "LMJD": 55862, "PLANID": "B6212", "SPID": 6, "FIBERID": 3, "RA": 99.316263,
                 "DEC": 27.23237, "CLASS": "STAR", "SUBCLASS": "F9", "Z": -0.00007138, "Z_ERR": 0.00004663,
                 "WFITTYPE": "LOG-LINEAR", "COEFF0": 3.5682, "COEFF1": 0.0001}


def write_lamost_image(path: Path, obsid=None, wave_row="subcontinuum", seed=1, n=N, coeff0=3.5682):
    rng = np.random.default_rng(seed)
    data = np.zeros((5, n), np.float32)
    data[0] = rng.normal(1000, 30, n)
    data[1] = rng.uniform(0.001, 0.03, n)
    loglam = coeff0 + 1e-4 * np.arange(n)
    data[2] = 10 ** loglam if wave_row == "wavelength" else rng.uniform(0.2, 1.3, n)
    data[3] = np.where(rng.random(n) < 0.05, 4, 0)
    data[4] = np.where(rng.random(n) < 0.05, 8, 0)
    hdu = fits.PrimaryHDU(data)
    for k, v in LAMOST_HEADER.items():
        hdu.header[k] = v
    if obsid is not None:
        hdu.header["OBSID"] = obsid
    hdu.writeto(path)
    return loglam, data


def write_lamost_table(path: Path, lower=False, seed=2, n=N):
    rng = np.random.default_rng(seed)
    wave = 10 ** (3.5682 + 1e-4 * np.arange(n))
    flux = rng.normal(500, 20, n).astype(np.float32)
    ivar = rng.uniform(0.01, 0.1, n).astype(np.float32)
    andmask = np.where(rng.random(n) < 0.05, 2, 0).astype(np.int32)
    name = (lambda s: s.lower()) if lower else (lambda s: s)
    cols = [
        fits.Column(name=name("FLUX"), format=f"{n}E", array=flux[None]),
        fits.Column(name=name("IVAR"), format=f"{n}E", array=ivar[None]),
        fits.Column(name=name("WAVELENGTH"), format=f"{n}D", array=wave[None]),
        fits.Column(name=name("ANDMASK"), format=f"{n}J", array=andmask[None]),
        fits.Column(name=name("ORMASK"), format=f"{n}J", array=andmask[None]),
        fits.Column(name=name("NORMALIZATION"), format=f"{n}E", array=np.ones((1, n), np.float32)),
    ]
    primary = fits.PrimaryHDU()
    for k, v in {**LAMOST_HEADER, "OBSID": 812345678}.items():
        primary.header[k] = v
    fits.HDUList([primary, fits.BinTableHDU.from_columns(cols, name="COADD")]).writeto(path)
    return wave, flux, ivar, andmask


def _one(out) -> NativeSpectrum:
    assert len(out) == 1, out
    assert isinstance(out[0], NativeSpectrum), out[0]
    return out[0]


# ---------------------------------------------------------------- layouts round-trip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("meta_name,survey,extra_hdus", [("SPECOBJ", "sdss", 0), ("SPALL", "boss", 0), ("SPECOBJ", "sdss", 5)])
def test_sdss_boss_round_trip(tmp_path, backend, meta_name, survey, extra_hdus):
    path = tmp_path / "whatever_name.fits"
    loglam, flux, ivar, and_mask = write_sdss(path, meta_name=meta_name, extra_hdus=extra_hdus)
    s = _one(read_spectra_file(path, backend=backend))
    assert s.spec_id == "sdss-0266-51602-0107"
    assert s.survey == survey
    assert s.loglam.dtype == np.float32 and np.array_equal(s.loglam, loglam)
    assert np.array_equal(s.flux, flux) and np.array_equal(s.ivar, ivar) and np.array_equal(s.and_mask, and_mask)
    assert (s.ra_deg, s.dec_deg) == (146.49052, -0.36931044)
    assert s.z == float(np.float32(0.12314858)) and s.z_err == float(np.float32(1.39e-5))
    assert (s.class_, s.subclass) == ("GALAXY", "STARFORMING")
    assert s.extra["zwarning"] == 4 and s.extra["plate"] == 266
    assert s.source_file == str(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lamost_dr1_image_uses_header_wavelength(tmp_path, backend):
    path = tmp_path / "x.fits"
    loglam, data = write_lamost_image(path)
    s = _one(read_spectra_file(path, backend=backend))
    assert s.spec_id == "lamost-55862-B6212-06-003"
    assert s.survey == "lamost"
    assert s.loglam.dtype == np.float64
    assert np.array_equal(s.loglam, 3.5682 + 0.0001 * np.arange(N))
    assert np.array_equal(s.flux, data[0]) and np.array_equal(s.ivar, data[1])
    assert np.array_equal(s.and_mask, data[3].astype(np.int32))
    assert (s.ra_deg, s.dec_deg, s.z, s.z_err) == (99.316263, 27.23237, -0.00007138, 0.00004663)
    assert (s.class_, s.subclass) == ("STAR", "F9")
    assert s.extra["wavelength_from"] == "header"


@pytest.mark.parametrize("backend", BACKENDS)
def test_lamost_dr7_image_with_wavelength_row_and_obsid(tmp_path, backend):
    path = tmp_path / "x.fits"
    loglam, _ = write_lamost_image(path, obsid=677503031, wave_row="wavelength")
    s = _one(read_spectra_file(path, backend=backend))
    assert s.spec_id == "lamost-677503031"
    assert np.array_equal(s.loglam, 3.5682 + 0.0001 * np.arange(N))


def test_lamost_image_row_disagreeing_with_header_is_rejected(tmp_path):
    path = tmp_path / "x.fits"
    write_lamost_image(path, wave_row="wavelength", coeff0=3.5682 + 0.01)  # row 2 written for 3.5782
    hdul = fits.open(path)
    hdul[0].header["COEFF0"] = 3.5682
    hdul.writeto(tmp_path / "y.fits")
    (r,) = read_spectra_file(tmp_path / "y.fits")
    assert isinstance(r, Reject) and r.stage == "validate" and "disagree" in r.reason and "y.fits" in r.reason


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("lower", [False, True])
def test_lamost_table_layout(tmp_path, backend, lower):
    path = tmp_path / "spec.fits"
    wave, flux, ivar, andmask = write_lamost_table(path, lower=lower)
    assert detect_file_layout(path) == "lamost-table"
    s = _one(read_spectra_file(path, backend=backend))
    assert s.spec_id == "lamost-812345678" and s.survey == "lamost"
    assert np.array_equal(s.loglam, np.log10(wave))
    assert np.array_equal(s.flux, flux) and np.array_equal(s.ivar, ivar) and np.array_equal(s.and_mask, andmask)
    assert (s.ra_deg, s.dec_deg, s.class_, s.subclass) == (99.316263, 27.23237, "STAR", "F9")


def test_layout_comes_from_content_not_name(tmp_path):
    write_sdss(tmp_path / "spec-55862-B6212_sp06-003.fits")  # an SDSS file with a LAMOST-style name
    write_lamost_image(tmp_path / "spec-0266-51602-0107.fits")
    assert detect_file_layout(tmp_path / "spec-55862-B6212_sp06-003.fits") == "sdss"
    assert detect_file_layout(tmp_path / "spec-0266-51602-0107.fits") == "lamost-image"
    shutil.copy(tmp_path / "spec-0266-51602-0107.fits", tmp_path / "noext")
    assert _one(read_spectra_file(tmp_path / "noext")).survey == "lamost"


def test_nan_flux_pixels_become_gaps_not_rejects(tmp_path):
    _, flux, _, _ = _arrays(0)
    flux = flux.copy()
    flux[[5, 6, 100]] = np.nan
    flux[7] = np.inf
    loglam, _, ivar, _ = write_sdss(tmp_path / "a.fits", flux=flux)
    s = _one(read_spectra_file(tmp_path / "a.fits"))
    bad = np.array([5, 6, 7, 100])
    assert np.all(s.ivar[bad] == 0) and np.all(s.flux[bad] == 0)
    keep = np.setdiff1d(np.arange(N), bad)
    assert np.array_equal(s.flux[keep], flux[keep]) and np.array_equal(s.ivar[keep], ivar[keep])
    assert s.extra["n_bad_pixels_zeroed"] == 4


# ---------------------------------------------------------------- compression


@pytest.mark.parametrize("backend", BACKENDS)
def test_compressed_reads_same_as_plain(tmp_path, backend):
    plain = tmp_path / "spec-0266-51602-0107.fits"
    write_sdss(plain)
    raw = plain.read_bytes()
    (tmp_path / "a.fits.gz").write_bytes(gzip.compress(raw, mtime=0))
    (tmp_path / "a.fits.bz2").write_bytes(bz2.compress(raw))
    (tmp_path / "gzip_named_plain.fits").write_bytes(gzip.compress(raw, mtime=0))
    ref = _one(read_spectra_file(plain, backend=backend))
    for name, comp in [("a.fits.gz", "gzip"), ("a.fits.bz2", "bzip2"), ("gzip_named_plain.fits", "gzip")]:
        s = _one(read_spectra_file(tmp_path / name, backend=backend))
        assert s.extra["compression"] == comp
        for k in ("loglam", "flux", "ivar", "and_mask"):
            a, b = getattr(ref, k), getattr(s, k)
            assert a.dtype == b.dtype and np.array_equal(a, b), (name, k)
        for k in ("spec_id", "survey", "ra_deg", "dec_deg", "z", "z_err", "class_", "subclass"):
            assert getattr(ref, k) == getattr(s, k), (name, k)


def test_compressed_lamost(tmp_path):
    plain = tmp_path / "l.fits"
    write_lamost_image(plain)
    (tmp_path / "l.fits.bz2").write_bytes(bz2.compress(plain.read_bytes()))
    a, b = _one(read_spectra_file(plain)), _one(read_spectra_file(tmp_path / "l.fits.bz2"))
    assert np.array_equal(a.flux, b.flux) and np.array_equal(a.loglam, b.loglam) and a.spec_id == b.spec_id


# ---------------------------------------------------------------- broken files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    return folder, write_broken_corpus(folder)


def test_corpus_covers_the_required_failures(corpus):
    _, expected = corpus
    for name in ["empty.fits", "random_bytes.fits", "truncated_in_coadd.fits", "wrong_layout_image.fits",
                 "coadd_without_flux.fits", "all_nan_flux.fits", "all_ivar_zero.fits", "outside_grid_4.0_4.1.fits",
                 "lamost_three_rows.fits", "nan_ra.fits"]:
        assert name in expected
    assert expected["outside_grid_4.0_4.1.fits"] == "resample"
    assert set(expected.values()) == {"read", "validate", "resample"}


def test_corpus_is_deterministic(corpus, tmp_path):
    folder, expected = corpus
    again = write_broken_corpus(tmp_path)
    assert again == expected
    for name in expected:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_broken_file_gives_one_reject(corpus, backend):
    folder, expected = corpus
    for name, stage in expected.items():
        out = read_spectra_file(folder / name, backend=backend)
        assert len(out) == 1, (name, out)
        (r,) = out
        if stage == "resample":
            # A sound spectrum the reader must pass on; the resampler rejects it (no overlap with the grid).
            assert isinstance(r, NativeSpectrum), (name, r)
            assert r.loglam.min() >= 3.99 and r.loglam.max() <= 4.11
            continue
        assert isinstance(r, Reject), (name, r)
        assert r.stage == stage, (name, r)
        assert name in r.reason and "\n" not in r.reason and len(r.reason) < 500, r.reason
        assert r.source_file == str(folder / name)


def test_specific_reasons(corpus):
    folder, _ = corpus

    def reason(name):
        (r,) = read_spectra_file(folder / name)
        return r.reason

    assert "empty" in reason("empty.fits")
    assert "not a FITS file" in reason("random_bytes.fits")
    assert "truncated" in reason("truncated_in_coadd.fits") and "COADD" in reason("truncated_in_coadd.fits")
    assert "truncated" in reason("truncated.fits.gz")
    assert "lacks column(s) flux" in reason("coadd_without_flux.fits") and "loglam" in reason("coadd_without_flux.fits")
    assert "no SPECOBJ or SPALL" in reason("coadd_without_specobj.fits")
    assert "64x64" in reason("wrong_layout_image.fits")
    assert "3x" in reason("lamost_three_rows.fits")
    assert "NaN" in reason("all_nan_flux.fits")
    assert "ivar is 0" in reason("all_ivar_zero.fits")
    assert "RA nan" in reason("nan_ra.fits")
    assert "increasing" in reason("nonmonotonic_loglam.fits")


def test_missing_file_and_directory_are_rejects(tmp_path):
    (r,) = read_spectra_file(tmp_path / "nope.fits")
    assert r.stage == "read" and "nope.fits" in r.reason
    (r,) = read_spectra_file(tmp_path)
    assert r.stage == "read"


# ---------------------------------------------------------------- header value parsing


@pytest.mark.parametrize(
    "raw,value",
    [
        ("'GALAXY  '           / Class of object", "GALAXY"),
        ("'it''s a/b'  / comment", "it's a/b"),
        ("                    T / flag", True),
        ("                    F", False),
        ("                55862 / Local MJD", 55862),
        ("             3.56820 / log10", 3.5682),
        ("          1.0D-04", 1.0e-4),
        ("       -0.00007138 / Redshift", -0.00007138),
        ("                     / undefined", None),
    ],
)
def test_parse_value(raw, value):
    assert parse_value(raw) == value


# ---------------------------------------------------------------- fall-backs and resources


def test_scaled_column_falls_back_to_astropy(tmp_path):
    loglam, flux, ivar, _ = _arrays(3)
    mask = np.arange(N, dtype=np.uint32) * 1000003  # astropy stores uint32 as J with TZERO = 2**31
    cols = [fits.Column(name="loglam", format="E", array=loglam), fits.Column(name="flux", format="E", array=flux),
            fits.Column(name="ivar", format="E", array=ivar), fits.Column(name="and_mask", format="J", bzero=2**31, array=mask)]
    meta = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format="D", array=np.array([v])) for k, v in (("PLUG_RA", 10.0), ("PLUG_DEC", -5.0))], name="SPECOBJ")
    primary = fits.PrimaryHDU()
    primary.header.update(PLATEID=12, MJD=50000, FIBERID=7)  # SPECOBJ lacks them: the primary header stands in
    fits.HDUList([primary, fits.BinTableHDU.from_columns(cols, name="COADD"), meta]).writeto(tmp_path / "u.fits")
    assert "TZERO4" in fits.getheader(tmp_path / "u.fits", 1)
    s = _one(read_spectra_file(tmp_path / "u.fits"))
    assert s.extra["backend"] == "astropy"
    assert np.array_equal(s.and_mask, mask) and s.spec_id == "sdss-0012-50000-0007"
    assert s.z is None and s.class_ is None and (s.ra_deg, s.dec_deg) == (10.0, -5.0)


def test_no_file_descriptors_leak(corpus):
    import os

    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        pytest.skip("needs /proc")
    folder, expected = corpus
    before = len(os.listdir(fd_dir))
    for _ in range(3):
        for name in expected:
            for backend in BACKENDS:
                read_spectra_file(folder / name, backend=backend)
    assert len(os.listdir(fd_dir)) <= before

"""The readers on the real SDSS/BOSS/LAMOST sample in ../shared/data, checked against index.csv and the files themselves."""
from __future__ import annotations

import bz2
import csv
import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from skysift.io.spectra_fits import read_spectra_file
from skysift.spectra.native import NativeSpectrum

N_SDSS, N_LAMOST = 17, 11


@pytest.fixture(scope="module")
def index(shared_data) -> dict[str, dict]:
    with open(shared_data / "index.csv", newline="") as fh:
        return {row["file"]: row for row in csv.DictReader(fh) if row["kind"] in ("sdss-spec", "lamost-spec")}


@pytest.fixture(scope="module")
def spectra(shared_data, index) -> dict[str, NativeSpectrum]:
    out = {}
    for rel in index:
        res = read_spectra_file(shared_data / rel)
        assert len(res) == 1 and isinstance(res[0], NativeSpectrum), (rel, res)
        out[rel] = res[0]
    return out


def _independent(path: Path) -> dict:
    """Metadata and arrays read straight from the file with astropy, without skysift."""
    with fits.open(path) as h:
        if h[0].data is not None and h[0].data.ndim == 2:  # LAMOST image
            hd = h[0].header
            n = hd["NAXIS1"]
            return {
                "class": hd["CLASS"].strip(), "subclass": hd["SUBCLASS"].strip(), "z": hd["Z"], "z_err": hd["Z_ERR"],
                "ra": hd["RA"], "dec": hd["DEC"], "loglam": hd["COEFF0"] + hd["COEFF1"] * np.arange(n, dtype=np.float64),
                "flux": h[0].data[0], "ivar": h[0].data[1], "row2": h[0].data[2], "obsid": hd.get("OBSID"),
                "survey": "lamost",
            }
        so = h[2].data
        return {
            "class": so["CLASS"][0].strip(), "subclass": so["SUBCLASS"][0].strip(), "z": float(so["Z"][0]),
            "z_err": float(so["Z_ERR"][0]), "ra": float(so["PLUG_RA"][0]), "dec": float(so["PLUG_DEC"][0]),
            "plate": int(so["PLATE"][0]), "mjd": int(so["MJD"][0]), "fiber": int(so["FIBERID"][0]),
            "loglam": np.array(h[1].data["loglam"]), "flux": np.array(h[1].data["flux"]), "ivar": np.array(h[1].data["ivar"]),
            "and_mask": np.array(h[1].data["and_mask"]), "survey": "boss" if h[2].name == "SPALL" else "sdss",
        }


def test_all_real_spectra_read_without_rejects(spectra, index):
    kinds = [index[rel]["kind"] for rel in spectra]
    assert kinds.count("sdss-spec") == N_SDSS and kinds.count("lamost-spec") == N_LAMOST


def test_metadata_matches_index_csv(spectra, index):
    for rel, s in spectra.items():
        row = index[rel]
        assert s.class_ == row["class"], rel
        assert (s.subclass or "") == row["subclass"], rel
        z_decimals = len(row["z"].split(".")[1])
        assert round(s.z, z_decimals) == pytest.approx(float(row["z"]), abs=0.6 * 10**-z_decimals), rel
        assert s.ra_deg == pytest.approx(float(row["ra"]), abs=1e-6), rel
        assert s.dec_deg == pytest.approx(float(row["dec"]), abs=1e-6), rel


def test_values_match_the_files_read_independently(spectra, shared_data):
    for rel, s in spectra.items():
        ref = _independent(shared_data / rel)
        assert s.survey == ref["survey"], rel
        assert (s.class_, s.subclass or "") == (ref["class"], ref["subclass"]), rel
        assert (s.z, s.z_err, s.ra_deg, s.dec_deg) == (ref["z"], ref["z_err"], ref["ra"], ref["dec"]), rel
        assert np.array_equal(s.loglam, ref["loglam"]) and s.loglam.dtype == ref["loglam"].dtype.newbyteorder("="), rel
        assert s.loglam.dtype.isnative and s.flux.dtype.isnative, rel
        assert np.array_equal(s.flux, ref["flux"]) and np.array_equal(s.ivar, ref["ivar"]), rel
        if s.survey == "lamost":
            if np.all(ref["row2"] > 1000):  # DR7: row 2 holds wavelengths; they match the header solution
                assert np.allclose(np.log10(ref["row2"]), s.loglam, atol=1e-6, rtol=0), rel
            else:  # DR1: row 2 is the subcontinuum (order 1), not a wavelength
                assert ref["row2"].max() < 100 and s.extra["wavelength_from"] == "header", rel
        else:
            assert np.array_equal(s.and_mask, ref["and_mask"]), rel
            assert s.spec_id == f"sdss-{ref['plate']:04d}-{ref['mjd']}-{ref['fiber']:04d}", rel


def test_spec_ids(spectra):
    ids = [s.spec_id for s in spectra.values()]
    assert len(set(ids)) == len(ids)
    by_file = {Path(rel).name: s.spec_id for rel, s in spectra.items()}
    assert by_file["spec-0266-51602-0107.fits"] == "sdss-0266-51602-0107"
    assert by_file["sdss_dr18_0358-51818-0504.fits"] == "sdss-0358-51818-0504"
    assert by_file["spec-55862-B6212_sp06-003.fits"] == "lamost-55862-B6212-06-003"  # DR1: no OBSID
    assert by_file["spec-58397-EG014118N254444M01_sp03-031.fits"] == "lamost-677503031"
    for name, sid in by_file.items():
        m = re.match(r"spec-(\d{4})-(\d{5})-(\d{4})\.fits$", name)
        if m:
            assert sid == "sdss-" + "-".join(m.groups()), name
        m = re.match(r"spec-(\d{5})-(\w+)_sp(\d{2})-(\d{3})\.fits$", name)
        if m and name.startswith("spec-55862"):
            assert sid == "lamost-" + "-".join(m.groups()), name


def test_boss_file_is_detected_as_boss(spectra):
    surveys = {Path(rel).name: s.survey for rel, s in spectra.items()}
    assert surveys.pop("spec-3586-55181-0003.fits") == "boss"
    assert {v for k, v in surveys.items() if "lamost" not in k and k.startswith(("spec-", "sdss"))} - {"lamost"} == {"sdss"}


@pytest.mark.parametrize("backend", ["astropy", "fitsio"])
def test_backends_agree_on_real_files(spectra, shared_data, backend):
    for rel, s in spectra.items():
        (t,) = read_spectra_file(shared_data / rel, backend=backend)
        assert isinstance(t, NativeSpectrum), t
        for k in ("loglam", "flux", "ivar", "and_mask"):
            assert getattr(s, k).dtype == getattr(t, k).dtype and np.array_equal(getattr(s, k), getattr(t, k)), (rel, k)
        for k in ("spec_id", "survey", "ra_deg", "dec_deg", "z", "z_err", "class_", "subclass"):
            assert getattr(s, k) == getattr(t, k), (rel, k)


def test_compressed_real_files_read_the_same(spectra, shared_data, tmp_path):
    for rel in ("sdss-spectra/spec-0390-51900-0282.fits", "sdss-spectra/spec-3586-55181-0003.fits",
                "lamost-spectra/spec-58397-EG014118N254444M01_sp03-031.fits"):
        raw = (shared_data / rel).read_bytes()
        for suffix, payload in ((".fits.gz", gzip.compress(raw, mtime=0)), (".fits.bz2", bz2.compress(raw))):
            path = tmp_path / (Path(rel).stem + suffix)
            path.write_bytes(payload)
            (t,) = read_spectra_file(path)
            s = spectra[rel]
            assert t.spec_id == s.spec_id and t.z == s.z and np.array_equal(t.flux, s.flux) and np.array_equal(t.loglam, s.loglam)


def test_non_spectrum_files_in_the_sample_are_rejected_not_raised(shared_data):
    for rel in ("sdss-imaging/stamp-u-164.4311-39.0359.fits", "sdss-imaging/photoObj-003900-6-0269.fits",
                "catalogs/lenscat_part_a.csv"):
        out = read_spectra_file(shared_data / rel)
        assert len(out) == 1 and out[0].stage == "read" and Path(rel).name in out[0].reason, out

"""`skysift synth-survey` with imaging.enabled: fields on the executors' tasks, survey tables, linked spectra, stamps."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from astropy.io import fits

from skysift.config import ConfigError, load_config
from skysift.paths import default_job_config
from skysift.schema.imaging_survey import IMAGING_TRUTH, MPAJHU, PHOTOOBJ, SPECPHOTO
from skysift.stages.synth_survey.config import LINKED_ROW_BASE
from skysift.stages.synth_survey.job import SynthSurveyConfig, read_truth, run
from skysift.synth.imaging.catalogs import spec_id

# Two 300 x 400 fields of one camcol, a dense spectroscopic subset so that a handful of objects get spectra.
SMALL = ["n_spectra=12", "seed=3", "rows_per_partition=12", "batch_rows=4", "imaging.enabled=true", "imaging.n_fields=2",
         "imaging.shape_px=[300,400]", "imaging.compress=false", "imaging.survey.population.spec_density_per_deg2=4000",
         "imaging.n_stamps=3", "imaging.stamps_per_task=2", "imaging.stamps.size_px=48", "imaging.stamps.galaxy_re_range_px=[3,10]"]


def _cfg(out: Path, *extra: str) -> SynthSurveyConfig:
    return load_config(SynthSurveyConfig, default_job_config("synth-survey"), [*SMALL, *extra], {"output": str(out)})


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("_table.json", "_manifest.json")}


def _table(path: Path):
    return pads.dataset(str(path), format="parquet").to_table()


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    out = tmp_path_factory.mktemp("imaging") / "survey"
    return out, run(None, _cfg(out))


def test_summary_balanced_and_tables(survey):
    out, s = survey
    im = s["imaging"]
    assert s["read"] == s["written"] + s["rejected"] == 12 + im["linked_spectra"]
    assert im["fields"] == 2 and im["frames_written"] == 10 and im["stamps"] == 3
    assert im["linked_spectra"] == im["spectroscopic_objects"] >= 3
    frames = sorted(p.name for p in (out / "imaging" / "frames").iterdir())
    assert frames[:2] == ["frame-g-009000-1-0011.fits", "frame-g-009000-1-0012.fits"] and len(frames) == 10
    with fits.open(out / "imaging" / "frames" / "frame-r-009000-1-0011.fits") as hdul:
        assert hdul[0].data.shape == (300, 400) and hdul[0].data.dtype.kind == "f" and hdul[0].data.dtype.itemsize == 4
    assert _table(out / "imaging" / "photoobj").schema.remove_metadata().equals(PHOTOOBJ.remove_metadata())
    assert _table(out / "imaging" / "specphoto").schema.remove_metadata().equals(SPECPHOTO.remove_metadata())
    assert _table(out / "imaging" / "truth").schema.equals(IMAGING_TRUTH)
    assert _table(out / "imaging" / "mpajhu").schema.equals(MPAJHU)
    assert _table(out / "imaging" / "photoobj").num_rows == im["photoobj_rows"]
    assert _table(out / "imaging" / "stamps").num_rows == 3


def test_spectra_are_the_imaged_objects(survey):
    out, s = survey
    truth = read_truth(out)
    linked = truth[truth.row_number >= LINKED_ROW_BASE].set_index("spec_id")
    assert len(truth) == s["read"] and len(linked) == s["imaging"]["linked_spectra"]
    objects = _table(out / "imaging" / "truth").to_pandas()
    spec = objects[objects.is_spec].set_index("object_id")
    # the spectra's spec_ids are exactly synth-<object_id> of the survey's spectroscopic objects ...
    assert set(linked.index) == set(spec_id(spec.index.to_numpy()))
    # ... which are the SpecPhoto rows of the two fields, each once
    sp = _table(out / "imaging" / "specphoto").to_pandas()
    assert sorted(sp.spec_id) == sorted(linked.index)
    # and each spectrum carries its object's position and redshift (independent: the imaging truth)
    t = linked.loc[spec_id(spec.index.to_numpy())]
    np.testing.assert_array_equal(t.z.to_numpy(), spec.z.to_numpy())
    np.testing.assert_array_equal(t.ra_deg.to_numpy(), spec.ra.to_numpy())
    assert (t["class"].to_numpy() == spec["class"].to_numpy()).all()
    for rel in t.source_file:
        assert (out / rel).is_file()
    mpa = _table(out / "imaging" / "mpajhu").to_pandas()
    assert set(mpa.spec_id) <= set(linked.index)


def test_same_seed_same_bytes_any_split(survey, tmp_path):
    out, _ = survey
    again = tmp_path / "again"
    run(None, _cfg(again, "imaging.fields_per_task=2", "imaging.stamps_per_task=3", "batch_rows=5"))
    a, b = _hashes(out), _hashes(again)
    # stamp parts are named by their first stamp, so a different split names them differently
    strip = lambda h: {k: v for k, v in h.items() if "stamps" not in k}  # noqa: E731
    assert strip(a) == strip(b) and len(strip(a)) > 30


def test_default_survey_has_no_imaging_and_config_errors(tmp_path):
    cfg = load_config(SynthSurveyConfig, default_job_config("synth-survey"), ["n_spectra=3"], {"output": str(tmp_path / "o")})
    assert not cfg.imaging.enabled
    s = run(None, cfg)
    assert "imaging" not in s and not (tmp_path / "o" / "imaging").exists()
    with pytest.raises(ConfigError, match="n_spectra must be <"):
        load_config(SynthSurveyConfig, None, ["imaging.enabled=true", f"n_spectra={LINKED_ROW_BASE}"], {"output": "x"})
    with pytest.raises(ConfigError, match="imaging.n_fields"):
        load_config(SynthSurveyConfig, None, ["imaging.n_fields=0"], {"output": "x"})


def test_report_labels_link_photoobj_to_truth(survey):
    """report.imaging.synthetic_labels: objid -> STAR / QSO / morphology, as the truth table says."""
    from skysift.report.imaging import synthetic_labels

    out, _ = survey
    labels = synthetic_labels(out / "imaging")
    photo = _table(out / "imaging" / "photoobj").to_pandas()
    truth = _table(out / "imaging" / "truth").to_pandas().set_index("object_id")
    assert set(labels) == set(photo.objid.astype(str))
    for objid, oid in zip(photo.objid.astype(str), photo.object_id):
        t = truth.loc[oid]
        assert labels[objid] == (t.morphology if t["class"] == "GALAXY" else t["class"])

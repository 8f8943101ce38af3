"""The job entry points: a field work item and the survey-wide tables agree with each other."""
from __future__ import annotations

import numpy as np

from skysift.synth.imaging import survey
from skysift.schema.imaging_survey import IMAGING_TRUTH, MPAJHU


def test_field_work_item_and_survey_tables(cfg, seed, tmp_path):
    prods = [survey.make_field(seed, cfg, i, tmp_path, compress=False) for i in range(3)]
    assert sorted(p.name for fp in prods for p in fp.paths)[:2] == ["frame-g-009000-1-0011.fits", "frame-g-009000-1-0012.fits"]
    tables = survey.survey_tables(seed, cfg)
    truth = tables["truth"].to_pandas()
    assert tables["truth"].schema.equals(IMAGING_TRUTH) and tables["mpajhu"].schema.equals(MPAJHU)
    # Every object a field catalogued is in the survey's object list, with the same truth.
    sv = truth.set_index("object_id")
    for fp in prods:
        ft = fp.truth.to_pandas()
        ft = ft[ft["in_frame"]].set_index("object_id")
        assert set(ft.index) <= set(sv.index)
        np.testing.assert_array_equal(ft["mag_r"].to_numpy(), sv.loc[ft.index, "mag_r"].to_numpy())
        np.testing.assert_array_equal(ft["primary_field_index"].to_numpy(), sv.loc[ft.index, "primary_field_index"].to_numpy())
    # SpecPhoto rows of all fields = the survey's spectroscopic objects that fall on a frame, each once.
    spec_ids = np.concatenate([fp.specphoto.column("object_id").to_numpy() for fp in prods])
    assert len(spec_ids) == len(set(spec_ids))
    params = tables["spectral_parameters"]
    assert set(params["object_id"]) == set(truth["object_id"][truth["is_spec"]])
    # ... and every spectroscopic object of the survey has its SpecPhoto row in exactly one field.
    assert set(spec_ids) == set(params["object_id"])

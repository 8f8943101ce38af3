"""`skysift synth-survey` with model.population=lu2022_pool: the pool, templates, regions and catalogs (no Spark)."""
from __future__ import annotations

import numpy as np

from skysift.config import load_config
from skysift.io.tables import read_table_json
from skysift.paths import conf_dir
from skysift.runtime.output import read_table
from skysift.stages.synth_survey.job import CONFIG, read_truth, run


def test_pool_job_writes_every_table(tmp_path):
    out = tmp_path / "pool"
    cfg = load_config(CONFIG, conf_dir() / "synth_survey_lu2022.yaml",
                      [f"output={out}", "n_spectra=300", "model.pool.n_templates=120", "rows_per_partition=150"])
    summary = run(None, cfg)
    truth = read_truth(out)
    assert len(truth) == 300 and summary["read"] == 300
    assert summary["written"] + summary["rejected"] == 300
    assert summary["rejected"] == int((truth["target_class"] == "dead_fibre").sum())  # no usable pixel
    spectra = read_table(out / "spectra", columns=["spec_id", "flux", "grid_id", "z"])
    assert set(spectra.column("grid_id").to_pylist()) == {"lin:3900:8898:2500"}
    assert len(spectra.column("flux")[0]) == 2500
    templates = read_table(out / "templates", columns=["spec_id", "z", "grid_id"]).to_pandas()
    assert len(templates) == summary["templates"] == 120 and templates["z"].notna().all()
    assert read_table_json(out / "templates")["grid_id"] == "lin:3900:8898:2500"
    tt = read_table(out / "templates_truth").to_pandas()
    assert tt["is_template"].all() and set(tt["spec_id"]) == set(templates["spec_id"])
    regions = read_table(out / "hii_regions").to_pandas()
    assert list(regions.columns) == ["name", "type", "glon_deg", "glat_deg", "ra_deg", "dec_deg", "radius_arcsec"]
    for name, id_col in (("cds", "main_id"), ("sdss", "objID"), ("ned", "prefname")):
        cat = read_table(out / "catalogs" / name).to_pandas()
        assert cat[id_col].is_unique and len(cat) > 30
        flagged = int((truth[f"in_{name}"] & ~truth["repeat"]).sum())
        decoys = int(cat[id_col].astype(str).str.contains(r" D\d").sum()) if name != "sdss" else int((cat[id_col] % 2).sum())
        assert len(cat) == flagged + decoys
    assert np.isin(truth["target_class"], ["star", "star_forming", "hii_region"]).any()

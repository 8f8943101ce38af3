"""load-catalog: column mapping, spec_id templates, label maps, BPT labels, position matching; nothing lost."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from skysift.stages.load_catalog import job
from skysift.stages.load_catalog.config import LoadCatalogConfig
from skysift.stages.load_catalog.tasks import derive_labels, format_spec_ids
from skysift.config import ConfigError, load_config
from skysift.runtime.rejects import read_rejects
from skysift.runtime.output import read_table


def test_spec_id_template_zero_pads_and_rejects_missing():
    df = pd.DataFrame({"plate": [266.0, 3306.0, np.nan], "mjd": [51602, 54922, 1], "fiberid": [1, 491, 2]})
    ids, reason = format_spec_ids(df, "sdss-{plate:04d}-{mjd}-{fiberid:04d}")
    assert ids[0] == "sdss-0266-51602-0001" and ids[1] == "sdss-3306-54922-0491"
    assert reason[0] is None and reason[1] is None and "plate" in reason[2]


def test_label_map_exclusion_fill_and_counts():
    df = pd.DataFrame({"spec_id": ["a", "b", "c", "d", "e"],
                       "t": ["star_forming", "seyfert", "composite", None, "passive"]})
    cfg = LoadCatalogConfig(input="x", output="y", task="agn3", label_column="t",
                            label_map=("star_forming:star_forming", "seyfert:agn", "liner:agn",
                                       "composite:-", "passive:normal"))
    labels, rejects = derive_labels(df, cfg, "truth", "x.parquet")
    assert labels[["spec_id", "label"]].values.tolist() == [["a", "star_forming"], ["b", "agn"], ["e", "normal"]]
    assert sorted(rejects["reason"]) == ["label 'composite' excluded from task 'agn3' by label_map",
                                         "no label (column t empty)"]
    assert len(labels) + len(rejects) == len(df)
    cfg2 = LoadCatalogConfig(input="x", output="y", label_column="t", fill_missing_label="normal")
    labels, rejects = derive_labels(df, cfg2, "truth", "x")
    assert len(labels) == 5 and labels["label"].iloc[3] == "normal"


def test_bpt_labels_from_line_fluxes(tmp_path, spark):
    # Hb = Ha = 1; log [NII]/Ha = -1; [OIII]/Hb either side of Kauffmann 2003 (y = 0.61/(-1.05) + 1.30 = 0.719)
    n = 4
    t = pd.DataFrame({
        "spec_id": [f"s{i}" for i in range(n)],
        "flux_hb_4861": [1.0, 1.0, 1.0, 1.0],
        "flux_oiii_5007": [10 ** 0.6, 10 ** 0.85, 10 ** 1.2, 1.0],
        "flux_ha_6563": [1.0, 1.0, 1.0, 0.0],
        "flux_nii_6584": [0.1, 0.1, 10 ** 0.3, 0.1],
        "flux_sii_6717": [0.05, 0.05, 0.5, 0.05], "flux_sii_6731": [0.05, 0.05, 0.5, 0.05],
        "flux_oi_6300": [0.01, 0.01, 0.1, 0.01],
    })
    src = tmp_path / "truth.parquet"
    t.to_parquet(src)
    cfg = LoadCatalogConfig(input=str(src), output=str(tmp_path / "labels"), format="parquet", task="bpt",
                            label_from="bpt")
    s = job.run(spark, cfg)
    assert (s["read"], s["written"], s["rejected"]) == (4, 3, 1)
    lab = read_table(s["output"]).to_pandas()
    # row 0: y = 0.6 < Ka03(-1) = 0.719 -> star-forming; row 1: y = 0.85 > Ke01(-1) = 0.61/(-1.47)+1.19 = 0.775
    # -> AGN, and log([SII]/Ha) = -1 gives Kewley 2006 1.89*(-1)+0.76 = -1.13 < 0.85 -> Seyfert;
    # row 2: x = 0.3 is right of the Ke01 asymptote (0.47 > 0.3, so Ke01(0.3) = -2.40 < 1.2) -> AGN, Seyfert
    assert lab["label"].tolist() == ["star_forming", "seyfert", "seyfert"]
    assert "BPT" in read_rejects(s["output"]).column("reason")[0].as_py()


def test_skyserver_csv_by_spec_id_template(shared_data, tmp_path, spark):
    cfg = load_config(
        LoadCatalogConfig,
        None,
        [f"input={shared_data / 'catalogs' / 'sdss_dr14_skyserver_rows0001-7000.csv'}",
         f"output={tmp_path / 'sky'}", "task=class", "label_column=class", "z_column=redshift",
         "spec_id_template=sdss-{plate:04d}-{mjd}-{fiberid:04d}"],
    )
    s = job.run(spark, cfg)
    assert (s["read"], s["written"], s["rejected"]) == (7000, 7000, 0)
    assert s["labels"] == {"GALAXY": 3520, "STAR": 2896, "QSO": 584}  # counts from MANIFEST.md
    lab = read_table(s["output"]).to_pandas()
    row = lab[lab["spec_id"] == "sdss-3306-54922-0491"]
    assert row["label"].item() == "STAR" and row["ra_deg"].item() == pytest.approx(183.5313256941)


def test_lenscat_by_position_with_grades(shared_data, tmp_path, spark):
    path = shared_data / "catalogs" / "lenscat_part_a.csv"
    cat = pd.read_csv(path, na_values=["-"])
    picks = cat.iloc[[0, 5, 10]]
    # three spectra 1.2'' north of a lens, one 5'' away (outside 2''), one far away
    ra = np.r_[picks["RA [deg]"].to_numpy(), picks["RA [deg]"].iloc[0], 10.0]
    dec = np.r_[picks["DEC [deg]"].to_numpy() + 1.2 / 3600, picks["DEC [deg]"].iloc[0] + 5.0 / 3600, -60.0]
    spectra = tmp_path / "spectra"
    spectra.mkdir()
    pq.write_table(pa.table({"spec_id": [f"sp{i}" for i in range(5)], "ra_deg": ra, "dec_deg": dec}),
                   spectra / "part-0.parquet")
    cfg = LoadCatalogConfig(input=str(path), output=str(tmp_path / "lens"), task="lens", key="position",
                            ra_column="RA [deg]", dec_column="DEC [deg]", z_column="zlens", label_column="grading",
                            label_map=("confident:likely", "probable:probable", "possible:possible"),
                            unmapped="reject", match_table=str(spectra))
    s = job.run(spark, cfg)
    assert s["read"] == len(cat) and s["written"] == 3 and s["read"] == s["written"] + s["rejected"]
    lab = read_table(s["output"]).to_pandas().sort_values("spec_id")
    assert lab["spec_id"].tolist() == ["sp0", "sp1", "sp2"]
    expect = {"confident": "likely", "probable": "probable"}
    assert lab["label"].tolist() == [expect[g] for g in picks["grading"]]
    c1 = SkyCoord(ra[:3] * u.deg, dec[:3] * u.deg)
    c2 = SkyCoord(picks["RA [deg]"].to_numpy() * u.deg, picks["DEC [deg]"].to_numpy() * u.deg)
    assert np.allclose(lab["match_sep_arcsec"].to_numpy(), c1.separation(c2).arcsec, atol=1e-6)


def test_position_key_needs_match_table():
    with pytest.raises(ConfigError, match="match_table"):
        LoadCatalogConfig(input="x", output="y", key="position")

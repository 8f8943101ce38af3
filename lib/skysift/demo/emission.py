"""Demo pipeline ``emission``: emission-line galaxies and Galactic H II regions in unclassified spectra
(Lu et al. 2022, issue 13). No prerequisite.

synth-survey: a small LAMOST-like "Unknown" pool (conf/synth_survey_lu2022.yaml) with its templates, H II
region catalog and three reference catalogs
  -> find-emission-lines on the pool: lines, CL redshift, PQ template search (a subset of Table 1 that the
     small template set can train), confirmation, H II / BPT classification, "new" by anti-join; galaxy and
     H II catalogs as Parquet + HATS; report.html (flow chart, BPT diagram, redshift comparisons)
  -> per-stage completeness / purity against the pool's truth (stages.find_emission_lines.quality)
  -> ingest-spectra of the real SDSS + LAMOST sample on the paper's grid (conf/ingest_spectra_lu2022.yaml)
     -> find-emission-lines on it against the pool's templates (z_cl vs the files' Z)
  -> evaluate-pq: the paper's PQ validity experiment at a small size
"""
from __future__ import annotations

import json

import pandas as pd

from skysift.demo.context import DemoRun
from skysift.paths import REPO_ROOT

SECTION = "Emission lines"


def run(demo: DemoRun) -> None:
    from skysift.report.html import HtmlReport
    from skysift.stages.find_emission_lines.quality import stage_quality
    from skysift.stages.synth_survey.job import read_truth
    from skysift.synth.emission_pool import reference_catalog_settings

    cfg, out, real, stage = demo.cfg, demo.out, demo.real, demo.stage
    pool, found = out / "emission_pool", out / "emission_found"
    stage("synthetic Unknown pool + templates, H II regions, reference catalogs", "synth-survey", [
        "--config", REPO_ROOT / "conf" / "synth_survey_lu2022.yaml", "--output", pool,
        "--set", f"n_spectra={cfg.emission_spectra}", "--set", f"model.pool.n_templates={cfg.emission_templates}",
        "--set", f"seed={cfg.seed}", "--set", f"rows_per_partition={max(100, cfg.emission_spectra // 2)}",
        # lower catalog coverage than the paper's ~2 % new, so that a few hundred spectra show "new" galaxies
        "--set", "model.pool.coverage=[0.6,0.5,0.4]"],
        note="mostly low-S/N stars and junk; ~1/4 with >= 3 emission lines: galaxies z 0.0017-0.35 (BPT mix) and "
             "Galactic H II spectra in / outside the synthetic region catalog")
    runs = json.dumps(list(cfg.emission_pq_runs))
    common = ["--templates", pool / "templates", "--set", f"pq.configurations={runs}",
              "--set", f"hii_regions.path={pool / 'hii_regions'}", "--set", "catalog_formats=[parquet,hats]"]
    summary = stage("find emission lines in the pool", "find-emission-lines", [
        "--input", pool / "spectra", "--output", found, *common,
        "--set", f"reference_catalogs={json.dumps(reference_catalog_settings(str(pool)))}"],
        note="Table 1 runs " + ", ".join(cfg.emission_pq_runs) + f" ({cfg.emission_templates} templates)")
    report = out / "emission_report"
    report.mkdir(parents=True, exist_ok=True)
    quality = stage_quality(str(found), read_truth(pool))
    page = HtmlReport("emission lines on the synthetic pool: quality against the truth")
    page.paragraph("Completeness: detectable emitters (>= 3 CL lines at S/N >= 5) still present after the stage; "
                   "purity: rows of the stage that are true emitters with z_cl within 0.001.")
    page.table([{"stage": k, **{m: v for m, v in quality[k].items()}}
                for k in ("with_line_redshift", "pq_candidates", "confirmed", "galaxies")])
    page.table([{"figure": k, "value": quality[k]} for k in
                ("z_within_0.001", "bpt_accuracy", "hii_recall", "hii_purity", "new_precision", "new_recall")
                if k in quality])
    demo.figure(SECTION, "spectra per stage (the paper's flow chart), synthetic pool", found / "report" / "flow.png")
    demo.figure(SECTION, "BPT diagram of the galaxies found in the synthetic pool", found / "report" / "bpt.png")
    demo.outputs.update({"emission lines: report (synthetic pool)": found / "report" / "report.html",
                         "emission lines: galaxy catalog (Table 3, HATS)": found / "catalogs" / "galaxies" / "hats",
                         "emission lines: H II table (Table 2, HATS)": found / "catalogs" / "hii" / "hats"})

    if real is not None and (real / "sdss-spectra").is_dir():
        spectra, found_real = out / "emission_real_spectra", out / "emission_found_real"
        inputs = [real / "sdss-spectra"] + ([real / "lamost-spectra"] if (real / "lamost-spectra").is_dir() else [])
        stage("ingest the real SDSS + LAMOST sample on the paper's grid", "ingest-spectra", [
            "--config", REPO_ROOT / "conf" / "ingest_spectra_lu2022.yaml", "--input", ",".join(map(str, inputs)),
            "--output", spectra])
        stage("find emission lines in the real sample (synthetic templates)", "find-emission-lines", [
            "--input", spectra, "--output", found_real, *common],
            note="z_cl against the SDSS files' Z; the LAMOST stars should give no galaxy")
        from skysift.runtime.output import read_table

        red = read_table(found_real / "redshifts", columns=["spec_id", "z_cl", "n_cl_lines"]).to_pandas()
        z = read_table(spectra, columns=["spec_id", "z"]).to_pandas()
        red = red.merge(z, on="spec_id")
        sdss = red[red["spec_id"].str.startswith("sdss") & red["z_cl"].notna()]
        page.heading("Real sample")
        page.paragraph(f"{len(red)} real spectra searched; {len(sdss)} SDSS spectra with a CL redshift, "
                       f"{int(((sdss['z_cl'] - sdss['z']).abs() < 0.001).sum())} of them within 0.001 of the file's Z; "
                       f"LAMOST spectra with a CL redshift: {int(red[red['spec_id'].str.startswith('lamost')]['z_cl'].notna().sum())}.")
        page.table(sdss.assign(dz=sdss["z_cl"] - sdss["z"]).round(5).to_dict("records"))
        demo.outputs["emission lines: report (real sample)"] = found_real / "report" / "report.html"

    validity = out / "emission_pq_validity"
    stage("PQ validity (paper section 3.1.4, small)", "evaluate-pq", [
        "--output", validity, "--set", f"n_galaxies={cfg.emission_validity_galaxies}",
        "--set", f"n_stars={cfg.emission_validity_stars}"],
        note="share of galaxy queries whose top-1 is a galaxy, K = 2 / 3 / 4 (paper: 58 / 87 / 96 %)")
    from skysift.runtime.output import read_table

    page.heading("PQ validity (Lu et al. 2022 section 3.1.4)")
    page.table(pd.DataFrame(read_table(validity).to_pandas()).to_dict("records"))
    demo.outputs["emission lines: quality, real sample, PQ validity"] = page.write(report / "quality.html")
    demo.products.update({"emission_pool": pool, "emission_found": found})

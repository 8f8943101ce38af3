"""Demo pipeline ``spectral``: the spectral target search of Tang et al. 2025.

synthetic survey (FITS) + the real SDSS/LAMOST sample
  -> ingest-spectra onto a rest-frame grid (conf/ingest_spectra_rest.yaml) -> spectra table
  -> load-catalog (synthetic truth by spec_id; SDSS pipeline subclasses and SkyServer classes by position)
  -> pretrain (tiny encoder, MLflow registry alias champion) -> embed-spectra (max over patch tokens)
  -> build-kb -> search-kb -> evaluate-kb (HTML report)
  -> dedupe the spectra into a HATS catalog (readable by lsdb)
"""
from __future__ import annotations

import json

from skysift.demo.context import DemoRun
from skysift.paths import REPO_ROOT

# Synthetic truth -> the three labelled tasks of Tang et al. 2025 (plus the 3-class comparison).
TASK_LABEL_MAPS = {
    "agn3": ["star_forming:star_forming", "composite:-", "seyfert:agn", "liner:agn", "passive:normal",
             "qso:-", "star:-", "lens:-", "outlier:-"],
    "lens": ["lens:lens", "star_forming:non_lens", "composite:non_lens", "seyfert:non_lens", "liner:non_lens",
             "passive:non_lens", "qso:non_lens", "star:non_lens", "outlier:non_lens"],
    "outlier": ["outlier:outlier", "star_forming:normal", "composite:normal", "seyfert:normal", "liner:normal",
                "passive:normal", "qso:normal", "star:normal", "lens:normal"],
}

# SDSS pipeline subclasses (BPT-based, Bolton et al. 2012) -> agn3; broad-line and unclassified spectra excluded.
REAL_AGN3_MAP = ["STARFORMING:star_forming", "STARBURST:star_forming", "AGN:agn"]


def run(demo: DemoRun) -> None:
    cfg, out, real, stage = demo.cfg, demo.out, demo.real, demo.stage
    survey, spectra = out / "survey", out / "spectra"
    stage("synthetic survey", "synth-survey", ["--output", survey, "--set", f"n_spectra={cfg.n_spectra}",
                                               "--set", f"seed={cfg.seed}", "--set", "format=fits",
                                               # several tasks so that both cores generate
                                               "--set", f"rows_per_partition={max(100, cfg.n_spectra // 8)}"])
    inputs = [survey / "spectra"]
    if real is not None:
        inputs += [real / "sdss-spectra", real / "lamost-spectra"]
    grid_id = f"lin:3600:7000:{cfg.grid_points}:rest"
    stage("ingest (rest frame)", "ingest-spectra", [
        "--config", REPO_ROOT / "conf" / "ingest_spectra_rest.yaml", "--input", ",".join(map(str, inputs)),
        "--output", spectra, "--set", f"processing.grid.n_points={cfg.grid_points}"],
        note="spectra shifted to the rest frame with their z: a K-nearest-neighbour vote then finds neighbours "
             "by their lines, not by their redshift; quasars beyond z ~ 1 leave the grid and are rejected")

    label_dirs = []
    for task, mapping in TASK_LABEL_MAPS.items():
        target = out / "labels" / task
        stage(f"labels: {task}", "load-catalog", [
            "--input", survey / "truth", "--output", target, "--set", "format=parquet",
            "--set", f"task={task}", "--set", "spec_id_column=file_spec_id", "--set", "label_column=target_class",
            "--set", f"label_map={json.dumps(mapping)}", "--set", "unmapped=reject",
            "--set", "catalog_name=synthetic-truth"])
        label_dirs.append(target)
    bpt_dir = out / "labels" / "bpt"
    stage("labels: bpt (from true line fluxes)", "load-catalog", [
        "--input", survey / "truth", "--output", bpt_dir, "--set", "format=parquet", "--set", "task=bpt",
        "--set", "spec_id_column=file_spec_id", "--set", "label_from=bpt", "--set", "catalog_name=synthetic-truth"])
    label_dirs.append(bpt_dir)
    kb_labels = [out / "labels" / "agn3"]
    if real is not None:
        # the real SDSS spectra join the KB under the pipeline's subclass (SPECOBJ SUBCLASS: BPT-based)
        real_agn3 = out / "labels" / "agn3_sdss_subclass"
        stage("labels: agn3 for the real SDSS spectra from their pipeline subclass (cross-match)", "load-catalog", [
            "--input", real / "index.csv", "--output", real_agn3, "--set", "format=csv", "--set", "task=agn3",
            "--set", "key=position", "--set", f"match_table={spectra}", "--set", "ra_column=ra",
            "--set", "dec_column=dec", "--set", "z_column=z", "--set", "label_column=subclass",
            "--set", f"label_map={json.dumps(REAL_AGN3_MAP)}", "--set", "unmapped=reject",
            "--set", "catalog_name=sdss-pipeline-subclass"])
        kb_labels.append(real_agn3)
        stage("labels: SkyServer classes by position (cross-match)", "load-catalog", [
            "--input", real / "catalogs" / "sdss_dr14_skyserver_rows0001-7000.csv", "--output",
            out / "labels" / "skyserver_class", "--set", "format=csv", "--set", "task=class", "--set", "key=position",
            "--set", f"match_table={spectra}", "--set", "ra_column=ra", "--set", "dec_column=dec",
            "--set", "label_column=class", "--set", "catalog_name=sdss-dr14-skyserver"])

    pretrain_dir = out / "pretrain"
    stage("pre-train tiny encoder", "pretrain", [
        "--config", REPO_ROOT / "conf" / "pretrain_tiny.yaml", "--input", spectra, "--output", pretrain_dir,
        "--set", f"total_steps={cfg.pretrain_steps}", "--set", f"model.n_points={cfg.grid_points}",
        "--set", f"model.grid_id={grid_id}"])
    embeddings = out / "embeddings"
    stage("embed with the registered champion", "embed-spectra", [
        "--input", spectra, "--output", embeddings, "--set", "model_uri=models:/skysift-spec-encoder@champion",
        "--set", f"pooling={cfg.pooling}"])
    kb = out / "kb"
    stage("build KB (agn3 task)", "build-kb", ["--embeddings", embeddings, "--labels", ",".join(map(str, kb_labels)),
                                               "--output", kb, "--set", "task=agn3"])
    predictions = out / "predictions"
    stage("search KB: predict every spectrum", "search-kb", ["--kb", kb, "--input", embeddings,
                                                             "--output", predictions])
    evaluation = out / "evaluation"
    stage("evaluate KB vs baselines", "evaluate-kb", [
        "--embeddings", embeddings, "--labels", ",".join(map(str, label_dirs)), "--spectra", spectra,
        "--output", evaluation, "--set", "timing_sizes=[1000,2000,4000]", "--set", "cnn_epochs=5",
        "--set", "rf_trees=100", "--set", "mlflow=true"])
    catalog = out / "catalog_hats"
    stage("de-duplicate repeated observations into a HATS catalog", "dedupe", [
        "--input", spectra, "--output", catalog, "--set", "radius_arcsec=1.0", "--set", "score_column=snr_median",
        "--set", "id_column=spec_id", "--set", "format=hats"])

    demo.outputs.update({
        "spectra table": spectra, "embeddings": embeddings, "knowledge base": kb, "predictions": predictions,
        "evaluation report (spectral target search)": evaluation / "report.html", "HATS catalog": catalog,
        "MLflow runs": REPO_ROOT / "runs" / "mlflow"})
    demo.products.update({"spectra": spectra, "survey": survey})

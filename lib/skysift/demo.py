"""`skysift demo`: the end-to-end spectral target search in local Spark.

synthetic survey (FITS) + the real SDSS/LAMOST sample
  -> ingest-spectra onto a rest-frame grid (conf/ingest_spectra_rest.yaml) -> spectra table
  -> load-catalog (synthetic truth by spec_id; SkyServer classes by sky position)
  -> pretrain (tiny encoder, MLflow registry alias champion) -> embed-spectra (max over patch tokens)
  -> build-kb -> search-kb -> evaluate-kb (HTML report)
  -> dedupe the spectra into a HATS catalog (readable by lsdb)
imaging (issue 14): synth-survey with imaging (2 fields, their spectroscopic objects' spectra)
  -> ingest-frames on the synthetic frames, on the real g/r/i field 2583-2-136 and on the real u frame
  -> make-cutouts for the synthetic photoObj and the real u frame's photoObj
  -> figures: a field in colour with its tile grid, cutouts per class (linked from the index page)

Every stage is the same job a user runs by hand (`skysift <job> ...`); the demo
only chains them in one Spark session and writes an index page of the outputs.
"""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from skysift.config import require
from skysift.paths import REPO_ROOT, shared_data_dir


@dataclass(frozen=True)
class DemoConfig:
    """Configuration of `skysift demo`."""

    output: str = "runs/demo"
    """Folder for every output of the demo (relative paths are under the repository)."""
    n_spectra: int = 1500
    """Synthetic spectra to generate."""
    seed: int = 42
    """Seed of the synthetic survey."""
    pretrain_steps: int = 1000
    """Optimiser steps of the tiny encoder's pre-training (~1 min on 2 CPU cores at 974 points)."""
    include_real: bool = True
    """Also ingest and label the real sample in ../shared/data when it is present."""
    grid_points: int = 974
    """Points of the demo's rest-frame 3600-7000 A grid (conf/ingest_spectra_rest.yaml: 2435 points, the
    1.4 A sampling of Tang et al. 2025). Attention over the full grid's 485 patches would cost an estimated
    ~1 s per tiny-model step on 2 CPU cores (2-3 s measured at 735 patches), so the demo samples at 3.5 A
    (192 patches), which still separates H-alpha from [N II] 6584 (21 A apart), the line ratio that tells
    AGN from star formation."""
    pooling: str = "max"
    """Pooling of the patch tokens into the KB embedding. Max keeps 'is there a line here' features; on the
    demo survey's agn3 task it gave macro-F1 0.95 where the mean gave 0.88 (487-point grid, 1,000 steps;
    BENCHMARKS.md)."""

    imaging: bool = True
    """Also run the imaging stages (issue 14): a small synthetic imaging survey, frames, tiles, cutouts, figures."""
    imaging_fields: int = 2
    """Synthetic fields of the imaging stages (one camcol)."""
    imaging_spec_density_per_deg2: float = 800.0
    """Spectroscopic targets per deg2 of the imaging survey: 8x SDSS's ~100 (200 gave 12 spectra in two
    fields), so that two fields hold a few dozen objects with spectra."""

    def __post_init__(self):
        require(self.imaging_fields >= 1, "imaging_fields must be >= 1")
        require(self.n_spectra >= 200, "n_spectra must be >= 200 (the KB needs labelled spectra of every class)")
        require(self.pretrain_steps >= 1, "pretrain_steps must be >= 1")
        require(self.grid_points >= 100, "grid_points must be >= 100")
        require(self.pooling in ("mean", "max", "model"), f"pooling must be mean, max or model, got {self.pooling!r}")


CONFIG = DemoConfig

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


def run(spark, cfg: DemoConfig) -> dict:
    from skysift.cli import run_job

    out = Path(cfg.output)
    out = out if out.is_absolute() else REPO_ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    real = shared_data_dir() if cfg.include_real else None
    stages: list[dict] = []

    def stage(name: str, job: str, argv: list[str], note: str = "") -> dict:
        print(f"\n=== demo stage {len(stages) + 1}: {name} ({job}) ===", flush=True)
        started = time.perf_counter()
        summary = run_job(job, [str(a) for a in argv], spark=spark)
        stages.append({"stage": name, "job": job, "seconds": round(time.perf_counter() - started, 1),
                       "summary": summary, "note": note})
        return summary

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

    outputs = {
        "spectra table": spectra, "embeddings": embeddings, "knowledge base": kb, "predictions": predictions,
        "evaluation report": evaluation / "report.html", "HATS catalog": catalog, "MLflow runs": REPO_ROOT / "runs"
        / "mlflow"}
    figures: dict[str, Path] = {}
    if cfg.imaging:
        im_outputs, figures = imaging_stages(stage, out, real, cfg)
        outputs.update(im_outputs)
    index = write_index(out, stages, outputs, figures)
    report = evaluation / "report.html"
    print(f"\nskysift demo finished: outputs in {out}\n  report: {report}\n  index:  {index}", flush=True)
    return {"read": None, "written": None, "rejected": None, "output": str(out), "report": str(report),
            "index": str(index), "stages": [{k: s[k] for k in ("stage", "job", "seconds")} for s in stages]}


REAL_GRI_FIELD = "frame-[gri]-002583-2-0136.fits.bz2"
"""The real g/r/i frames of field 2583-2-136 in ../shared/data/sdss-imaging."""
REAL_U_FRAME = "frame-u-003900-6-0269.fits.bz2"
"""The real u frame of 3900-6-269 (one band) and its photoObj catalog."""
REAL_U_PHOTOOBJ = "photoObj-003900-6-0269.fits"


def imaging_stages(stage: Callable[..., dict], out: Path, real: Path | None, cfg: DemoConfig) -> tuple[dict[str, Path], dict[str, Path]]:
    """The imaging stages (issue 14) through ``stage(name, job, argv)``; returns (outputs, figures) for the index."""
    from skysift.report import imaging as fig

    survey, report = out / "imaging_survey", out / "imaging_report"
    stage("synthetic imaging survey linked to its spectra", "synth-survey", [
        "--output", survey, "--set", "n_spectra=0", "--set", f"seed={cfg.seed}", "--set", "imaging.enabled=true",
        "--set", f"imaging.n_fields={cfg.imaging_fields}",
        # full 1489 x 2048 frames (ingest-frames rejects SDSS-named frames of another shape); uncompressed:
        # bz2 is ~60 % of writing a field and most of reading one, and the real frames test bz2 anyway
        "--set", "imaging.compress=false",
        "--set", f"imaging.survey.population.spec_density_per_deg2={cfg.imaging_spec_density_per_deg2}"],
        note="u g r i z frames in the SDSS corrected-frame format, photoObj / SpecPhoto / truth / MPA-JHU tables, "
             "and the spectra of the spectroscopic objects (spec_id synth-<object_id>)")
    ingest_synth, cut_synth = out / "imaging_ingest_synthetic", out / "imaging_cutouts_synthetic"
    stage("ingest synthetic frames (register g r i onto r, 640 px tiles)", "ingest-frames", [
        "--input", survey / "imaging" / "frames", "--output", ingest_synth])
    # gri: the bands ingest-frames stacked into tiles; ugriz re-reads and registers the u and z frames of every
    # field (measured 118 s for 951 rows on the shared 2-core machine, load ~16)
    stage("cutouts of the synthetic photoObj catalog (gri, 64 px)", "make-cutouts", [
        "--catalog", survey / "imaging" / "photoobj", "--input", ingest_synth, "--output", cut_synth,
        "--set", "bands=gri"])
    outputs = {"imaging survey": survey, "synthetic fields + tiles": ingest_synth, "synthetic cutouts": cut_synth}
    report.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Path] = {}
    synth_field = fig.field_stack(ingest_synth)
    figures["synthetic field in colour, tile grid"] = fig.field_rgb_png(
        report / "field_synthetic.png", synth_field, f"synthetic field {synth_field.field_id} (gri, Lupton asinh) and its tiles")
    labels = fig.synthetic_labels(survey / "imaging")
    figures["synthetic cutouts per true class"] = fig.cutout_grid_png(
        report / "cutouts_synthetic_by_class.png", cut_synth, labels, title="synthetic cutouts by true class (gri)")[0]
    if real is not None and (real / "sdss-imaging").is_dir():
        src = real / "sdss-imaging"
        ingest_real, ingest_u, cut_u = out / "imaging_ingest_real", out / "imaging_ingest_real_u", out / "imaging_cutouts_real_u"
        stage("ingest the real g/r/i field 2583-2-136", "ingest-frames", ["--input", src / REAL_GRI_FIELD, "--output", ingest_real])
        stage("ingest the real u frame 3900-6-269 (bands=u)", "ingest-frames", [
            "--input", src / REAL_U_FRAME, "--output", ingest_u, "--set", "bands=u", "--set", "reference_band=u"])
        stage("cutouts of the real u frame's photoObj", "make-cutouts", [
            "--catalog", src / REAL_U_PHOTOOBJ, "--input", ingest_u, "--output", cut_u, "--set", "bands=u"],
            note="photoObj rows whose position is off the frame go to _rejects")
        outputs.update({"real fields + tiles": ingest_real, "real u cutouts": cut_u})
        real_field = fig.field_stack(ingest_real)
        figures["real field 2583-2-136 in colour, tile grid"] = fig.field_rgb_png(
            report / "field_real_2583-2-136.png", real_field, "SDSS field 2583-2-136 (gri registered onto r) and its 4 x 3 tiles")
        figures["real u cutouts per photoObj type"] = fig.cutout_grid_png(
            report / "cutouts_real_u_by_type.png", cut_u, _photoobj_types(src / REAL_U_PHOTOOBJ),
            title="real u cutouts of 3900-6-269 by photoObj TYPE")[0]
    return outputs, figures


def _photoobj_types(path: Path) -> dict[str, str]:
    """OBJID (text) -> 'galaxy (3)' / 'star (6)' / 'other' of an SDSS photoObj file."""
    from astropy.table import Table

    t = Table.read(path)
    names = {3: "galaxy (type 3)", 6: "star (type 6)"}
    return {str(o).strip(): names.get(int(k), "other") for o, k in zip(t["OBJID"], t["OBJC_TYPE"])}


def write_index(out: Path, stages: list[dict], outputs: dict[str, Path], figures: dict[str, Path] | None = None) -> Path:
    """A small HTML page: each stage's summary, links to the outputs and the figures (shown inline)."""
    esc: Callable[[object], str] = lambda v: html.escape(str(v))  # noqa: E731
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{esc(s['stage'])}</td><td><code>skysift {esc(s['job'])}</code></td>"
        f"<td>{s['seconds']}</td><td>{esc(s['summary'].get('read'))}</td><td>{esc(s['summary'].get('written'))}"
        f"</td><td>{esc(s['summary'].get('rejected'))}</td></tr>"
        for i, s in enumerate(stages))
    links = "".join(f"<li>{esc(k)}: <a href='{esc(Path(v).as_uri())}'>{esc(v)}</a></li>" for k, v in outputs.items())
    figs = "".join(f"<h3>{esc(k)}</h3><a href='{esc(Path(v).relative_to(out))}'><img src='{esc(Path(v).relative_to(out))}' "
                   f"style='max-width:100%'></a>" for k, v in (figures or {}).items())
    figs = f"<h2>Imaging</h2>{figs}" if figs else ""
    page = (f"<html><head><meta charset='utf-8'><title>skysift demo</title></head><body><h1>skysift demo</h1>"
            f"<h2>Stages</h2><table border='1' cellpadding='4'><tr><th>#</th><th>stage</th><th>job</th>"
            f"<th>seconds</th><th>read</th><th>written</th><th>rejected</th></tr>{rows}</table>"
            f"<h2>Outputs</h2><ul>{links}</ul>{figs}</body></html>")
    path = out / "index.html"
    path.write_text(page)
    (out / "demo_summary.json").write_text(json.dumps(stages, indent=2, default=str))
    return path

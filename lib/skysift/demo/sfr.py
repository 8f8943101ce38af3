"""Demo pipeline ``sfr``: star-formation rate from five-band images and spectra (issue 16, Rustamov 2025).

Reads the ``imaging`` pipeline's synthetic survey (``imaging_survey``: frames, SpecPhoto, MPA-JHU-like table
and the FITS spectra of its spectroscopic objects) and ingested fields (``ingest_synthetic``):

  ingest-spectra (the survey's FITS spectra -> spectra table; the labels get the files' spec_id from the truth)
  -> make-cutouts of the SpecPhoto objects in u g r i z (imaging's cutouts are g r i only)
  -> build-multimodal (cutouts x spectra x MPA-JHU labels; Parquet + HATS)
  -> train-sfr (conf/train_sfr_tiny.yaml: one resolution, one quality level, two seeds; registered)
  -> predict-sfr (the version train-sfr just registered, on the executors)
  -> evaluate-sfr (the HTML comparison report)

The demo survey holds ~60 spectroscopic objects, so its metrics show the pipeline, not the models' quality:
the quality test trains on ~1,400 objects (tests/models/test_sfr_training.py).
"""
from __future__ import annotations

from skysift.demo.context import DemoRun
from skysift.paths import REPO_ROOT

SECTION = "SFR"


def run(demo: DemoRun) -> None:
    out, stage = demo.out, demo.stage
    survey, fields = demo.products["imaging_survey"], demo.products["ingest_synthetic"]
    spectra, cutouts, mm = out / "sfr_spectra", out / "sfr_cutouts_ugriz", out / "sfr_multimodal"
    trained, pred, report = out / "sfr_train", out / "sfr_predictions", out / "sfr_report"
    stage("ingest the imaging survey's spectra", "ingest-spectra", ["--input", survey / "spectra", "--output", spectra],
          note="the FITS spectra of the spectroscopic objects of the imaging survey (spec_id synth-<specobjid>)")
    stage("cutouts of the spectroscopic objects (ugriz, 64 px)", "make-cutouts", [
        "--catalog", survey / "imaging" / "specphoto", "--input", fields, "--output", cutouts,
        "--set", "bands=ugriz", "--set", "id_column=object_id"],
        note="u and z are read and registered from the frames (ingest-frames stacked g r i)")
    labels = labels_with_file_spec_id(survey, out / "sfr_labels")
    stage("multimodal table: cutouts x spectra x MPA-JHU labels", "build-multimodal", [
        "--cutouts", cutouts, "--spectra", spectra, "--labels", labels, "--output", mm,
        "--set", "spec_id_column=file_spec_id"],
        note="FLAG != 0, no cutout or no spectrum -> _rejects; also written as HATS (hats/)")
    t = stage("train the three fusions and the baselines (tiny profile)", "train-sfr", [
        "--config", REPO_ROOT / "conf" / "train_sfr_tiny.yaml", "--input", mm, "--output", trained],
        note="one resolution x one quality level x two seeds; the best by validation MSE registered")
    reg = t.get("registry") or {}
    version = reg.get("model_version")
    model_uri = f"models:/{reg['registered_model']}/{version}" if version else str(trained / "champion")
    stage("predict every object with the model just registered", "predict-sfr", [
        "--input", mm, "--output", pred, "--set", f"model_uri={model_uri}"],
        note="the version this run registered (skysift-sfr@champion may hold an earlier, better one)")
    stage("SFR comparison report", "evaluate-sfr", [
        "--input", trained, "--output", report, "--set", f"predictions={pred}", "--set", f"multimodal={mm}"])
    demo.outputs.update({"SFR multimodal table (+ HATS)": mm, "SFR training run": trained,
                         "SFR predictions": pred, "SFR report": report / "report.html"})
    demo.products.update({"sfr_multimodal": mm, "sfr_train": trained})
    for png in sorted(report.glob("pred_vs_true_*.png"))[:1] + sorted(report.glob("residual_vs_z_*.png"))[:1]:
        demo.figure(SECTION, png.stem.replace("_", " "), png)


def labels_with_file_spec_id(survey, folder):
    """The survey's MPA-JHU-like table plus ``file_spec_id``: the spec_id ingest-spectra gives each FITS file
    (sdss-PLATE-MJD-FIBER), from the survey truth (the MPA-JHU table names spectra synth-<specobjid>)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from skysift.runtime.output import read_table

    mp = read_table(survey / "imaging" / "mpajhu").to_pandas()
    truth = read_table(survey / "truth", columns=["spec_id", "file_spec_id"]).to_pandas().drop_duplicates("spec_id")
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(mp.merge(truth, on="spec_id", how="left"), preserve_index=False),
                   folder / "part-0.parquet")
    return folder

"""Demo pipeline ``detection``: source detection and classification (issue 15, Zhao et al. 2025 YL8C4Net).

train-detector (YOLOv8n, a CPU-sized run on pasted synthetic tiles) and train-classifier (Conv4Net on labelled
crops), both on synthetic fields of ANOTHER seed than the imaging survey (so the survey's frames are held out),
registered as skysift-detector@champion / skysift-classifier@champion
  -> detect-sources over the imaging pipeline's synthetic tiles, matched to their photoObj (catalog Parquet + HATS)
  -> detect-sources over the real field 2583-2-136 (no catalog exists for it: every source in the catalog)
  -> report: detection P / R / F1 / AP against sep on the same frames, miss rate by r, Conv4Net against a random
     forest on catalog colours for the detected sources, the real field's bright sep sources we found; an
     annotated tile (red galaxy, blue star, green QSO).
Budget: about 3 minutes of the demo on 2 quiet cores; the models are far from converged (BENCHMARKS.md, the
report says how far).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from skysift.demo.context import DemoRun

SECTION = "Detection"

DETECTOR_EPOCHS = 20
"""The CPU profile's 30 epochs cut to 20 for the demo's 3-minute budget (validation mAP50 0.44 at epoch 20 against 0.57
at 30 in the measured run; the quality test trains the full profile)."""

CLASSIFIER_FIELDS = 4
"""Four of the CPU profile's ten fields (its objects labelled to r = 21: ~1,400 crops, about what the demo trained
on before the profile's depth cut), for the budget."""
CLASSIFIER_EPOCHS = 5
"""5 of the profile's 10 epochs, for the budget (Conv4Net is far from converged there: the profile reaches 0.83)."""


def run(demo: DemoRun) -> None:
    from skysift.paths import conf_dir

    cfg, out, stage = demo.cfg, demo.out, demo.stage
    seed = cfg.seed + 1  # training fields from another sky than the imaging survey's frames
    det, cls = out / "detection_detector", out / "detection_classifier"
    stage("train YOLOv8n on pasted synthetic tiles (conf/train_detector_cpu.yaml, 20 epochs)", "train-detector", [
        "--config", conf_dir() / "train_detector_cpu.yaml", "--output", det, "--set", f"source.seed={seed}",
        "--set", f"yolo.epochs={DETECTOR_EPOCHS}", "--set", f"yolo.patience={DETECTOR_EPOCHS}"],
        note=f"magnitude boxes, 2-sigma / 3-px pasting, {DETECTOR_EPOCHS} epochs of 160 px tiles; registered skysift-detector@champion")
    stage(f"train Conv4Net on labelled 48 x 48 crops (conf/train_classifier_cpu.yaml, {CLASSIFIER_EPOCHS} epochs)", "train-classifier", [
        "--config", conf_dir() / "train_classifier_cpu.yaml", "--output", cls, "--set", f"source.seed={seed}",
        "--set", f"source.n_fields={CLASSIFIER_FIELDS}", "--set", f"train.epochs={CLASSIFIER_EPOCHS}"],
        note="balanced classes, flips + rotations, 8:1:1, early stopping; registered skysift-classifier@champion")
    survey = demo.products["imaging_survey"] / "imaging"
    synth_out = out / "detection_sources_synthetic"
    stage("detect-sources on the synthetic tiles, matched to photoObj", "detect-sources", [
        "--input", demo.products["ingest_synthetic"], "--output", synth_out, "--catalog", survey / "photoobj",
        "--set", "detector.conf=0.01"],
        note="catalog/ (matched, Parquet), hats/, _unmatched/; conf 0.01 keeps the whole ranking for AP")
    demo.outputs.update({"detected sources (synthetic, Parquet)": synth_out / "catalog",
                         "detected sources (synthetic, HATS)": synth_out / "hats"})
    demo.products.update({"detect_synthetic": synth_out, "detector": det, "classifier": cls})
    real_out = None
    if "ingest_real_gri" in demo.products:
        real_out = out / "detection_sources_real"
        stage("detect-sources on the real field 2583-2-136 (no catalog)", "detect-sources", [
            "--input", demo.products["ingest_real_gri"], "--output", real_out, "--set", "detector.conf=0.01"])
        demo.outputs["detected sources (real 2583-2-136)"] = real_out / "catalog"
    report_dir = out / "detection_report"
    report_dir.mkdir(parents=True, exist_ok=True)
    html = write_demo_report(report_dir, demo.products["ingest_synthetic"], survey, synth_out, cls,
                             demo.products.get("ingest_real_gri"), real_out)
    demo.outputs["detection report"] = html
    for caption, png in json.loads((report_dir / "figures.json").read_text()).items():
        demo.figure(SECTION, caption, Path(png))


def _all_sources(output: Path) -> pd.DataFrame:
    from skysift.detection.quality import read_sources

    return read_sources(str(output))


def classification_on_sources(sources: pd.DataFrame, survey: Path, seed: int = 0) -> tuple[dict, dict, np.ndarray, dict]:
    """Conv4Net's classes of the matched synthetic sources against their true class, and a random forest on the
    catalog colours of the same sources (trained on a stratified half, both scored on the other half)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    from skysift.detection.quality import classification_metrics, colour_features
    from skysift.runtime.output import read_table

    photo = read_table(str(survey), under="photoobj").to_pandas()
    truth = read_table(str(survey), under="truth").to_pandas()[["object_id", "class"]].drop_duplicates("object_id")
    extra = photo[["objid"] + [c for c in photo.columns if c not in sources.columns]]
    m = (sources[sources["objid"].notna()].astype({"objid": np.int64}).merge(extra, on="objid", how="inner")
         .merge(truth, on="object_id", suffixes=("", "_true")))
    y = m["class_true"].map({"GALAXY": 0, "STAR": 1, "QSO": 2}).to_numpy()
    ok = ~np.isnan(y.astype(float))
    m, y = m[ok].reset_index(drop=True), y[ok].astype(int)
    if len(np.unique(y)) < 2 or len(y) < 10:
        return {}, {}, y, {}
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.5, random_state=seed, stratify=y)
    p_ours = m[["p_galaxy", "p_star", "p_qso"]].to_numpy(np.float64)
    rf = RandomForestClassifier(300, random_state=seed).fit(colour_features(m.iloc[idx_train]), y[idx_train])
    p_rf = np.zeros((len(idx_test), 3))
    p_rf[:, rf.classes_] = rf.predict_proba(colour_features(m.iloc[idx_test]))
    return (classification_metrics(y[idx_test], p_ours[idx_test]), classification_metrics(y[idx_test], p_rf),
            y[idx_test], {"Conv4Net": p_ours[idx_test], "random forest (colours)": p_rf})


def write_demo_report(folder: Path, ingest: Path, survey: Path, synth_out: Path, classifier_dir: Path,
                      real_ingest: Path | None, real_out: Path | None) -> Path:
    """The detection report of the demo (figures listed in folder/figures.json for the index page)."""
    from skysift.detection.quality import detection_quality, sep_share_found
    from skysift.report import detection as R
    from skysift.runtime.output import read_table

    sources = _all_sources(synth_out)
    photo = read_table(str(survey), under="photoobj").to_pandas()
    det = detection_quality(str(ingest), photo, sources)
    curves = det.pop("_curves")
    cls_ours, cls_rf, y, probas = classification_on_sources(sources, survey)
    train_summary = json.loads((classifier_dir / "train_summary.json").read_text())
    classification = {"Conv4Net, test split of train-classifier": {
        "n": train_summary["test"], "accuracy": train_summary["test_accuracy"],
        "macro_precision": train_summary["test_macro_precision"], "macro_recall": train_summary["test_macro_recall"],
        "macro_f1": train_summary["test_macro_f1"], "macro_auc": train_summary["test_macro_auc"],
        "auc": {k: train_summary.get(f"test_auc_{k}") for k in ("galaxy", "star", "qso")},
        "confusion": train_summary["confusion"]}}
    if cls_ours:
        classification.update({"Conv4Net, detected sources": cls_ours, "random forest on catalog colours, same sources": cls_rf})
    figures = {}
    figures["annotated synthetic tile (red galaxy, blue star, green QSO; dashed: labels)"] = annotated_tile(
        folder / "annotated_tile_synthetic.png", ingest, sources, photo)
    figures["detection precision-recall (IoU 0.5), ours vs sep"] = R.detection_pr_png(
        folder / "detection_pr.png", curves, "synthetic held-out frames")
    figures["miss rate by r magnitude"] = R.miss_rate_png(
        folder / "miss_rate.png", {k: v["miss_rate"] for k, v in det.items()}, "labelled photoObj boxes, IoU >= 0.5")
    figures.update(R.confusion_figures(folder, classification))
    if probas:
        figures["ROC and PR per class (detected sources)"] = R.roc_pr_png(folder / "roc_pr.png", y, probas)
    notes = ["Synthetic frames: the imaging pipeline's survey, held out from training (another seed). Models: CPU-sized "
             "runs of the demo (far from the paper's 200 epochs), so the numbers show the pipeline, not the method's ceiling."]
    if real_out is not None and real_ingest is not None:
        real = _all_sources(real_out)
        share = sep_share_found(str(real_ingest), real)
        notes.append(f"Real field 2583-2-136 (no catalog): {len(real)} sources; of sep's {share['sep_bright']} brightest "
                     f"(top 20 % by flux) detections, {share['found_within_2_arcsec']} ({share['share']:.1%}) are within 2 arcsec "
                     "of one of ours.")
        figures["annotated real tile (2583-2-136)"] = annotated_tile(folder / "annotated_tile_real.png", real_ingest, real, None)
    html = R.write_report(folder / "detection_report.html", {k: R.as_table(v) for k, v in det.items()},
                          classification, figures, notes)
    (folder / "figures.json").write_text(json.dumps({k: str(v) for k, v in figures.items()}))
    (folder / "metrics.json").write_text(json.dumps({"detection": det, "classification": classification}, default=str, indent=1))
    return html


def annotated_tile(path: Path, ingest: Path, sources: pd.DataFrame, photo: pd.DataFrame | None) -> Path:
    """The tile holding the most sources, in colour, with its sources' boxes by class (and label boxes if photo)."""
    from skysift.detection.labels import magnitude_boxes
    from skysift.images.rgb import lupton_rgb_stack
    from skysift.images.tables import column_stack
    from skysift.io.frames import wcs_from_header
    from skysift.report.detection import annotated_tile_png
    from skysift.runtime.output import read_table

    tile_id = sources["tile_id"].value_counts().index[0] if len(sources) else None
    tiles = read_table(str(ingest), under="tiles")
    ids = tiles.column("tile_id").to_pylist()
    row = tiles.slice(ids.index(tile_id) if tile_id in ids else 0, 1)
    size, bands = int(row.column("size_px")[0].as_py()), row.column("bands")[0].as_py()
    pix = column_stack(row.column("pixels"), (len(bands), size, size))[0]
    x0, y0 = int(row.column("x0")[0].as_py()), int(row.column("y0")[0].as_py())
    field = row.column("field_id")[0].as_py()
    mine = sources[(sources["field_id"] == field) & (sources["x_px"] >= x0) & (sources["x_px"] < x0 + size)
                   & (sources["y_px"] >= y0) & (sources["y_px"] < y0 + size)]
    boxes = mine[["x_min", "y_min", "x_max", "y_max"]].to_numpy() - np.array([x0, y0, x0, y0])
    labels = None
    if photo is not None:
        b = magnitude_boxes(photo, wcs_from_header(row.column("wcs_header")[0].as_py()), (size, size))
        labels = np.column_stack([b.x_min, b.y_min, b.x_max, b.y_max])
    return annotated_tile_png(path, lupton_rgb_stack(pix, bands), boxes, mine["class"].tolist(),
                              f"{row.column('tile_id')[0].as_py()}: {len(mine)} sources", labels)

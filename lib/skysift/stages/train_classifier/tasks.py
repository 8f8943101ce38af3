"""Steps of `skysift train-classifier`: crops of the synthetic fields, the fit, the test metrics, MLflow (no Spark)."""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from skysift.detection import crops as C
from skysift.detection.classifier_train import TrainedClassifier, predict_proba, train_conv4net
from skysift.detection.training_sets import classification_examples, registered_gri
from skysift.stages.train_classifier.config import TrainClassifierConfig

STATE = "classifier_state.pt"
META = "classifier_meta.json"
SUMMARY = "train_summary.json"


def synthetic_field_crops(cfg: TrainClassifierConfig, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw crops, class index) of synthetic field ``index``: photoObj rows labelled with the truth class, zWarning 0.

    The survey's SpecPhoto-like table holds ~2 spectra per field (SDSS's target density), too few to train on, so
    every catalogued object stands in for a spectroscopic one with its true class (a skysift choice for the
    synthetic stand-in; a real run uses SpecPhoto's class and zWarning), down to ``source.spec_depth_mag_r`` when set.
    """
    from skysift.synth.imaging import catalogs, frames
    from skysift.synth.imaging.config import ImagingSurveyConfig, PopulationConfig

    src = cfg.source
    survey = ImagingSurveyConfig(shape_px=(src.rows, src.cols), n_fields=src.n_fields, field_step_rows=min(1361, src.rows),
                                 population=PopulationConfig(qso_density_per_deg2=src.qso_density_per_deg2,
                                                             star_density_per_deg2=src.star_density_per_deg2,
                                                             galaxy_density_bright_per_deg2=src.galaxy_density_bright_per_deg2))
    fi = frames.render_field(src.seed, survey, index)
    cats = catalogs.field_catalogs(src.seed, survey, fi)
    po = cats["photoobj"].to_pandas()
    truth = cats["truth"].to_pandas().set_index("object_id")
    table = po.assign(**{"class": truth.loc[po["object_id"].to_numpy(), "class"].to_numpy(), "zWarning": 0})
    # registered as ingest-frames registers the tiles; NaN margins (a band not covering) read as 0, as the RGB does
    stack = np.nan_to_num(registered_gri(fi.images[1:4], fi.wcs[1:4]).pixels)
    crop_cfg = cfg.crops if src.spec_depth_mag_r is None else replace(cfg.crops, r_limit_mag=min(cfg.crops.r_limit_mag, src.spec_depth_mag_r))
    raw, y, _ = classification_examples(stack, fi.wcs[2], table, crop_cfg)
    return raw, y


def test_metrics(model, raw: np.ndarray, y: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro P / R / F1, one-vs-rest AUC per class and macro (scikit-learn), and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

    p = predict_proba(model, raw, mean, sd)
    pred = p.argmax(1)
    prec, rec, f1, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    out: dict[str, Any] = {"test_accuracy": float(accuracy_score(y, pred)), "test_macro_precision": float(prec),
                           "test_macro_recall": float(rec), "test_macro_f1": float(f1),
                           "confusion": confusion_matrix(y, pred, labels=[0, 1, 2]).tolist()}
    aucs = []
    for k, name in enumerate(C.CLASSES):
        if 0 < (y == k).sum() < len(y):
            auc = float(roc_auc_score(y == k, p[:, k]))
            out[f"test_auc_{name.lower()}"] = auc
            aucs.append(auc)
    out["test_macro_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    return out


def save_model(folder: Path, trained: TrainedClassifier, cfg: TrainClassifierConfig) -> list[Path]:
    """Write the weights and the meta (network config, z-score statistics, crop config) into ``folder``."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.save(trained.model.state_dict(), folder / STATE)
    meta = {"model": asdict(trained.model.config), "mean": trained.mean.tolist(), "sd": trained.sd.tolist(),
            "crops": asdict(cfg.crops), "classes": list(C.CLASSES), "best_val_loss": trained.best_val_loss}
    (folder / META).write_text(json.dumps(meta, default=list))
    return [folder / STATE, folder / META]


def log_and_register(cfg: TrainClassifierConfig, trained: TrainedClassifier, files: list[Path], metrics: dict[str, Any]) -> dict[str, Any]:
    """Log params, metrics and the model (a torch model + the state / meta files) and register NAME@alias."""
    from skysift.runtime import tracking

    uri = tracking.tracking_uri()
    mlflow = tracking.mlflow_module(uri)
    exp = tracking.experiment_id(mlflow, cfg.mlflow.experiment, uri)
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_params(tracking.flat_params(json.loads(json.dumps(asdict(cfg), default=list))))
        for h in trained.history:
            mlflow.log_metrics({k: v for k, v in h.items() if k != "epoch"}, step=int(h["epoch"]))
        mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        info = mlflow.pytorch.log_model(trained.model.eval(), name="model",
                                        input_example=np.zeros((2, 3, cfg.crops.crop_px, cfg.crops.crop_px), dtype=np.float32),
                                        extra_files=[str(f) for f in files])
        reg = tracking.register_encoder(mlflow, info.model_uri, cfg.mlflow.registered_model, cfg.mlflow.alias,
                                        trained.best_val_loss, {"kind": "conv4net"})
        return {"mlflow_run": tracking.run_url(uri, exp, run.info.run_id), "model_uri": info.model_uri, **reg}


def fit(cfg: TrainClassifierConfig) -> dict[str, Any]:
    """Crops of every field -> balance -> 8:1:1 -> train -> test metrics -> files (+ MLflow); returns the summary."""
    t0 = time.perf_counter()
    parts = [synthetic_field_crops(cfg, k) for k in range(cfg.source.n_fields)]
    raw = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    t1 = time.perf_counter()
    rng = np.random.default_rng(cfg.split_seed)
    keep = C.balance_by_class(y, rng, cfg.per_class)
    raw, y = raw[keep], y[keep]
    split = C.split_indices(y, rng, cfg.crops.split)
    trained = train_conv4net(raw[split["train"]], y[split["train"]], raw[split["val"]], y[split["val"]], cfg.train, cfg.crops)
    t2 = time.perf_counter()
    metrics = test_metrics(trained.model, raw[split["test"]], y[split["test"]], trained.mean, trained.sd)
    out = Path(cfg.output)
    files = save_model(out, trained, cfg)
    summary: dict[str, Any] = {"crops": int(len(y)), "per_class": int(len(y) // 3), "train": int(len(split["train"])),
                               "val": int(len(split["val"])), "test": int(len(split["test"])), "epochs_run": len(trained.history),
                               "best_epoch": trained.best_epoch, "best_val_loss": trained.best_val_loss, **metrics,
                               "seconds_data": t1 - t0, "seconds_train": t2 - t1}
    if cfg.mlflow.enabled:
        summary.update(log_and_register(cfg, trained, files, metrics))
    (out / SUMMARY).write_text(json.dumps(summary, indent=1))
    return summary

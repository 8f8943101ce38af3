"""`skysift train-sfr` driver: every model and baseline at every configured resolution x quality level x seed
(models.sfr_training on the driver), one MLflow run with all metrics, the best by mean validation MSE saved
(models.sfr_bundle) and registered as ``registered_model@alias``.

Summary: read = objects in the multimodal table; written = objects the models were trained / evaluated on
(every one: train + val + test); rejected = 0 (build-multimodal already rejected the unusable rows).
"""
from __future__ import annotations

import dataclasses
import json
import os

import pyarrow as pa

from skysift.config import to_dict
from skysift.models.sfr_bundle import save_bundle
from skysift.models.sfr_training import train_models
from skysift.runtime.filesystem import write_text
from skysift.runtime.output import staged, write_parquet_atomic
from skysift.stages.train_sfr.config import TrainSfrConfig
from skysift.stages.train_sfr.tasks import prediction_rows, read_arrays, summarise

CONFIG = TrainSfrConfig
PREDICTIONS = "predictions.parquet"
"""Every model's val and test predictions per combination and seed (schema SFR_EVAL_PREDICTIONS): evaluate-sfr's input."""


def run(spark, cfg: TrainSfrConfig) -> dict:
    """Train on ``cfg.input``; write report.json + champion/ under ``cfg.output``; register (spark unused)."""
    if cfg.torch_threads:
        import torch

        torch.set_num_threads(cfg.torch_threads)
    combos, best, preds = {}, None, []
    n = 0
    for px in cfg.image_px:
        for q in cfg.quality_levels:
            mcfg = dataclasses.replace(cfg.model, image_px=px, quality_level=q)
            arrays = read_arrays(cfg.input, px, q)
            n = len(arrays.object_id)
            runs = [train_models(arrays, mcfg, seed, tuple(cfg.models)) for seed in cfg.seeds]
            preds += [prediction_rows(r, arrays, px, q, seed) for r, seed in zip(runs, cfg.seeds)]
            summary = summarise([r.reports for r in runs])
            seconds = {m: [h[m]["seconds"] for h in (r.history for r in runs)] for m in runs[0].history}
            combos[f"{px}px_q{q}"] = {"image_px": px, "quality_level": q, "summary": summary,
                                      "history": [r.history for r in runs],
                                      "train_seconds_mean": {m: sum(v) / len(v) for m, v in seconds.items()}}
            for name in summary:
                mean_val = summary[name]["val"]["mse"]["mean"]
                if best is None or mean_val < best[0]:
                    k = min(range(len(runs)), key=lambda i: runs[i].val_loss[name])
                    best = (mean_val, name, px, q, runs[k], mcfg)
    val_mse, name, px, q, best_run, best_cfg = best
    report = {"champion": {"model": name, "image_px": px, "quality_level": q, "val_mse_mean": val_mse},
              "combinations": combos, "config": to_dict(cfg)}
    with staged(cfg.output) as stage:
        if "://" in stage.uri:
            raise ValueError("train-sfr writes its model folder locally; give a local --output")
        folder = save_bundle(os.path.join(stage.uri, "champion"), name, best_run, best_cfg)
        write_parquet_atomic(os.path.join(stage.uri, PREDICTIONS), pa.concat_tables(preds))
        registry = _register(cfg, report, folder) if cfg.register else {}
        report["registry"] = registry
        write_text(os.path.join(stage.uri, "report.json"), json.dumps(report, indent=1, default=float))
    return {"read": n, "written": n, "rejected": 0, "output": stage.output, "champion": report["champion"],
            "registry": registry, "combinations": len(combos)}


def _register(cfg: TrainSfrConfig, report: dict, folder) -> dict:
    from skysift.runtime import tracking

    uri = tracking.tracking_uri()
    mlflow = tracking.mlflow_module(uri)
    exp = tracking.experiment_id(mlflow, cfg.experiment, uri)
    with mlflow.start_run(experiment_id=exp) as active:
        mlflow.log_params(tracking.flat_params(to_dict(cfg)))
        for combo, body in report["combinations"].items():
            for model, splits in body["summary"].items():
                for split, metrics in splits.items():
                    for metric, stats in metrics.items():
                        mlflow.log_metric(f"{combo}.{model}.{split}_{metric}_mean", stats["mean"])
            for model, secs in body["train_seconds_mean"].items():
                mlflow.log_metric(f"{combo}.{model}.train_seconds_mean", secs)
        mlflow.log_artifacts(str(folder), artifact_path="model")
        # The folder is no MLflow "logged model" (no MLmodel file), so it is registered by its artifact location.
        model_uri = mlflow.get_artifact_uri("model")
        champ = report["champion"]
        out = tracking.register_encoder(mlflow, model_uri, cfg.registered_model, cfg.alias, float(champ["val_mse_mean"]),
                                        {"model": champ["model"], "image_px": champ["image_px"],
                                         "quality_level": champ["quality_level"]})
        out["run_id"] = active.info.run_id
        out["model_uri"] = model_uri
    return out

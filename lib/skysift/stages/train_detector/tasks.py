"""Steps of `skysift train-detector`: the YOLO dataset of the synthetic fields, the ultralytics run, MLflow (no Spark)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from skysift.detection import yolo_files
from skysift.detection.training_sets import detection_tiles, registered_gri
from skysift.detection.yolo_train import train_yolo
from skysift.images.tiling import tile_grid
from skysift.stages.train_detector.config import TrainDetectorConfig

SUMMARY = "train_summary.json"


def write_field_tiles(cfg: TrainDetectorConfig, index: int, root: Path) -> dict[str, int]:
    """Render synthetic field ``index`` and write its tiles (PNG) and labels (txt) into the split it belongs to."""
    from PIL import Image

    from skysift.synth.imaging import catalogs, frames
    from skysift.synth.imaging.config import ImagingSurveyConfig

    src = cfg.source
    survey = ImagingSurveyConfig(shape_px=(src.rows, src.cols), n_fields=src.n_fields, field_step_rows=min(1361, src.rows))
    fi = frames.render_field(src.seed, survey, index)
    po = catalogs.field_catalogs(src.seed, survey, fi)["photoobj"].to_pandas()
    # registered as ingest-frames registers the tiles; NaN margins (a band not covering) read as 0, as the RGB does
    stack = np.nan_to_num(registered_gri(fi.images[1:4], fi.wcs[1:4]).pixels)
    split = "val" if index >= src.n_fields - src.val_fields else "train"
    tiles = detection_tiles(stack, fi.wcs[2], po, tile_grid(stack.shape[1:], cfg.tiles), ("g", "r", "i"),
                            cfg.boxes, cfg.pasting, cfg.paste)
    n_boxes = 0
    for t in tiles:
        image, label = yolo_files.dataset_paths(root, split, f"f{index:04d}-t{t.tile_index:02d}")
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(t.rgb).save(image)
        yolo_files.write_label_file(label, t.labels)
        n_boxes += len(t.labels)
    return {"tiles": len(tiles), "boxes": n_boxes, "val": int(split == "val")}


def log_and_register(cfg: TrainDetectorConfig, result: dict[str, Any]) -> dict[str, Any]:
    """Log params, the validation metrics and best.pt; register it as NAME (alias to the better mAP50-95)."""
    from skysift.runtime import tracking

    uri = tracking.tracking_uri()
    mlflow = tracking.mlflow_module(uri)
    exp = tracking.experiment_id(mlflow, cfg.mlflow.experiment, uri)
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_params(tracking.flat_params(json.loads(json.dumps(asdict(cfg), default=list))))
        mlflow.log_metrics({k.replace("(", "_").replace(")", ""): v for k, v in result["metrics"].items()})
        from skysift.detection.yolo_model import WEIGHTS, YoloDetector

        info = mlflow.pyfunc.log_model(name="model", python_model=YoloDetector(), artifacts={WEIGHTS: result["best"]})
        model_uri = info.model_uri
        map5095 = float(result["metrics"].get("metrics/mAP50-95(B)", 0.0))
        reg = tracking.register_encoder(mlflow, model_uri, cfg.mlflow.registered_model, cfg.mlflow.alias, 1.0 - map5095,
                                        {"kind": "yolov8" + cfg.yolo.scale, "map50_95": map5095, "imgsz": cfg.yolo.imgsz})
        return {"mlflow_run": tracking.run_url(uri, exp, run.info.run_id), "model_uri": model_uri, **reg}


def fit(cfg: TrainDetectorConfig) -> dict[str, Any]:
    """Dataset of every field -> data.yaml -> ultralytics training -> summary (+ MLflow)."""
    out = Path(cfg.output).absolute()
    root = out / "dataset"
    t0 = time.perf_counter()
    counts = [write_field_tiles(cfg, k, root) for k in range(cfg.source.n_fields)]
    data_yaml = yolo_files.write_data_yaml(root)
    t1 = time.perf_counter()
    result = train_yolo(cfg.yolo, data_yaml, out / "yolo", cfg.yolo_config_dir or out / "yolo_config")
    t2 = time.perf_counter()
    summary: dict[str, Any] = {"tiles": sum(c["tiles"] for c in counts), "boxes": sum(c["boxes"] for c in counts),
                               "val_tiles": sum(c["tiles"] for c in counts if c["val"]), "best": result["best"],
                               "epochs_run": result["epochs_run"], **result["metrics"],
                               "seconds_data": t1 - t0, "seconds_train": t2 - t1}
    if cfg.mlflow.enabled:
        summary.update(log_and_register(cfg, result))
    (out / SUMMARY).write_text(json.dumps(summary, indent=1))
    return summary

"""The registered detector as an MLflow pyfunc: ultralytics weights as an artifact, predict on RGB tiles.

Imported only when logging or loading the detector (it imports mlflow, and ultralytics inside ``load_context``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

WEIGHTS = "weights"
"""Artifact key of the ultralytics best.pt."""


class YoloDetector(PythonModel):
    """pyfunc: (N, H, W, 3) uint8 RGB tiles -> rows image_index, x_min, y_min, x_max, y_max (tile pixels), score."""

    def load_context(self, context) -> None:
        """Load the ultralytics model from the weights artifact (offline: YOLO_OFFLINE must be set by the caller)."""
        from ultralytics import YOLO

        self.model = YOLO(context.artifacts[WEIGHTS])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        """Batched detection; ``params`` may set conf (0.25), iou (0.7) and imgsz (640)."""
        p = {"conf": 0.25, "iou": 0.7, "imgsz": 640, **(params or {})}
        images = [np.ascontiguousarray(im[:, :, ::-1]) for im in np.asarray(model_input)]  # ultralytics takes BGR arrays
        rows = []
        for k, res in enumerate(self.model.predict(images, conf=p["conf"], iou=p["iou"], imgsz=p["imgsz"], verbose=False)):
            xyxy = res.boxes.xyxy.cpu().numpy() - 0.5  # pixel-edge coordinates -> skysift's (centres at integers)
            for b, s in zip(xyxy, res.boxes.conf.cpu().numpy()):
                rows.append((k, *map(float, b), float(s)))
        return pd.DataFrame(rows, columns=["image_index", "x_min", "y_min", "x_max", "y_max", "score"])

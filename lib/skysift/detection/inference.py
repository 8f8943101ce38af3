"""The trained detector and classifier at inference time: found on the driver, loaded once per worker.

``resolve_detector`` / ``resolve_classifier`` run on the driver and fail early with a clear message; they accept
``models:/NAME@ALIAS`` (the MLflow registry: train-detector registers ``skysift-detector``, train-classifier
``skysift-classifier``), ``models:/NAME/VERSION``, ``runs:/...``, or local files: a train-* output folder, a
YOLO ``best.pt`` / a folder holding ``classifier_state.pt`` + ``classifier_meta.json``. The returned
``ModelRef`` is small (it travels in executor closures); ``ModelRef.local_path`` re-fetches the version the
driver pinned when an executor on another machine does not see the driver's download.

``yolo_boxes`` runs ultralytics on many RGB tiles in ONE call (ultralytics stacks a list of equal-size images
into one batch, one forward pass), returning skysift pixel coordinates (pixel centres at integers, edges at
+-0.5). ultralytics (AGPL-3.0, the ``detect`` extra) is imported only inside ``load_yolo``.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from skysift.runtime.errors import SkysiftError

__all__ = ["ModelRef", "ClassifierBundle", "resolve_detector", "resolve_classifier", "load_yolo", "yolo_boxes",
           "load_classifier", "classify_crops"]

CLASSIFIER_STATE = "classifier_state.pt"
CLASSIFIER_META = "classifier_meta.json"


@dataclass(frozen=True)
class ModelRef:
    """Where a model's files are (driver side), and how an executor finds them again."""

    uri: str
    """What the user gave (models:/..., runs:/..., or a local path)."""
    version: str | None
    """Registry version the driver resolved (None for local paths and runs:/ URIs)."""
    path: str
    """Local file the driver found: the YOLO weights (.pt) or the classifier's meta json."""
    tracking_uri: str | None
    """MLflow tracking URI for registry URIs (None for local paths)."""
    kind: str
    """'detector' or 'classifier'."""

    def local_path(self) -> str:
        """``path`` when it exists on this machine, else the pinned version downloaded again."""
        if Path(self.path).exists():
            return self.path
        from skysift.runtime.tracking import pinned_uri

        resolver = resolve_detector if self.kind == "detector" else resolve_classifier
        return resolver(pinned_uri(self.uri, self.version)).path

    @property
    def cache_key(self) -> tuple:
        """Identity of the loaded model in runtime.cache."""
        return (self.kind, self.uri, self.version, self.path)


def _download(uri: str, what: str) -> tuple[Path, str | None, str]:
    """(local folder, registry version, tracking uri) of an MLflow model URI; ModelNotFoundError naming what exists."""
    from skysift.runtime import tracking

    turi = tracking.tracking_uri()
    kind = "detector" if "detect" in what else "classifier"
    folder, version = tracking.download_registered(uri, turi, what=what, train_with=f"skysift train-{kind}")
    return folder, None if version is None else str(version), turi


def _registry(uri: str) -> bool:
    return uri.startswith(("models:/", "runs:/"))


def resolve_detector(uri: str) -> ModelRef:
    """The YOLO weights of ``uri``: a .pt file, a train-detector output folder, or an MLflow model (pyfunc with
    the weights as artifact)."""
    if _registry(uri):
        folder, version, turi = _download(uri, "detector model_uri")
        found = sorted(folder.rglob("*.pt"))
        if not found:
            raise SkysiftError(f"detector model_uri {uri!r}: no YOLO weights (*.pt) among its files; is it a skysift-detector?")
        return ModelRef(uri, version, str(found[0]), turi, "detector")
    p = Path(uri)
    if p.is_file() and p.suffix == ".pt":
        return ModelRef(uri, None, str(p.absolute()), None, "detector")
    if p.is_dir():
        summary = p / "train_summary.json"
        if summary.exists() and Path(json.loads(summary.read_text()).get("best", "")).is_file():
            return ModelRef(uri, None, str(Path(json.loads(summary.read_text())["best"]).absolute()), None, "detector")
        found = sorted(p.rglob("best.pt"))
        if found:
            return ModelRef(uri, None, str(found[0].absolute()), None, "detector")
    raise SkysiftError(f"detector model_uri {uri!r}: expected models:/NAME@ALIAS, runs:/..., a YOLO .pt file or a "
                       "train-detector output folder")


def resolve_classifier(uri: str) -> ModelRef:
    """The Conv4Net files of ``uri``: a train-classifier output folder, or an MLflow model logged by train-classifier."""
    if _registry(uri):
        folder, version, turi = _download(uri, "classifier model_uri")
        found = sorted(folder.rglob(CLASSIFIER_META))
        if not found or not (found[0].parent / CLASSIFIER_STATE).exists():
            raise SkysiftError(f"classifier model_uri {uri!r}: no {CLASSIFIER_META} + {CLASSIFIER_STATE} among its files; "
                               "is it a skysift-classifier?")
        return ModelRef(uri, version, str(found[0]), turi, "classifier")
    p = Path(uri)
    meta = p if p.is_file() else p / CLASSIFIER_META
    if meta.name == CLASSIFIER_META and meta.exists() and (meta.parent / CLASSIFIER_STATE).exists():
        return ModelRef(uri, None, str(meta.absolute()), None, "classifier")
    raise SkysiftError(f"classifier model_uri {uri!r}: expected models:/NAME@ALIAS, runs:/... or a train-classifier output "
                       f"folder holding {CLASSIFIER_META} and {CLASSIFIER_STATE}")


def load_yolo(weights: str, config_dir: str = "") -> Any:
    """The ultralytics YOLO model of ``weights``, offline (YOLO_OFFLINE, a writable config dir, settings sync off)."""
    from skysift.detection.yolo_train import offline_environment

    offline_environment(config_dir or os.path.join(tempfile.gettempdir(), f"skysift-yolo-config-{os.getuid()}"))
    try:
        from ultralytics import YOLO, settings
    except ImportError:
        raise SkysiftError("detect-sources needs ultralytics (AGPL-3.0): pip install 'skysift[detect]'") from None
    settings.update({"sync": False, "mlflow": False})
    return YOLO(weights)


def yolo_boxes(model: Any, rgb_tiles: Sequence[np.ndarray], conf: float, iou: float, imgsz: int, device: str,
               max_det: int = 3000) -> list[tuple[np.ndarray, np.ndarray]]:
    """(boxes (n, 4) x_min y_min x_max y_max in tile pixels, scores (n,)) per RGB tile, from ONE predict call."""
    if not len(rgb_tiles):
        return []
    images = [np.ascontiguousarray(np.asarray(t)[:, :, ::-1]) for t in rgb_tiles]  # ultralytics takes BGR arrays
    dev = "cpu" if device == "cpu" else device.replace("cuda:", "")
    results = model.predict(images, conf=conf, iou=iou, imgsz=imgsz, device=dev, max_det=max_det, verbose=False,
                            batch=len(images))
    out = []
    for res in results:
        # ultralytics boxes are in pixel-edge coordinates (0 .. W); skysift's pixel centres are at integers
        out.append((res.boxes.xyxy.cpu().numpy().astype(np.float64) - 0.5, res.boxes.conf.cpu().numpy().astype(np.float32)))
    return out


@dataclass
class ClassifierBundle:
    """Conv4Net in eval mode with what its input needs."""

    model: Any
    """Conv4Net on its device."""
    mean: np.ndarray
    """Per-band z-score mean (training statistics)."""
    sd: np.ndarray
    """Per-band z-score sd."""
    crop_px: int
    """Network input side (48)."""
    device: str
    """torch device string."""


def load_classifier(meta_path: str, device: str = "cpu") -> ClassifierBundle:
    """Conv4Net from a classifier_meta.json and the classifier_state.pt beside it."""
    import torch

    from skysift.models.conv4net import Conv4Net, Conv4NetConfig

    meta = json.loads(Path(meta_path).read_text())
    m = dict(meta["model"])
    for key in ("channels", "hidden"):
        m[key] = tuple(m[key])
    model = Conv4Net(Conv4NetConfig(**m))
    model.load_state_dict(torch.load(Path(meta_path).parent / CLASSIFIER_STATE, map_location="cpu", weights_only=True))
    return ClassifierBundle(model.to(device).eval(), np.asarray(meta["mean"], np.float32), np.asarray(meta["sd"], np.float32),
                            int(m["image_px"]), device)


def classify_crops(bundle: ClassifierBundle, raw: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """(n, 3) class probabilities (galaxy, star, qso) of raw crops (n, 3, 48, 48), ``batch_size`` per forward pass."""
    from skysift.detection.classifier_train import predict_proba

    if len(raw) == 0:
        return np.zeros((0, 3), np.float32)
    return predict_proba(bundle.model, raw, bundle.mean, bundle.sd, batch_size=batch_size, device=bundle.device)

"""YOLO training files: one label txt per image (class cx cy w h, normalised to the image) and the data.yaml.

Ultralytics finds an image's labels by replacing ``images`` with ``labels`` in its path and the suffix with
``.txt``, so a dataset is ROOT/images/{train,val}/NAME.png beside ROOT/labels/{train,val}/NAME.txt.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from skysift.detection.labels import Boxes

__all__ = ["yolo_rows", "format_label_text", "parse_label_text", "write_label_file", "write_data_yaml", "dataset_paths"]


def yolo_rows(boxes: Boxes, shape: tuple[int, int], class_id: int = 0) -> np.ndarray:
    """(n, 5) float array: class, centre x, centre y, width, height of the (clipped) boxes, in [0, 1] of the image.

    Box edges are pixel-edge coordinates (-0.5 .. size - 0.5), so x_edge + 0.5 is the distance from the image's left edge.
    """
    ny, nx = shape
    cx = ((boxes.x_min + boxes.x_max) / 2.0 + 0.5) / nx
    cy = ((boxes.y_min + boxes.y_max) / 2.0 + 0.5) / ny
    w = (boxes.x_max - boxes.x_min) / nx
    h = (boxes.y_max - boxes.y_min) / ny
    return np.column_stack([np.full(len(boxes), float(class_id)), cx, cy, w, h])


def format_label_text(rows: np.ndarray) -> str:
    """The txt body: one 'class cx cy w h' line per row, 6 decimals (0.0004 px on a 640 px tile)."""
    return "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in np.asarray(rows).reshape(-1, 5))


def parse_label_text(text: str) -> np.ndarray:
    """Inverse of format_label_text: (n, 5) float array."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    return np.array(lines, dtype=np.float64).reshape(-1, 5)


def write_label_file(path: str | Path, rows: np.ndarray) -> Path:
    """Write the label txt (an empty file for an image without sources: ultralytics reads it as background)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_label_text(rows))
    return path


def dataset_paths(root: str | Path, split: str, name: str, image_suffix: str = ".png") -> tuple[Path, Path]:
    """(image path, label path) of image ``name`` in ``split`` under ``root``."""
    root = Path(root)
    return root / "images" / split / f"{name}{image_suffix}", root / "labels" / split / f"{name}.txt"


def write_data_yaml(root: str | Path, names: Sequence[str] = ("source",), splits: Sequence[str] = ("train", "val")) -> Path:
    """ROOT/data.yaml with an absolute ``path``, one ``images/SPLIT`` entry per split and the class names."""
    import yaml

    root = Path(root).resolve()
    doc = {"path": str(root), **{s: f"images/{s}" for s in splits}, "names": {i: n for i, n in enumerate(names)}}
    out = root / "data.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out

"""YOLO label rows against hand-computed values, text round trip, data.yaml."""
from __future__ import annotations

import numpy as np
import yaml

from skysift.detection.labels import Boxes
from skysift.detection.yolo_files import dataset_paths, format_label_text, parse_label_text, write_data_yaml, write_label_file, yolo_rows


def _boxes(x0, y0, x1, y1):
    a = lambda v: np.asarray(v, dtype=float)
    n = len(x0)
    return Boxes(x_px=(a(x0) + a(x1)) / 2, y_px=(a(y0) + a(y1)) / 2, x_min=a(x0), y_min=a(y0), x_max=a(x1), y_max=a(y1),
                 row=np.arange(n), mag_r=np.zeros(n))


def test_rows_normalised():
    # a box over pixels 0..9 (edges -0.5..9.5) of a 100 x 200 (rows x cols) image
    rows = yolo_rows(_boxes([-0.5, 189.5], [-0.5, 49.5], [9.5, 199.5], [9.5, 99.5]), (100, 200))
    np.testing.assert_allclose(rows[0], [0, 5 / 200, 5 / 100, 10 / 200, 10 / 100])
    np.testing.assert_allclose(rows[1], [0, 195 / 200, 75 / 100, 10 / 200, 50 / 100])


def test_text_round_trip_and_files(tmp_path):
    rows = yolo_rows(_boxes([10.0], [20.0], [30.0], [60.0]), (640, 640))
    text = format_label_text(rows)
    assert text.count("\n") == 1 and text.startswith("0 ")
    np.testing.assert_allclose(parse_label_text(text), rows, atol=1e-6)
    img, lab = dataset_paths(tmp_path, "train", "f-t00")
    assert str(img).replace("images", "labels").replace(".png", ".txt") == str(lab)
    write_label_file(lab, np.zeros((0, 5)))
    assert lab.read_text() == ""
    doc = yaml.safe_load(write_data_yaml(tmp_path).read_text())
    assert doc == {"path": str(tmp_path.resolve()), "train": "images/train", "val": "images/val", "names": {0: "source"}}

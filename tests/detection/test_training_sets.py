"""Training examples of a synthetic field: tiles with YOLO rows, labelled crops."""
from __future__ import annotations

import numpy as np

from skysift.detection.labels import magnitude_boxes
from skysift.detection.training_sets import classification_examples, detection_tiles
from skysift.images.tiling import TileGridConfig, tile_grid


def test_detection_tiles(synth_field):
    stack, w, po = synth_field["stack"], synth_field["wcs_r"], synth_field["photoobj"]
    grid = tile_grid(stack.shape[1:], TileGridConfig(size_px=320, min_overlap_px=32))
    tiles = detection_tiles(stack, w, po, grid, paste=False)
    assert len(tiles) == len(grid.tiles)
    assert all(t.rgb.shape == (320, 320, 3) and t.rgb.dtype == np.uint8 for t in tiles)
    frame_boxes = magnitude_boxes(po, w, stack.shape[1:])
    # every frame box centre lies in some tile, whose label rows then hold it
    total = sum(len(t.labels) for t in tiles)
    assert total >= len(frame_boxes)
    for t in tiles:
        if len(t.labels):
            assert np.all((t.labels[:, 1:3] >= 0) & (t.labels[:, 1:3] <= 1)) and np.all(t.labels[:, 0] == 0)


def test_classification_examples(synth_field):
    po, truth = synth_field["photoobj"], synth_field["truth"]
    t = truth.set_index("object_id").loc[po["object_id"].to_numpy()]
    table = po.assign(**{"class": t["class"].to_numpy(), "zWarning": 0})
    raw, y, rows = classification_examples(synth_field["stack"], synth_field["wcs_r"], table)
    assert raw.shape == (len(y), 3, 48, 48) and len(y) == len(rows) > 10
    np.testing.assert_array_equal(y, [{"GALAXY": 0, "STAR": 1, "QSO": 2}[c] for c in table["class"].to_numpy()[rows]])

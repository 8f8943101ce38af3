"""Inputs of the detect-sources tests: two small synthetic fields as an ingest output, tiny registered models."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def det_data(tmp_path_factory):
    """Two 256 x 400 synthetic fields (overlapping rows) in 160 px tiles, with photoObj and truth."""
    from skysift.testing.detection import synthetic_ingest

    return synthetic_ingest(tmp_path_factory.mktemp("det-data") / "ingest", seed=3, n_fields=2, shape_px=(256, 400),
                            tile_size_px=160, min_overlap_px=32)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A one-epoch YOLOv8n and a one-epoch Conv4Net registered as skysift-detector / skysift-classifier@champion
    in a SQLite MLflow store (~30 s of CPU)."""
    pytest.importorskip("ultralytics")
    from skysift.testing.detection import tiny_models

    return tiny_models(tmp_path_factory.mktemp("det-models"), register=True)

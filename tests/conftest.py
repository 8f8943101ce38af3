"""Shared fixtures: one local[2] SparkSession for the whole run, the real sample, temp dirs."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

from skysift.paths import shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def spark():
    """A local[2] session shared by all Spark tests (starting one costs ~7 s)."""
    from skysift.runtime.spark import session

    spark = session("local", app_name="skysift-tests", extra_conf={"spark.sql.shuffle.partitions": 4})
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (the real SDSS/LAMOST sample); tests using it skip when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real sample ../shared/data not present")
    return path


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip_gpu = pytest.mark.skip(reason="no CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)

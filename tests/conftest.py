"""Shared fixtures: one local[2] SparkSession for the whole run, the real sample, a local S3 server."""
from __future__ import annotations

import os
import socket
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


S3_BUCKET = "skysift-test"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server (server mode) on a free port of 127.0.0.1 with one empty bucket; its endpoint URL.

    Skips the test cleanly when moto[server] or boto3 is not installed."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] not installed (pip install '.[dev]')")
    boto3 = pytest.importorskip("boto3", reason="boto3 not installed (pip install '.[dev]')")
    with socket.socket() as s:  # a free port, so parallel runs do not collide
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=S3_BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket() -> str:
    """The bucket ``s3_server`` creates."""
    return S3_BUCKET


def set_s3_env(mp: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point skysift (and subprocesses) at the S3 server ``endpoint`` through the AWS_* variables."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        mp.setenv(name, value)
    mp.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    mp.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The AWS_* variables pointing skysift at the local server, for one test; the endpoint URL."""
    set_s3_env(monkeypatch, s3_server)
    return s3_server


@pytest.fixture(scope="module")
def s3_env_module(s3_server):
    """``s3_env`` for a whole test module (module-scoped fixtures that run a job on S3).

    Set on the driver only: a SparkSession started earlier (the ``spark`` fixture) keeps Python workers
    that never see these variables, which is what the stage S3 tests rely on."""
    with pytest.MonkeyPatch.context() as mp:
        set_s3_env(mp, s3_server)
        yield s3_server


HEAVY_FILES_S = {
    "tests/reliability/test_kill_rerun.py": 338,
    "tests/detection/test_quality.py": 300,
    "tests/stages/evaluate_kb/test_paper_targets.py": 298,
    "tests/stages/pretrain/test_encoder_quality.py": 248,
    "tests/reliability/test_task_faults.py": 174,
    "tests/stages/evaluate_kb/test_kb_beats_random_forest.py": 137,
    "tests/io/test_fuzz_readers.py": 92,
}
"""Seconds of the slowest test files in one process (the whole suite serially, session 12, 46 min). They run first:
`make test` hands whole files to its workers in collection order (--dist=loadfile --no-loadscope-reorder), so that
none of them is left to run alone at the end. Measured on 2 workers: 33 min 31 s in xdist's own order (most tests
first, these last), 33 min 23 s this way: what bounds the suite is that CPU-bound tests run ~1.45x slower side by
side, not the order."""


def pytest_collection_modifyitems(config, items):
    # a node id starts with its file's path relative to the root; the sort is stable: the rest keep their order
    items.sort(key=lambda item: -HEAVY_FILES_S.get(item.nodeid.split("::", 1)[0], 0))
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

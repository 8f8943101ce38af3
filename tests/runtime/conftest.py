"""A local S3-compatible server (moto's server mode on 127.0.0.1) and a fresh output area per backend."""
from __future__ import annotations

import socket
import uuid

import pytest

BUCKET = "skysift-test"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free port of 127.0.0.1 with one empty bucket; its endpoint URL."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] not installed (pip install '.[dev]')")
    boto3 = pytest.importorskip("boto3", reason="boto3 not installed (pip install '.[dev]')")
    with socket.socket() as s:  # a free port, so parallel runs do not collide
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket() -> str:
    """The bucket ``s3_server`` creates."""
    return BUCKET


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The AWS_* variables pointing skysift (and subprocesses) at the local server, for one test."""
    for name, value in {
        "AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3_server


@pytest.fixture(params=["local", "file", "s3"])
def area(request, tmp_path) -> str:
    """A fresh, empty folder URI to put outputs in: a local tmp dir (as a path or a file:// URI), or a
    unique prefix in the S3 bucket."""
    if request.param == "local":
        return str(tmp_path / "area")
    if request.param == "file":
        return f"file://{tmp_path}/area"
    request.getfixturevalue("s3_env")
    return f"s3://{BUCKET}/{request.node.name.replace('[', '-').rstrip(']')}-{uuid.uuid4().hex[:8]}"

"""A fresh output area per backend: local path, file:// URI, S3 prefix (the S3 server is in tests/conftest.py)."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture(params=["local", "file", "s3"])
def area(request, tmp_path) -> str:
    """A fresh, empty folder URI to put outputs in: a local tmp dir (as a path or a file:// URI), or a
    unique prefix in the S3 bucket."""
    if request.param == "local":
        return str(tmp_path / "area")
    if request.param == "file":
        return f"file://{tmp_path}/area"
    request.getfixturevalue("s3_env")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/{request.node.name.replace('[', '-').rstrip(']')}-{uuid.uuid4().hex[:8]}"

"""runtime/filesystem.py: URIs resolved to pyarrow filesystems; small URI-aware helpers, local and S3."""
from __future__ import annotations

import os

import pyarrow.fs as pafs
import pytest

from skysift.runtime import filesystem as fsx
from skysift.runtime.errors import SkysiftError
from skysift.runtime.filesystem import OutputError


def test_resolve_local_and_file_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs, path = fsx.resolve("out/t")
    assert isinstance(fs, pafs.LocalFileSystem) and path == str(tmp_path / "out" / "t")
    fs, path = fsx.resolve(f"file://{tmp_path}/x/")
    assert isinstance(fs, pafs.LocalFileSystem) and path == f"{tmp_path}/x"


def test_resolve_s3_cached_per_endpoint(s3_env, s3_bucket, monkeypatch):
    fs, path = fsx.resolve(f"s3://{s3_bucket}/a/b/")
    assert isinstance(fs, pafs.S3FileSystem) and path == f"{s3_bucket}/a/b"
    assert fsx.resolve(f"s3a://{s3_bucket}/c")[0] is fs  # one client per endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # the S3-specific variable wins
    assert fsx.resolve(f"s3://{s3_bucket}/a")[0] is not fs


@pytest.mark.parametrize("uri, words", [
    ("gs://bucket/x", "unknown scheme 'gs://'"),
    ("s3:///x", "no bucket"),
    ("file://host/x", "not host 'host'"),
])
def test_resolve_user_errors_are_one_line(uri, words):
    with pytest.raises(OutputError) as err:
        fsx.resolve(uri)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, SkysiftError)


def test_hdfs_is_routed_to_pyarrow():
    # No libhdfs / Hadoop client here: the route must end in one clear line, not a crash.
    with pytest.raises(OutputError, match="cannot open HDFS"):
        fsx.resolve("hdfs://namenode:8020/skysift/out")


def test_join_split_keep_the_scheme():
    assert fsx.join("s3://b/t/", "p=1", "/part.parquet") == "s3://b/t/p=1/part.parquet"
    assert fsx.join("file:///", "x") == "file:///x"
    assert fsx.join("out", "a", "") == "out/a"
    assert fsx.split("s3://b/t/") == ("s3://b/", "t")
    assert fsx.split("/data/t") == ("/data", "t")
    assert fsx.for_spark("s3://b/t") == "s3a://b/t" and fsx.for_spark("/x") == "/x"
    with pytest.raises(OutputError, match="names no folder"):
        fsx.split("s3://b/")


def test_write_read_bytes_round_trip(area):
    uri = fsx.join(area, "deep", "blob.bin")
    data = bytes(range(256)) * 1000
    fsx.write_bytes(uri, data)
    assert fsx.read_bytes(uri) == data
    fsx.write_bytes(uri, b"second")  # replaced whole
    assert fsx.read_bytes(uri) == b"second"
    fsx.write_text(fsx.join(area, "t.json"), "{\"é\": 1}")
    assert fsx.read_text(fsx.join(area, "t.json")) == "{\"é\": 1}"
    # no temporary file left beside the target
    assert sorted(fsx.file_sizes(area, include_hidden=True)) == ["deep/blob.bin", "t.json"]
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        fsx.read_bytes(fsx.join(area, "nope.bin"))


def test_list_files_skips_hidden_keeps_hive(area):
    for rel in ["part-0.parquet", "healpix_part=3/part-1.parquet", "healpix_part=3/.part-2.parquet.tmp-ab",
                "_rejects/part-0.parquet", ".hidden.parquet", "_table.json", "notes.txt"]:
        fsx.write_bytes(fsx.join(area, rel), b"x")
    assert fsx.list_files(area, ".parquet") == [fsx.join(area, "healpix_part=3/part-1.parquet"),
                                                 fsx.join(area, "part-0.parquet")]
    assert len(fsx.list_files(area)) == 3
    assert fsx.list_files(fsx.join(area, "missing")) == []


def test_exists_remove_tree(area):
    fsx.write_bytes(fsx.join(area, "d/a"), b"1")
    fsx.write_bytes(fsx.join(area, "d/sub/b"), b"2")
    fsx.write_bytes(fsx.join(area, "keep"), b"3")
    assert fsx.exists(fsx.join(area, "d")) and fsx.exists(fsx.join(area, "d/sub/b"))
    fsx.remove_tree(fsx.join(area, "d"))
    fsx.remove_tree(fsx.join(area, "d"))  # absent: nothing to do
    assert not fsx.exists(fsx.join(area, "d"))
    assert sorted(fsx.file_sizes(area, include_hidden=True)) == ["keep"]


def test_makedirs_writes_no_marker_objects(area):
    fsx.makedirs(fsx.join(area, "a/b"))
    fsx.write_bytes(fsx.join(area, "a/b/f"), b"1")
    assert fsx.file_sizes(area, include_hidden=True) == {"a/b/f": 1}


def test_missing_bucket_is_a_user_error(s3_env):
    with pytest.raises(OutputError, match="bucket 'no-such-bucket' does not exist"):
        fsx.write_bytes("s3://no-such-bucket/x", b"1")
    with pytest.raises(OutputError, match="does not exist"):
        fsx.makedirs("s3://no-such-bucket/x")


def test_local_write_bytes_is_atomic_rename(tmp_path, monkeypatch):
    # A write whose rename fails leaves the previous file and no temporary file.
    target = tmp_path / "f"
    fsx.write_bytes(str(target), b"old")

    def failing_replace(fs, src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(fsx, "rename_over", failing_replace)
    with pytest.raises(OSError, match="disk gone"):
        fsx.write_bytes(str(target), b"new")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]


# ---- S3 settings shipped to executors -------------------------------------------------------------------

AWS_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")


def _clear_aws(monkeypatch):
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _settings_during_iteration(n):
    for _ in range(n):
        yield fsx.s3_settings()


def test_shipped_settings_override_the_worker_env_while_the_function_runs(monkeypatch):
    _clear_aws(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://driver:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "driver-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "driver-secret")
    shipped = fsx.with_s3_settings(fsx.s3_settings)
    assert shipped.settings == {"endpoint_override": "http://driver:9000", "access_key": "driver-key",
                                "secret_key": "driver-secret"}
    assert "driver-secret" not in repr(shipped)
    # the "worker": another endpoint, another key with a session token, a region of its own
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://worker:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "worker-key")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "worker-token")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    # shipped values win, credentials as one group (no worker token beside the driver's key), the rest stays
    assert shipped() == {"endpoint_override": "http://driver:9000", "access_key": "driver-key",
                         "secret_key": "driver-secret", "region": "eu-west-3"}
    assert fsx.s3_settings()["endpoint_override"] == "http://worker:9000"  # restored after the call
    # a generator (mapInPandas function) keeps the settings while it is consumed, and restores them after
    it = fsx.with_s3_settings(_settings_during_iteration)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:9000")
    seen = list(it(2))
    assert [s["endpoint_override"] for s in seen] == ["http://worker:9000"] * 2
    assert fsx.s3_settings()["endpoint_override"] == "http://elsewhere:9000"
    # a driver without AWS variables ships nothing: the worker keeps its own environment
    _clear_aws(monkeypatch)
    nothing = fsx.with_s3_settings(fsx.s3_settings)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert nothing.settings == {} and nothing() == {"region": "eu-west-3"}


SHIPPED_READER = """
import pickle, sys
from skysift.runtime import filesystem as fsx
task = pickle.loads(sys.stdin.buffer.read())
sys.stdout.write(task().decode())
"""


def test_shipped_settings_reach_a_process_without_the_variables(s3_env, s3_bucket, tmp_path):
    """A fresh Python process, as a local-mode Python worker started before the variables were set: it
    reaches the S3 server only through the pickled settings, its own endpoint points at a closed port."""
    import functools
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    uri = f"s3://{s3_bucket}/shipped/{tmp_path.name}.txt"
    fsx.write_text(uri, "reached the server")
    task = pickle.dumps(fsx.with_s3_settings(functools.partial(fsx.read_bytes, uri)))
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES}
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_EC2_METADATA_DISABLED="true",
               PYTHONPATH=str(Path(__file__).resolve().parents[2] / "lib"))
    done = subprocess.run([sys.executable, "-c", SHIPPED_READER], input=task, env=env, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode() == "reached the server"

"""runtime/output.py: staged output committed as a whole, on a local tmp dir and on a local S3 server."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest

from skysift.runtime import filesystem as fsx
from skysift.runtime.output import (
    MANIFEST,
    SUCCESS,
    OutputError,
    PartitionedParquetWriter,
    count_rows,
    read_table,
    stage,
    staged,
    table_files,
    write_parquet_atomic,
)

LIB = str(Path(__file__).resolve().parents[2] / "lib")


def rows(first: int, n: int) -> pa.Table:
    """n rows with ids first.. and a partition column of three values (synthetic truth)."""
    ids = np.arange(first, first + n, dtype=np.int64)
    return pa.table({"id": ids, "flux": ids * 0.5, "healpix_part": ids % 3})


def write_output(uri: str, first: int, n: int, names=("a", "b")) -> None:
    """A typical job output: plain part files, hive-partitioned files, a rejects side table."""
    table = rows(first, n)
    half = n // 2
    write_parquet_atomic(fsx.join(uri, f"part-{names[0]}.parquet"), table.slice(0, half).drop_columns(["healpix_part"]))
    writer = PartitionedParquetWriter(fsx.join(uri, "by_part"), "healpix_part", f"part-{names[1]}.parquet", table.schema)
    writer.write(table.slice(half))
    assert writer.close() == n - half
    write_parquet_atomic(fsx.join(uri, "_rejects", f"part-{names[0]}.parquet"), pa.table({"reason": ["bad"]}))


def visible(uri: str) -> list[str]:
    return sorted(fsx.file_sizes(uri))


def test_commit_then_read_back(area):
    out = fsx.join(area, "table")
    with staged(out) as staging:
        assert isinstance(staging.uri, str) and pickle.loads(pickle.dumps(staging)).uri == staging.uri
        assert not fsx.exists(out)
        write_parquet_atomic(fsx.join(staging.uri, "part-0.parquet"), rows(0, 50))
        write_parquet_atomic(fsx.join(staging.uri, "part-1.parquet"), rows(50, 30).to_batches(max_chunksize=7))
        fsx.write_text(fsx.join(staging.uri, "_table.json"), "{}")
    got = read_table(out).sort_by("id")
    assert got.column("id").to_pylist() == list(range(80))
    assert np.allclose(got.column("flux").to_numpy(), np.arange(80) * 0.5)
    assert count_rows(out) == 80
    # the manifest lists every file with the store's own sizes; _SUCCESS is there
    manifest = json.loads(fsx.read_bytes(fsx.join(out, MANIFEST)))
    assert {e["path"]: e["size"] for e in manifest["files"]} == {
        rel: size for rel, size in fsx.file_sizes(out, include_hidden=True).items() if rel not in (MANIFEST, SUCCESS)}
    assert fsx.exists(fsx.join(out, SUCCESS))
    # nothing left beside the output: no staging, no lock
    assert sorted(fsx.file_sizes(area, include_hidden=True)) == sorted(
        f"table/{rel}" for rel in fsx.file_sizes(out, include_hidden=True))


def test_second_commit_replaces_the_first_whole(area):
    out = fsx.join(area, "table")
    with staged(out) as s:
        write_output(s.uri, 0, 40, names=("a", "b"))
    first = visible(out)
    with staged(out) as s:
        write_output(s.uri, 1000, 10, names=("b", "c"))
    files = fsx.file_sizes(out, include_hidden=True)
    manifest = {e["path"] for e in json.loads(fsx.read_bytes(fsx.join(out, MANIFEST)))["files"]}
    assert manifest == set(files) - {MANIFEST, SUCCESS}
    assert not any("part-a" in rel for rel in files), "a file of the first output survived"
    assert first != visible(out)
    assert sorted(read_table(out, columns=["id"]).column("id").to_pylist()) == list(range(1000, 1010))
    by_part = read_table(fsx.join(out, "by_part"))
    assert sorted(by_part.column("healpix_part").to_pylist()) == sorted(
        (np.arange(1005, 1010) % 3).tolist())  # hive partition restored
    assert count_rows(out, under="_rejects") == 1


def test_exception_discards_and_keeps_previous(area):
    out = fsx.join(area, "table")
    with staged(out) as s:
        write_output(s.uri, 0, 40)
    before = {rel: fsx.read_bytes(fsx.join(out, rel)) for rel in fsx.file_sizes(out, include_hidden=True)}
    with pytest.raises(KeyboardInterrupt):  # BaseException: Ctrl-C discards too
        with staged(out) as s:
            write_output(s.uri, 500, 10, names=("c", "d"))
            raise KeyboardInterrupt
    after = {rel: fsx.read_bytes(fsx.join(out, rel)) for rel in fsx.file_sizes(out, include_hidden=True)}
    assert after == before
    assert sorted(fsx.file_sizes(area, include_hidden=True)) == sorted(f"table/{rel}" for rel in before)
    with staged(out) as s:  # lock released: the next run goes ahead
        write_output(s.uri, 7, 4)


KILLED_JOB = textwrap.dedent("""
    import os, signal, sys
    import pyarrow as pa
    from skysift.runtime.filesystem import join
    from skysift.runtime.output import stage, write_parquet_atomic
    staging = stage(sys.argv[1])
    write_parquet_atomic(join(staging.uri, "part-a.parquet"), pa.table({"id": [-1, -2], "flux": [0.0, 0.0]}))
    write_parquet_atomic(join(staging.uri, "part-z.parquet"), pa.table({"id": [-3], "flux": [0.0]}))
    os.kill(os.getpid(), signal.SIGKILL)  # killed before commit: no exit handler, no discard
""")


def run_python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([LIB, os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kwargs)


def test_killed_job_leaves_previous_output_identical(area):
    out = fsx.join(area, "table")
    with staged(out) as s:
        write_parquet_atomic(fsx.join(s.uri, "part-a.parquet"), rows(0, 20).drop_columns(["healpix_part"]))
    before = {rel: fsx.read_bytes(fsx.join(out, rel)) for rel in fsx.file_sizes(out, include_hidden=True)}
    job = run_python(KILLED_JOB, out)
    assert job.wait(60) == -9
    assert {rel: fsx.read_bytes(fsx.join(out, rel)) for rel in fsx.file_sizes(out, include_hidden=True)} == before
    assert read_table(out).column("id").to_pylist() == list(range(20))
    assert table_files(out) == [fsx.join(out, "part-a.parquet")]
    # the rerun takes over the dead run's lock; resume keeps its finished files, the default starts afresh
    resumed = stage(out, resume=True)
    assert visible(resumed.uri) == ["part-a.parquet", "part-z.parquet"]
    resumed.discard()
    with staged(out) as s:
        assert visible(s.uri) == []
        write_parquet_atomic(fsx.join(s.uri, "part-b.parquet"), rows(100, 3).drop_columns(["healpix_part"]))
    assert read_table(out).column("id").to_pylist() == [100, 101, 102]


HOLDER = textwrap.dedent("""
    import sys
    from skysift.runtime.output import stage
    staging = stage(sys.argv[1])
    print("staged", flush=True)
    sys.stdin.readline()
    print("committed", staging.commit(), flush=True)
""")


def test_concurrent_run_is_refused(area):
    out = fsx.join(area, "table")
    holder = run_python(HOLDER, out, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "staged"
        with pytest.raises(OutputError, match=rf"another run is writing this output \(pid {holder.pid} on ") as err:
            stage(out)
        assert "\n" not in str(err.value) and ".table.lock" in str(err.value)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().startswith("committed")
    finally:
        holder.stdin.close()
        assert holder.wait(60) == 0
    assert fsx.exists(fsx.join(out, SUCCESS))
    first = stage(out)  # the same process twice: refused as well
    with pytest.raises(OutputError, match="another run"):
        stage(out)
    first.discard()


def test_other_readers_see_exactly_the_committed_rows(area):
    """pyarrow.dataset on the raw location (as Spark's reader would list it): hidden files skipped."""
    out = fsx.join(area, "table")
    for first, n in [(0, 25), (300, 12)]:  # the second commit's rows only
        with staged(out) as s:
            write_parquet_atomic(fsx.join(s.uri, "part-0.parquet"), rows(first, 5))
            writer = PartitionedParquetWriter(s.uri, "healpix_part", "part-1.parquet", rows(0, 1).schema)
            writer.write(rows(first + 5, n - 5))
            writer.close()
            write_parquet_atomic(fsx.join(s.uri, "_rejects", "part-0.parquet"), pa.table({"reason": ["x"]}))
    fs, path = fsx.resolve(out)
    if isinstance(fs, pafs.S3FileSystem):  # a reader that knows nothing of skysift: its own client and URI
        fs = pafs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"], access_key="test",
                               secret_key="test", region="us-east-1")
    got = pads.dataset(path, filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert sorted(got.column("id").to_pylist()) == list(range(300, 312))
    assert count_rows(out) == 12


def test_unfinished_or_changed_output_is_refused(area):
    out = fsx.join(area, "table")
    with staged(out) as s:
        write_parquet_atomic(fsx.join(s.uri, "part-0.parquet"), rows(0, 5))
        write_parquet_atomic(fsx.join(s.uri, "part-1.parquet"), rows(5, 5))
    write_parquet_atomic(fsx.join(out, "part-1.parquet"), rows(5, 500))  # a file changed behind the manifest
    with pytest.raises(OutputError, match=r"missing or changed .* \(first: part-1.parquet\)"):
        read_table(out)
    fsx.remove_tree(fsx.join(out, SUCCESS))  # what a commit killed on S3 leaves: manifest, no _SUCCESS
    with pytest.raises(OutputError, match="unfinished commit"):
        count_rows(out)


def test_hidden_files_and_temporaries(area):
    out = fsx.join(area, "table")
    with staged(out) as s:
        write_parquet_atomic(fsx.join(s.uri, "p=1", "part-0.parquet"), rows(0, 4))
        fsx.write_bytes(fsx.join(s.uri, "p=1", ".part-9.parquet.tmp-0123abcd"), b"half a file")  # killed task
        fsx.write_bytes(fsx.join(s.uri, ".hidden.parquet"), b"not parquet")
        fsx.write_text(fsx.join(s.uri, "_table.json"), "{}")
    assert table_files(out) == [fsx.join(out, "p=1/part-0.parquet")]
    assert read_table(out).column("p").to_pylist() == [1] * 4
    assert not any(".tmp-" in rel for rel in fsx.file_sizes(out, include_hidden=True))


def test_write_parquet_atomic(area):
    uri = fsx.join(area, "t", "part-0.parquet")
    assert write_parquet_atomic(uri, rows(0, 0)) == 0 and not fsx.exists(uri)  # no rows, no file
    assert write_parquet_atomic(uri, rows(0, 10)) == 10
    assert write_parquet_atomic(uri, rows(10, 3)) == 3  # a retried task replaces its file
    assert read_table(fsx.join(area, "t")).column("id").to_pylist() == [10, 11, 12]

    def failing():
        yield rows(0, 1).to_batches()[0]
        raise RuntimeError("task died")

    with pytest.raises(RuntimeError):
        write_parquet_atomic(uri, failing())
    # never a partial file: local keeps the previous file, S3 (no upload cancel in pyarrow) has none
    left = table_files(fsx.join(area, "t"))
    assert left == [] or read_table(fsx.join(area, "t")).column("id").to_pylist() == [10, 11, 12]
    assert sorted(fsx.file_sizes(area, include_hidden=True)) == ([] if not left else ["t/part-0.parquet"])


def test_missing_bucket(s3_env):
    with pytest.raises(OutputError, match="bucket 'no-such-bucket' does not exist"):
        stage("s3://no-such-bucket/out")


def test_user_errors(area):
    fsx.write_bytes(fsx.join(area, "afile"), b"x")
    with pytest.raises(OutputError, match="is a file"):
        stage(fsx.join(area, "afile"))
    with pytest.raises(OutputError, match="no table there"):
        read_table(fsx.join(area, "nothing"))
    assert count_rows(fsx.join(area, "nothing")) == 0
    staging = stage(fsx.join(area, "out"))
    staging.commit()
    with pytest.raises(OutputError, match="already committed"):
        staging.commit()
    assert read_table(fsx.join(area, "out"), schema=pa.schema([("id", pa.int64())])).num_rows == 0


def test_write_parquet_atomic_counts_skips_empty_and_leaves_no_temp(tmp_path):
    import pyarrow.parquet as pq

    from skysift.runtime.output import write_parquet_atomic

    batches = [pa.RecordBatch.from_pydict({"x": [1, 2]}), pa.RecordBatch.from_pydict({"x": pa.array([], pa.int64())}),
               pa.RecordBatch.from_pydict({"x": [3]})]
    path = tmp_path / "part-000001.parquet"
    assert write_parquet_atomic(path, iter(batches)) == 3
    assert pq.read_table(path).column("x").to_pylist() == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # the temporary file was renamed
    # a retry replaces the file whole
    assert write_parquet_atomic(path, [pa.RecordBatch.from_pydict({"x": [9]})]) == 1
    assert pq.read_table(path).column("x").to_pylist() == [9]
    # no rows: no file
    assert write_parquet_atomic(tmp_path / "empty.parquet", [batches[1]]) == 0
    assert not (tmp_path / "empty.parquet").exists()


def test_resume_key_keeps_or_empties_the_staging_folder(area):
    """resume=True keeps a killed run's staging only under the same key; commit drops the resume folder."""
    out = fsx.join(area, "table")
    key = {"config": {"a": 1}, "files": ("x", 3)}
    first = stage(out, resume=True, resume_key=key)
    assert not first.resumed and first.resumable
    write_parquet_atomic(fsx.join(first.uri, "part-a.parquet"), rows(0, 5).drop_columns(["healpix_part"]))
    first.discard()  # a failed resumable run: lock released, complete files kept
    again = stage(out, resume=True, resume_key={"files": ["x", 3], "config": {"a": 1}})  # same key, as JSON
    assert again.resumed and visible(again.uri) == ["part-a.parquet"]
    again.discard()
    other = stage(out, resume=True, resume_key={"config": {"a": 2}, "files": ["x", 3]})
    assert not other.resumed and visible(other.uri) == []
    write_parquet_atomic(fsx.join(other.uri, "part-b.parquet"), rows(0, 5).drop_columns(["healpix_part"]))
    other.discard()
    fresh = stage(out, resume=False, resume_key={"config": {"a": 2}, "files": ["x", 3]})
    assert not fresh.resumed and not fresh.resumable and visible(fresh.uri) == []
    fsx.write_bytes(fsx.join(fresh.markers(), "task-0000000000-0000000001.json"), b"{}")
    write_parquet_atomic(fsx.join(fresh.uri, "part-c.parquet"), rows(0, 5).drop_columns(["healpix_part"]))
    fresh.commit()
    assert sorted(fsx.file_sizes(out, include_hidden=True)) == sorted([MANIFEST, SUCCESS, "part-c.parquet"])
    assert not fsx.exists(fresh.uri)

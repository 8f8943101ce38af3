"""runtime.row_groups (the deterministic work items of a table) and runtime.resume (input fingerprints,
per-item completion markers)."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.runtime.filesystem import OutputError
from skysift.runtime.output import read_table, write_parquet_atomic
from skysift.runtime.resume import completed_items, files_fingerprint, finish_item, resume_key
from skysift.runtime.row_groups import RowGroup, read_row_groups, row_group_tasks, row_groups, table_file_uris
from skysift.runtime.tasks import run_tasks


def _table(root, sizes=(10, 7, 3), group=4):
    """Files with ``sizes`` rows each (row groups of ``group``), ids 0..N-1 in file order, and a side table."""
    start = 0
    for k, n in enumerate(sizes):
        folder = root / f"healpix_part={k}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"id": np.arange(start, start + n), "x": np.arange(n) * 0.5}),
                       folder / "part-0.parquet", row_group_size=group)
        start += n
    (root / "_rejects").mkdir()
    pq.write_table(pa.table({"id": [99]}), root / "_rejects" / "part-0.parquet")
    return root


def test_work_items_are_every_row_group_in_file_order(tmp_path):
    files = table_file_uris(str(_table(tmp_path / "t")))
    assert [f.split("/")[-2] for f in files] == ["healpix_part=0", "healpix_part=1", "healpix_part=2"]
    items = row_groups(files)
    # 10 rows in groups of 4 -> 4, 4, 2; 7 -> 4, 3; 3 -> 3 (pyarrow's own footers say so)
    assert [(f.split("/")[-2], g, n) for f, g, n, _ in items] == [
        ("healpix_part=0", 0, 4), ("healpix_part=0", 1, 4), ("healpix_part=0", 2, 2),
        ("healpix_part=1", 0, 4), ("healpix_part=1", 1, 3), ("healpix_part=2", 0, 3)]
    assert sum(i.rows for i in items) == 20
    assert [i.first_row for i in items] == [0, 4, 8, 0, 4, 0]  # row of the group's first row in its file
    batches = [b for _, b in read_row_groups(items[2:5], ["id"])]
    assert [b.num_rows for b in batches] == [2, 4, 3]
    assert pa.Table.from_batches(batches).column("id").to_pylist() == [8, 9, *range(10, 17)]
    single = str(tmp_path / "t" / "healpix_part=1" / "part-0.parquet")
    assert table_file_uris(single) == [single]
    (tmp_path / "empty").mkdir()
    with pytest.raises(OutputError, match="no Parquet files"):
        table_file_uris(str(tmp_path / "empty"))


def test_slices_of_work_items_read_back_the_whole_table_once(tmp_path):
    root = _table(tmp_path / "t", sizes=(13, 1, 9), group=3)
    items = row_groups(table_file_uris(str(root)))
    seen: list[int] = []
    run_tasks(lambda first, part: seen.extend(
        i for _, b in read_row_groups(part, ["id"]) for i in b.column("id").to_pylist()) or {}, items, 4)
    assert sorted(seen) == list(range(23)) and len(seen) == 23
    assert sorted(seen) == sorted(read_table(str(root)).column("id").to_pylist())


def test_row_group_tasks_aims_at_rows_per_task_with_two_tasks_per_core():
    items = [RowGroup("f", k, 100, 100 * k) for k in range(40)]  # 4,000 rows
    assert row_group_tasks(items, 1000, 1) == 4  # 10 items of 100 rows per task
    assert row_group_tasks(items, 1000, 8) == 16  # at least two per core
    assert row_group_tasks(items, 50, 1) == 40  # an item is never split
    assert row_group_tasks([], 1000, 4) == 1


def test_fingerprint_changes_with_a_file_and_key_drops_resume(tmp_path):
    root = _table(tmp_path / "t")
    files = table_file_uris(str(root))
    first = files_fingerprint(files)
    assert first == files_fingerprint(files) and first["n_files"] == 3
    assert files_fingerprint(files[:2]) != first
    path = files[1]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # rewritten in place: another time
    assert files_fingerprint(files) != first

    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        a: int = 1
        resume: bool = True

    assert resume_key(Cfg(), n=3) == resume_key(Cfg(resume=False), n=3) == {"config": {"a": 1}, "n": 3}


def test_item_markers_round_trip_and_refuse_another_cutting(tmp_path):
    markers = str(tmp_path / "_resume" / "shards")
    assert completed_items(markers, 4) == {}
    finish_item(markers, 2, 4, {"rows": np.int64(5), "labels": ["a"]})
    finish_item(markers, 0, 4, {"rows": 3, "labels": []})
    finish_item(None, 1, 4, {"rows": 9})  # no markers folder: nothing written
    assert completed_items(markers, 4) == {0: {"rows": 3, "labels": [], "_resumed": True},
                                           2: {"rows": 5, "labels": ["a"], "_resumed": True}}
    (tmp_path / "_resume" / "shards" / ".item-x.tmp-1234").write_text("{")  # a marker being written
    assert sorted(completed_items(markers, 4)) == [0, 2]
    with pytest.raises(OutputError, match="cutting into 4 items, this run cuts 5"):
        completed_items(markers, 5)
    assert json.loads((tmp_path / "_resume" / "shards" / "item-0000000002-of-0000000004.json").read_text())["rows"] == 5


def test_work_items_on_s3(s3_env, s3_bucket):
    uri = f"s3://{s3_bucket}/resume-items"
    write_parquet_atomic(f"{uri}/a.parquet", pa.table({"id": np.arange(5)}))
    write_parquet_atomic(f"{uri}/b.parquet", pa.table({"id": np.arange(5, 8)}))
    files = table_file_uris(uri)
    items = row_groups(files)
    assert [(f.rsplit("/", 1)[-1], g, n) for f, g, n, _ in items] == [("a.parquet", 0, 5), ("b.parquet", 0, 3)]
    assert pa.Table.from_batches([b for _, b in read_row_groups(items, ["id"])]).column("id").to_pylist() == list(range(8))
    assert files_fingerprint(files) == files_fingerprint(files)

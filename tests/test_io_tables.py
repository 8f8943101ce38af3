"""io.tables: the atomic batch writer shared by executor-side writers."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from skysift.io.tables import write_batches_atomic


def test_write_batches_atomic_counts_skips_empty_and_leaves_no_temp(tmp_path):
    batches = [pa.RecordBatch.from_pydict({"x": [1, 2]}), pa.RecordBatch.from_pydict({"x": pa.array([], pa.int64())}),
               pa.RecordBatch.from_pydict({"x": [3]})]
    path = tmp_path / "part-000001.parquet"
    assert write_batches_atomic(path, iter(batches)) == 3
    assert pq.read_table(path).column("x").to_pylist() == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # the temporary file was renamed
    # a retry replaces the file whole
    assert write_batches_atomic(path, [pa.RecordBatch.from_pydict({"x": [9]})]) == 1
    assert pq.read_table(path).column("x").to_pylist() == [9]
    # no rows: no file
    assert write_batches_atomic(tmp_path / "empty.parquet", [batches[1]]) == 0
    assert not (tmp_path / "empty.parquet").exists()

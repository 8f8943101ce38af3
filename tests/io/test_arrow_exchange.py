"""io.tables: the atomic batch writer shared by executor-side writers."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq



def test_arrow_exchange_round_trip(tmp_path):
    """Rows written by two producers, split by group, come back per group whole and unchanged."""
    import numpy as np
    import pyarrow as pa

    from skysift.io.arrow_exchange import group_index, read_group, split_by_group, write_grouped

    schema = pa.schema([("_g", pa.int64()), ("v", pa.float64())])
    rng = np.random.default_rng(0)

    def batches(n, k):
        for _ in range(k):
            g = rng.integers(0, 5, n)
            yield pa.RecordBatch.from_arrays([pa.array(g), pa.array(rng.normal(size=n))], schema=schema)

    inputs = [list(batches(50, 3)), list(batches(40, 2))]
    index = pa.Table.from_batches([write_grouped(tmp_path / f"p{i}.arrow", b, "_g", schema)
                                   for i, b in enumerate(inputs)])
    assert sum(index.column("rows").to_pylist()) == 50 * 3 + 40 * 2
    groups = group_index(index)
    every = pa.Table.from_batches([b for bs in inputs for b in bs]).to_pandas()
    for g in range(5):
        got = read_group(groups[g], schema).to_pandas()
        want = every[every._g == g]
        assert got._g.eq(g).all() and sorted(got.v) == sorted(want.v)
    # stable within a group, and an empty producer makes no file
    parts = dict(split_by_group(pa.RecordBatch.from_pydict({"_g": [2, 1, 2, 1], "v": [0.0, 1.0, 2.0, 3.0]}), "_g"))
    assert parts[1].column("v").to_pylist() == [1.0, 3.0] and parts[2].column("v").to_pylist() == [0.0, 2.0]
    empty = write_grouped(tmp_path / "none.arrow", iter([]), "_g", schema)
    assert empty.num_rows == 0 and not (tmp_path / "none.arrow").exists()

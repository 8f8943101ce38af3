"""inspect-table: row count from the footers, schema with docs, grid, rejects, through the CLI."""
import json

import pyarrow as pa

from skysift import cli
from skysift.io.tables import write_table_json
from skysift.runtime.output import staged, write_parquet_atomic
from skysift.runtime.rejects import Reject, write_rejects


def _table(out):
    with staged(str(out)) as stage:
        for k in range(3):  # three files of 2, 3 and 4 rows under a hive partition
            n = k + 2
            write_parquet_atomic(f"{stage.uri}/healpix_part={k}/part-{k}.parquet",
                                 pa.table({"spec_id": [f"s{k}-{i}" for i in range(n)], "z": [0.1] * n}))
        write_rejects(stage.uri, [Reject("a.fits", "read", "a.fits: truncated"),
                                  Reject("b.fits", "read", "b.fits: truncated"),
                                  Reject("c.fits", "resample", "c.fits: covers 0.2 of the grid")])
        write_table_json(stage.uri, {"table": "spectra", "grid_id": "lin:3850:9000:3688",
                                     "producer": "skysift ingest-spectra"})


def test_inspect_prints_schema_rows_grid_and_rejects(tmp_path, capsys):
    out = tmp_path / "spectra"
    _table(out)
    assert cli.main(["inspect-table", "--input", str(out)]) == 0
    text = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(text[-1])
    assert summary["rows"] == 2 + 3 + 4 and summary["rejects"] == 3 and summary["files"] == 3
    assert summary["grid_id"] == "lin:3850:9000:3688" and summary["table"] == "spectra"
    page = "\n".join(text[:-1])
    assert "9 rows in 3 file(s), table spectra, produced by skysift ingest-spectra" in page
    assert "pipeline redshift" in page  # the column doc of z
    reasons = [line.split(None, 1) for line in text if line.startswith("        ")]
    assert sorted(reasons) == [["1", "a.fits: truncated"], ["1", "b.fits: truncated"],
                               ["1", "c.fits: covers 0.2 of the grid"]]


def test_inspect_missing_table_is_one_line_error(tmp_path, capsys):
    assert cli.main(["inspect-table", "--input", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"skysift inspect-table: error: input {str(tmp_path / 'nope')!r}: no such table"

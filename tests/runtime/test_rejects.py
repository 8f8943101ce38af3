"""runtime.rejects: records, task files with deterministic names, the Spark form, all read back as one table."""
import pyarrow as pa

from skysift.runtime.rejects import Reject, read_rejects, rejects_table, spark_rejects, write_rejects, write_spark_rejects
from skysift.schema import REJECTS


def test_records_and_dicts_make_one_schema(tmp_path):
    rows = [Reject("a.fits", "read", "a.fits: truncated", row_index=3),
            {"source_file": "b.fits", "row_index": None, "spec_id": "sdss-1", "stage": "resample", "reason": "off grid"}]
    table = rejects_table(rows)
    assert table.schema.equals(REJECTS) and table.num_rows == 2
    assert write_rejects(tmp_path, rows, name="part-0000000003.parquet") == 2
    assert write_rejects(tmp_path, rows, name="part-0000000003.parquet") == 2  # a retried task replaces its file
    assert write_rejects(tmp_path, []) == 0
    got = read_rejects(tmp_path)
    assert got.num_rows == 2 and sorted(got.column("reason").to_pylist()) == ["a.fits: truncated", "off grid"]
    assert sorted(p.name for p in (tmp_path / "_rejects").iterdir()) == ["part-0000000003.parquet"]


def test_nothing_written_reads_as_empty(tmp_path):
    assert read_rejects(tmp_path).num_rows == 0


def test_spark_form_has_the_five_columns(spark, tmp_path):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([("x1", 1.0), ("x2", None), ("x3", float("nan"))], "id string, ra double")
    bad = df.where(F.col("ra").isNull() | F.isnan("ra"))
    frame = spark_rejects(bad, stage="validate", reason=F.lit("ra is not finite"), source_file=F.lit("cat.parquet"),
                          spec_id="id")
    write_spark_rejects(frame, str(tmp_path))
    got = read_rejects(tmp_path).to_pylist()
    assert sorted(r["spec_id"] for r in got) == ["x2", "x3"]
    assert {(r["source_file"], r["stage"], r["reason"], r["row_index"]) for r in got} == {
        ("cat.parquet", "validate", "ra is not finite", None)}
    assert pa.Table.from_pylist(got).column_names == REJECTS.names

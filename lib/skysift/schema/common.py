"""What every table shares: the `_rejects` schema, the column documentation registry, Spark conversion."""
from __future__ import annotations

import pyarrow as pa

# --- _rejects: every input row or file a job could not use (nothing is lost)
REJECTS = pa.schema(
    [
        pa.field("source_file", pa.string()),
        pa.field("row_index", pa.int64()),
        pa.field("spec_id", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


COLUMN_DOCS: dict[str, str] = {}
"""Column name -> unit and origin, filled by each domain module (``describe`` prints them)."""


def spark_schema(schema: pa.Schema):
    """The Spark StructType for an Arrow schema (for mapInPandas / createDataFrame)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def describe(schema: pa.Schema) -> str:
    """Human-readable column list with types and docs."""
    return "\n".join(f"{f.name:18s} {str(f.type):14s} {COLUMN_DOCS.get(f.name, '')}" for f in schema)


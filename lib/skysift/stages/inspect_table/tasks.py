"""What `skysift inspect-table` reads of a table: footers, properties and rejects (pyarrow only, no Spark)."""
from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow.parquet as pq

from skysift.io.tables import read_table_json
from skysift.runtime.filesystem import resolve
from skysift.runtime.output import table_files
from skysift.runtime.rejects import read_rejects
from skysift.schema import COLUMN_DOCS


def describe_table(uri: str, top_reasons: int = 5) -> dict[str, Any]:
    """Schema (name, type, doc), row count from the footers, files, `_table.json` properties, rejects."""
    files = table_files(uri)
    fs = resolve(uri)[0]
    rows, schema = 0, None
    for path in files:
        meta = pq.read_metadata(resolve(path)[1], filesystem=fs)
        rows += meta.num_rows
        schema = schema or meta.schema.to_arrow_schema()
    props = read_table_json(uri)
    rejects = read_rejects(uri)
    reasons = Counter(rejects.column("reason").to_pylist()).most_common(top_reasons) if top_reasons else []
    columns = [{"name": f.name, "type": str(f.type), "doc": COLUMN_DOCS.get(f.name, "")} for f in schema or []]
    return {"rows": rows, "files": len(files), "columns": columns, "grid_id": props.get("grid_id"),
            "producer": props.get("producer") or props.get("job"), "table": props.get("table"),
            "rejected": rejects.num_rows, "top_reject_reasons": [{"reason": r, "rows": n} for r, n in reasons]}


def format_description(uri: str, info: dict[str, Any]) -> str:
    """The human-readable page printed before the summary line."""
    lines = [f"{uri}: {info['rows']} rows in {info['files']} file(s)"
             + (f", table {info['table']}" if info["table"] else "")
             + (f", produced by {info['producer']}" if info["producer"] else "")]
    if info["grid_id"]:
        lines.append(f"grid_id: {info['grid_id']}")
    lines += [f"  {c['name']:<20} {c['type']:<22} {c['doc']}".rstrip() for c in info["columns"]]
    lines.append(f"rejects: {info['rejected']} row(s)")
    lines += [f"  {r['rows']:>8}  {r['reason']}" for r in info["top_reject_reasons"]]
    return "\n".join(lines)

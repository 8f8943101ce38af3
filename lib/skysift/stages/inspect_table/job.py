"""`skysift inspect-table` driver: reads only footers and side files, so it needs no Spark."""
from __future__ import annotations

from typing import Any

from skysift.runtime.errors import SkysiftError
from skysift.runtime.filesystem import exists
from skysift.stages.inspect_table.config import InspectTableConfig
from skysift.stages.inspect_table.tasks import describe_table, format_description

CONFIG = InspectTableConfig
NEEDS_SPARK = False


def run(spark, cfg: InspectTableConfig) -> dict[str, Any]:
    """Print the table's description; the summary gives its rows and rejects (it moves no rows itself)."""
    if not exists(cfg.input):
        raise SkysiftError(f"input {cfg.input!r}: no such table")
    info = describe_table(cfg.input, cfg.rejects_reasons)
    print(format_description(cfg.input, info))
    return {"rows": info["rows"], "rejects": info["rejected"], "columns": len(info["columns"]),
            "grid_id": info["grid_id"], "files": info["files"], "table": info["table"]}

"""Writing job outputs safely: staging directories, rejects tables, table properties.

A job writes everything under ``staging_path(output)`` and calls
``commit_staging`` at the end: the old output (if any) is swapped out and the new
one renamed into place, so a failed run never leaves a half table and a re-run
replaces the previous result as a whole. Side tables live inside the output
folder under names starting with ``_`` (``_rejects``, ``_table.json``), which
Spark and pyarrow readers of the main table skip.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..schema import REJECTS

REJECTS_DIR = "_rejects"
TABLE_JSON = "_table.json"


def staging_path(output: str | os.PathLike) -> Path:
    """A fresh sibling folder of ``output`` to write into before the final rename."""
    out = Path(output).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:12]}"


def commit_staging(staging: str | os.PathLike, output: str | os.PathLike) -> Path:
    """Move ``staging`` to ``output``, replacing an existing output as a whole."""
    staging, out = Path(staging), Path(output).absolute()
    trash = None
    if out.exists():
        trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(out, trash)
    os.replace(staging, out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return out


def discard_staging(staging: str | os.PathLike) -> None:
    """Remove a staging folder after a failure."""
    shutil.rmtree(staging, ignore_errors=True)


def count_rows(path: str | os.PathLike) -> int:
    """Rows in a Parquet table folder (from footers; hidden `_`/`.` entries skipped)."""
    path = Path(path)
    if not path.exists():
        return 0
    files = [p for p in path.rglob("*.parquet") if not _hidden(p, path)]
    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


def _hidden(p: Path, root: Path) -> bool:
    return any(part.startswith(("_", ".")) and "=" not in part for part in p.relative_to(root).parts)


def write_rejects(folder: str | os.PathLike, rows: pa.Table | Iterable[dict[str, Any]]) -> int:
    """Write reject rows (source_file, row_index, spec_id, stage, reason) to ``folder/_rejects``."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema=REJECTS)
    table = table.select(REJECTS.names).cast(REJECTS)
    target = Path(folder) / REJECTS_DIR
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target / f"part-{uuid.uuid4().hex[:8]}.parquet")
    return table.num_rows


def read_rejects(output: str | os.PathLike) -> pa.Table:
    """All reject rows of a job output (empty table when none)."""
    target = Path(output) / REJECTS_DIR
    if not target.exists() or not any(target.rglob("*.parquet")):
        return REJECTS.empty_table()
    return pads.dataset(str(target), format="parquet").to_table()


def write_table_json(folder: str | os.PathLike, properties: dict[str, Any]) -> None:
    """Table properties readers need (grid, partition order, producing job, config)."""
    Path(folder, TABLE_JSON).write_text(json.dumps(properties, indent=2, sort_keys=True, default=str))


def read_table_json(folder: str | os.PathLike) -> dict[str, Any]:
    """Properties written by ``write_table_json`` ({} when absent)."""
    path = Path(folder, TABLE_JSON)
    return json.loads(path.read_text()) if path.exists() else {}


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet table folder written by a skysift job (hive partitions restored)."""
    ds = pads.dataset(str(path), format="parquet", partitioning="hive")
    return ds.to_table(columns=columns)

"""Table properties: the small JSON side file (``_table.json``) that readers of a skysift table need — its
grid, partition order, producing job and config. Reading and writing table data lives in
``runtime.output`` (one filesystem layer for local disks, HDFS and S3)."""
from __future__ import annotations

import json
import os
from typing import Any

from skysift.runtime.filesystem import exists, join, read_text, write_text

TABLE_JSON = "_table.json"


def write_table_json(folder: str | os.PathLike, properties: dict[str, Any]) -> None:
    """Write the table properties into ``folder/_table.json``."""
    write_text(join(os.fspath(folder), TABLE_JSON), json.dumps(properties, indent=2, sort_keys=True, default=str))


def read_table_json(folder: str | os.PathLike) -> dict[str, Any]:
    """Properties written by ``write_table_json`` ({} when absent)."""
    path = join(os.fspath(folder), TABLE_JSON)
    return json.loads(read_text(path)) if exists(path) else {}

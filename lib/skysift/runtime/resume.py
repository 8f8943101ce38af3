"""Resume for the jobs that read a table (issue 18 part 3; RELIABILITY.md): deterministic work items and
per-item completion markers, so that a rerun after a kill redoes only the items that did not finish.

Two kinds of work item, both fixed by the inputs and the config alone, never by Spark's planning:

- *Row groups of an input table* (``runtime.row_groups.row_groups``): ``RowGroup(file URI, row group, rows,
  first row)`` in the order of ``output.table_files`` (sorted names) and of the row groups in each file. A job
  cuts them into tasks with ``row_group_tasks`` and runs them through ``runtime.tasks.run_tasks(...,
  markers=stage.markers())``; each task reads its own row groups with pyarrow (``read_row_groups``) and writes
  ``part-<first item>``. This is
  embed-spectra's shape: the input splits of Spark's reader depend on its file packing and the cluster's
  parallelism, so a Spark partition is no stable unit, while a row group is.
- *Partitions by a stable key* (build-kb's shards: ``repartition(n, key)`` is ``pmod(murmur3(key), n)``):
  the task of partition ``i`` writes its files, then ``finish_item(markers, i, n, stats)``; a rerun reads
  ``completed_items`` on the driver, filters the rows of those partitions out before the shuffle and takes
  their stats rows from the markers.

Either way a marker is written after every file of its item is in place (files appear whole: rename or one
object), so a marker means "complete". The staging folder and its markers survive a kill; ``output.stage(
resume=True, resume_key=...)`` keeps them only when the key (``resume_key``: the config without ``resume``,
the inputs' ``files_fingerprint``, the task or partition count) is unchanged, and the commit is the usual
atomic one. The test-only fault switch of ``runtime.tasks`` (``SKYSIFT_FAIL_TASK_ONCE``) acts in
``finish_item`` too, after the files and before the marker.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Sequence


from skysift.runtime.filesystem import OutputError, file_sizes, join, read_bytes, resolve, write_bytes

_ITEM_MARKER = re.compile(r"item-(\d{10})-of-(\d{10})\.json$")


def files_fingerprint(files: Sequence[str]) -> dict[str, Any]:
    """What a rerun must find unchanged in its inputs: their number and a sha256 of every file's URI, size
    and modification time (a digest: a million paths would make a 100 MB resume key)."""
    digest = hashlib.sha256()
    by_fs: dict[int, tuple[Any, list[str]]] = {}
    for uri in files:
        fs, path = resolve(uri)
        by_fs.setdefault(id(fs), (fs, []))[1].append(path)
    info = {}
    for fs, paths in by_fs.values():
        for entry in fs.get_file_info(paths):
            info[entry.path] = (entry.size, entry.mtime_ns)
    for uri in files:
        size, mtime = info.get(resolve(uri)[1], (None, None))
        digest.update(f"{uri}\0{size}\0{mtime}\n".encode())
    return {"n_files": len(files), "files_sha256": digest.hexdigest()}


def resume_key(cfg, **parts: Any) -> dict[str, Any]:
    """The resume key of a job: its config without the ``resume`` switch, plus ``parts`` (fingerprints,
    task counts, the model version)."""
    from skysift.config import to_dict

    return {"config": {k: v for k, v in to_dict(cfg).items() if k != "resume"}, **parts}


def model_fingerprint(model_uri: str, model_dir: str) -> dict[str, Any] | None:
    """A local model's files (sizes and times), for the resume key of a job that loads a model: a checkpoint
    retrained in place must not resume onto outputs of the old weights. None for registry and run URIs,
    whose version or run id (in the key already) names immutable files, and whose download folder is new
    at every run."""
    from pathlib import Path

    if model_uri.startswith(("models:", "runs:")):
        return None
    root = Path(model_dir)
    files = [str(root)] if root.is_file() else sorted(str(p) for p in root.rglob("*") if p.is_file())
    return files_fingerprint(files)


def resumed_count(stats: Sequence[dict[str, Any]]) -> int:
    """Tasks or items whose stats row came back from a marker (``"_resumed"``): a job summary's
    ``resumed_tasks``."""
    return sum(bool(r.get("_resumed")) for r in stats)


def _item_marker(item: int, n_items: int) -> str:
    return f"item-{item:010d}-of-{n_items:010d}.json"


def completed_items(markers: str, n_items: int) -> dict[int, dict[str, Any]]:
    """Stats rows of the partition items with a marker under ``markers``, by item, each with ``"_resumed":
    True``. OutputError on a marker of another item count (the staging folder of another cutting)."""
    done = {}
    for name in sorted(file_sizes(markers)):
        match = _ITEM_MARKER.fullmatch(name)
        if not match:
            continue  # a temporary of a marker being written
        item, n = int(match.group(1)), int(match.group(2))
        if n != n_items or item >= n_items:
            raise OutputError(f"{markers}: marker {name} of a cutting into {n} items, this run cuts {n_items}; "
                              "rerun with --set resume=false")
        done[item] = {**json.loads(read_bytes(join(markers, name))), "_resumed": True}
    return done


def finish_item(markers: str | None, item: int, n_items: int, row: dict[str, Any]) -> None:
    """Task side, after every file of partition ``item`` is in place: the test-only fault switch
    (``runtime.tasks.inject_fault``), then the item's marker holding ``row`` (JSON; nothing when ``markers``
    is None)."""
    from skysift.runtime.tasks import inject_fault, stats_json

    inject_fault(item)
    if markers:
        write_bytes(join(markers, _item_marker(item, n_items)), json.dumps(row, default=stats_json).encode())


def keep_only(staging: str, kept: Sequence[str]) -> None:
    """Delete everything in a resumed staging folder but the paths ``kept`` (relative, e.g. ``_resume``,
    ``_work/raw``) and the folders above them: what a killed run wrote after its resumable steps, which the
    rerun writes again whole (a half-written HATS folder must not be mixed in)."""
    from skysift.runtime.filesystem import remove_tree

    tops = {rel.split("/", 1)[0] for rel in file_sizes(staging, include_hidden=True)}
    for top in sorted(tops):
        inner = [k.split("/", 1)[1] for k in kept if k.startswith(f"{top}/")]
        if top in kept:
            continue
        if inner:
            keep_only(join(staging, top), inner)
        else:
            remove_tree(join(staging, top))


__all__ = ["completed_items", "files_fingerprint", "finish_item", "keep_only", "model_fingerprint", "resume_key",
           "resumed_count"]

"""Work items run as executor tasks that write their own files and return one stats row each.

``run_tasks(task, items, n_tasks, spark)`` cuts ``items`` (file paths, partition numbers: small values that
the driver lists) into ``n_tasks`` contiguous slices and calls ``task(first_index, slice)`` once per slice:
on Spark one task per slice, or, with ``spark=None``, one after the other in this process — the sequential
twin that tests and benchmark baselines run. Both cut the same slices, so a task's deterministic file names
(``part-<first index>``) are the same either way, and a retried Spark task overwrites its own files.
Only the stats rows come back to the driver. On Spark the task is shipped with the driver's S3 settings
(``filesystem.with_s3_settings``), so tasks can write ``s3://`` URIs whatever the executors' environment.

Resume (``markers=``, a folder inside the staging area: ``Staging.markers(phase)``): when a slice's task
returns, its stats row is written as ``task-<first>-<n items>.json`` there, after every file of the task is
in place. A rerun of the job that kept the staging folder (``output.stage(resume=True, resume_key=...)``)
reads those markers on the driver and runs only the slices without one; their stats rows come back from
the markers with ``"_resumed": True`` added. Markers for slices this run does not cut (another task count)
raise OutputError rather than mixing two cuttings' files. Stats rows of resumable tasks must be JSON.

Fault injection, for tests only (tests/reliability, RELIABILITY.md): ``SKYSIFT_FAIL_TASK_ONCE=raise`` or
``=kill`` makes the first attempt of every Spark task (``=raise:FIRST`` / ``=kill:FIRST``: only the slice
starting at item FIRST) fail after its task has written its files, before its marker: ``raise`` raises,
``kill`` SIGKILLs the Python worker. Spark then retries the task (a master such as ``local[2,2]`` allows
it). A comma-separated list of these rules applies the first that names the task (``=kill:0,raise``: the
worker of task 0 dies, every other task raises). ``=raise:task:FIRST`` (or ``partition:FIRST``) names only a
task of that kind: a job whose DataFrame stages and item tasks share numbers (build-kb's training sample and
shards) can be failed at one shard alone. The sequential twin ignores the variable (nothing would
retry). DataFrame jobs whose partitions are their work items call the same switch through
``runtime.resume.finish_item``.

The other DataFrame jobs call ``inject_partition_fault()`` once at the start of each of their Python
executor functions (mapInPandas / mapInArrow bodies: the cross-match engine's scan, tag, match and
unmatched-right stages, which crossmatch, dedupe and load-catalog's position match run; the HATS writer's
two; search-kb's search; build-multimodal's quality levels; build-kb's sample writer): there the first attempt of the task of Spark
partition k fails (``:FIRST`` names the partition id k), before the function has read a row. For these the
failure comes before Spark's writer has committed the task's output (its task commit follows the last row),
or before the task's own file exists (search-kb, the match's files): what the retry replaces is an aborted
task attempt, never committed rows. With the plain forms every task of every such stage fails once.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
Task = Callable[[int, list], dict[str, Any]]

FAULT_ENV = "SKYSIFT_FAIL_TASK_ONCE"
"""The test-only fault switch (module docstring)."""
_MARKER = re.compile(r"task-(\d{10})-(\d{10})\.json$")


def task_slices(n_items: int, n_tasks: int) -> list[tuple[int, int]]:
    """[start, stop) of each task's items: ``n_tasks`` contiguous slices whose sizes differ by at most one."""
    n_tasks = max(1, min(n_tasks, n_items)) if n_items else 1
    return [((i * n_items) // n_tasks, ((i + 1) * n_items) // n_tasks) for i in range(n_tasks)]


def task_count(n_items: int, items_per_task: int, parallelism: int, per_core: int = 2) -> int:
    """Tasks for ``n_items``: at most ``items_per_task`` each, and at least ``per_core`` per core for balance."""
    return max(-(-n_items // items_per_task), min(n_items, per_core * parallelism), 1)


def run_tasks(task: Task, items: Sequence[T], n_tasks: int, spark=None,
              markers: str | None = None) -> list[dict[str, Any]]:
    """Run ``task(first_index, items[start:stop])`` for every slice; returns the stats rows in slice order.

    ``markers``: resume folder (module docstring); slices with a marker there are not run again.
    """
    slices = [(a, list(items[a:b])) for a, b in task_slices(len(items), n_tasks) if b > a]
    done = _completed(markers, slices) if markers else {}
    todo = [s for s in slices if s[0] not in done]
    step = _Step(task, markers)
    if spark is None:
        rows = [step(first, part, inject=False) for first, part in todo]
    elif todo:
        from skysift.runtime.filesystem import with_s3_settings

        shipped = with_s3_settings(step)
        # one element per partition: parallelize keeps the list order, so partition i holds slice i
        rdd = spark.sparkContext.parallelize(todo, len(todo))
        rows = rdd.map(lambda s: shipped(s[0], s[1])).collect()
    else:
        rows = []
    new = dict(zip((first for first, _ in todo), rows))
    return [done[first] if first in done else new[first] for first, _ in slices]


class _Step:
    """One slice on an executor: the task, the injected fault (tests), then its completion marker."""

    def __init__(self, task: Task, markers: str | None):
        self.task = task
        self.markers = markers

    def __call__(self, first: int, part: list, inject: bool = True) -> dict[str, Any]:
        row = self.task(first, part)
        if inject:
            inject_fault(first)
        if self.markers:
            from skysift.runtime.filesystem import join, write_bytes

            write_bytes(join(self.markers, _marker_name(first, len(part))), json.dumps(row, default=stats_json).encode())
        return row


def _marker_name(first: int, n_items: int) -> str:
    return f"task-{first:010d}-{n_items:010d}.json"


def stats_json(value):
    """numpy scalars and arrays in a stats row, as JSON (``json.dumps(row, default=stats_json)``)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a resumable task's stats row holds {type(value).__name__}, which is not JSON")


def _completed(markers: str, slices: list[tuple[int, list]]) -> dict[int, dict[str, Any]]:
    """Stats rows of the slices whose marker exists, by first index; OutputError on a foreign marker."""
    from skysift.runtime.filesystem import OutputError, file_sizes, join, read_bytes

    wanted = {_marker_name(first, len(part)): first for first, part in slices}
    done = {}
    for name in sorted(file_sizes(markers)):
        if not _MARKER.fullmatch(name):
            continue  # a temporary of a marker being written
        if name not in wanted:
            raise OutputError(f"{markers}: marker {name} of a task this run does not cut (the task count "
                              "changed since the run that left it); rerun with --set resume=false")
        done[wanted[name]] = {**json.loads(read_bytes(join(markers, name))), "_resumed": True}
    return done


def inject_fault(first: int, what: str = "task") -> None:
    """The test-only switch SKYSIFT_FAIL_TASK_ONCE (module docstring): the first attempt of the Spark task of
    the slice (or partition item, ``runtime.resume.finish_item``) starting at ``first`` fails; nothing outside
    a Spark task or when the variable is unset. ``what`` names the kind of ``first`` in the error."""
    value = os.environ.get(FAULT_ENV, "")
    if not value:
        return
    from pyspark import TaskContext

    ctx = TaskContext.get()
    if ctx is None or ctx.attemptNumber() > 0:
        return
    for rule in value.split(","):
        mode, _, only = rule.strip().partition(":")
        kind, _, only = only.rpartition(":")
        if (kind and kind != what) or (only and int(only) != first):
            continue
        if mode == "kill":
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError(f"{FAULT_ENV}={value}: injected failure of the first attempt of {what} {first}")


def inject_partition_fault() -> None:
    """The same switch at the start of a DataFrame job's Python executor function (module docstring): the
    first attempt of the task of Spark partition k fails (``:FIRST``: only k = FIRST). Nothing when the
    variable is unset (pyspark is not even imported) or outside a Spark task."""
    if not os.environ.get(FAULT_ENV):
        return
    from pyspark import TaskContext

    ctx = TaskContext.get()
    if ctx is not None:
        inject_fault(ctx.partitionId(), "partition")

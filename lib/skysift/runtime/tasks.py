"""Work items run as executor tasks that write their own files and return one stats row each.

``run_tasks(task, items, n_tasks, spark)`` cuts ``items`` (file paths, partition numbers: small values that
the driver lists) into ``n_tasks`` contiguous slices and calls ``task(first_index, slice)`` once per slice:
on Spark one task per slice, or, with ``spark=None``, one after the other in this process — the sequential
twin that tests and benchmark baselines run. Both cut the same slices, so a task's deterministic file names
(``part-<first index>``) are the same either way, and a retried Spark task overwrites its own files.
Only the stats rows come back to the driver. On Spark the task is shipped with the driver's S3 settings
(``filesystem.with_s3_settings``), so tasks can write ``s3://`` URIs whatever the executors' environment.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
Task = Callable[[int, list], dict[str, Any]]


def task_slices(n_items: int, n_tasks: int) -> list[tuple[int, int]]:
    """[start, stop) of each task's items: ``n_tasks`` contiguous slices whose sizes differ by at most one."""
    n_tasks = max(1, min(n_tasks, n_items)) if n_items else 1
    return [((i * n_items) // n_tasks, ((i + 1) * n_items) // n_tasks) for i in range(n_tasks)]


def task_count(n_items: int, items_per_task: int, parallelism: int) -> int:
    """Tasks for ``n_items``: at most ``items_per_task`` each, and at least two per core for balance."""
    return max(-(-n_items // items_per_task), min(n_items, 2 * parallelism), 1)


def run_tasks(task: Task, items: Sequence[T], n_tasks: int, spark=None) -> list[dict[str, Any]]:
    """Run ``task(first_index, items[start:stop])`` for every slice; returns the stats rows in slice order."""
    slices = [(a, list(items[a:b])) for a, b in task_slices(len(items), n_tasks) if b > a]
    if spark is None:
        return [task(first, part) for first, part in slices]
    if not slices:
        return []
    from skysift.runtime.filesystem import with_s3_settings

    shipped = with_s3_settings(task)
    # one element per partition: parallelize keeps the list order, so partition i holds slice i
    rdd = spark.sparkContext.parallelize(slices, len(slices))
    return rdd.map(lambda s: shipped(s[0], s[1])).collect()

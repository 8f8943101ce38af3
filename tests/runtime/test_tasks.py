"""runtime.tasks: Spark's slicing, one stats row per slice, the sequential twin equal to Spark."""
import functools

import pytest

from skysift.runtime.tasks import run_tasks, task_count, task_slices


@pytest.mark.parametrize("n_items,n_tasks", [(10, 3), (7, 7), (5, 9), (1, 4), (1000, 16)])
def test_slices_cover_the_items_in_order(n_items, n_tasks):
    ours = task_slices(n_items, n_tasks)
    assert len(ours) == min(n_tasks, n_items)
    assert ours[0][0] == 0 and ours[-1][1] == n_items
    assert all(a < b for a, b in ours) and all(b == a2 for (_, b), (a2, _) in zip(ours, ours[1:]))
    sizes = [b - a for a, b in ours]
    assert max(sizes) - min(sizes) <= 1


def _partition_of(first, items):
    from pyspark import TaskContext

    return {"first": first, "partition": TaskContext.get().partitionId(), "n": len(items)}


def test_each_slice_is_its_own_spark_task(spark):
    rows = run_tasks(_partition_of, list(range(1000)), 16, spark=spark)
    assert [r["partition"] for r in rows] == list(range(16))
    assert [r["first"] for r in rows] == [a for a, _ in task_slices(1000, 16)]


def _task(tag, first, items):
    return {"tag": tag, "first": first, "items": list(items), "n": len(items)}


def test_spark_and_sequential_give_the_same_rows(spark):
    items = [f"f{i:03d}.fits" for i in range(23)]
    task = functools.partial(_task, "x")
    seq = run_tasks(task, items, 5, spark=None)
    par = run_tasks(task, items, 5, spark=spark)
    assert seq == par
    assert [r["first"] for r in seq] == [a for a, _ in task_slices(23, 5)]
    assert sum((r["items"] for r in seq), []) == items  # every item once, in order


def test_no_items_no_tasks(spark):
    assert run_tasks(functools.partial(_task, "x"), [], 4, spark=spark) == []
    assert run_tasks(functools.partial(_task, "x"), [], 4, spark=None) == []


def test_task_count():
    assert task_count(10_000, 256, 2) == 40  # ceil(10000 / 256)
    assert task_count(10, 256, 2) == 4  # at least two per core
    assert task_count(1, 256, 8) == 1


def _counted(log, first, items):
    log.append(first)
    return {"first": first, "n": len(items), "sum": sum(items)}


def test_markers_skip_completed_slices(tmp_path):
    """A slice whose marker exists is not run again and its stats row comes back from the marker."""
    from skysift.runtime.filesystem import OutputError

    markers = str(tmp_path / "_resume" / "tasks")
    ran: list[int] = []
    task = functools.partial(_counted, ran)
    items = list(range(10))
    first = run_tasks(task, items, 4, markers=markers)
    assert ran == [0, 2, 5, 7] and not any("_resumed" in r for r in first)
    (tmp_path / "_resume" / "tasks" / "task-0000000005-0000000002.json").unlink()  # as if killed in that task
    ran.clear()
    again = run_tasks(task, items, 4, markers=markers)
    assert ran == [5]
    assert [{k: v for k, v in r.items() if k != "_resumed"} for r in again] == first
    assert [bool(r.get("_resumed")) for r in again] == [True, True, False, True]
    with pytest.raises(OutputError, match="task count changed"):
        run_tasks(task, items, 3, markers=markers)


def test_fault_switch_is_ignored_by_the_sequential_twin(monkeypatch):
    monkeypatch.setenv("SKYSIFT_FAIL_TASK_ONCE", "raise")
    assert [r["n"] for r in run_tasks(functools.partial(_task, "x"), list(range(5)), 2)] == [2, 3]


class _FakeTask:
    """A stand-in for pyspark's TaskContext: partition ``k``, attempt ``attempt``."""

    def __init__(self, k: int, attempt: int):
        self.k, self.attempt = k, attempt

    def partitionId(self) -> int:
        return self.k

    def attemptNumber(self) -> int:
        return self.attempt


def test_partition_fault_switch_fails_the_first_attempt_of_the_named_partitions(monkeypatch):
    import pyspark

    from skysift.runtime.tasks import inject_partition_fault

    ctx = {"now": None}
    monkeypatch.setattr(pyspark.TaskContext, "get", classmethod(lambda cls: ctx["now"]))
    monkeypatch.setenv("SKYSIFT_FAIL_TASK_ONCE", "kill:0,raise:2")
    kills = []
    monkeypatch.setattr("os.kill", lambda pid, sig: kills.append(pid) or (_ for _ in ()).throw(SystemExit("killed")))
    inject_partition_fault()  # outside a task: nothing
    for k, attempt in ((1, 0), (2, 1), (0, 1)):  # not named, or a retry: nothing
        ctx["now"] = _FakeTask(k, attempt)
        inject_partition_fault()
    ctx["now"] = _FakeTask(2, 0)
    with pytest.raises(RuntimeError, match="first attempt of partition 2"):
        inject_partition_fault()
    ctx["now"] = _FakeTask(0, 0)
    with pytest.raises(SystemExit):  # the first matching rule: kill
        inject_partition_fault()
    assert len(kills) == 1
    monkeypatch.delenv("SKYSIFT_FAIL_TASK_ONCE")
    inject_partition_fault()


def test_fault_rule_with_a_kind_names_only_tasks_of_that_kind(monkeypatch):
    """``raise:task:3`` fails item task 3 (finish_item, run_tasks) but not partition 3 of a DataFrame stage."""
    import pyspark

    from skysift.runtime.tasks import inject_fault, inject_partition_fault

    monkeypatch.setattr(pyspark.TaskContext, "get", classmethod(lambda cls: _FakeTask(3, 0)))
    monkeypatch.setenv("SKYSIFT_FAIL_TASK_ONCE", "raise:task:3")
    inject_partition_fault()  # partition 3: another kind
    inject_fault(2)  # task 2: not named
    with pytest.raises(RuntimeError, match="first attempt of task 3"):
        inject_fault(3)
    monkeypatch.setenv("SKYSIFT_FAIL_TASK_ONCE", "raise:partition:3")
    inject_fault(3)
    with pytest.raises(RuntimeError, match="first attempt of partition 3"):
        inject_partition_fault()

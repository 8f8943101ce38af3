"""Kill-and-rerun helpers for the reliability tests (tests/reliability, RELIABILITY.md); not used by jobs.

A job is run as a separate process (``job_command``), SIGKILLed when something appears on disk
(``kill_when``: typically its first staged data file), and its output compared before and after
(``snapshot``: every file's bytes; ``table_rows``: every Parquet table's rows, whatever its file names).

``python -m skysift.testing.faults [--master MASTER] JOB ARGS...`` runs a job as ``skysift JOB ARGS...``
would, except: without ``--master`` it calls ``run(None, cfg)``, the job's sequential twin (no Spark, for
the jobs that have one: seconds instead of a JVM start); with ``--master`` (``local[2,2]``: two cores, a
task may fail once) it starts the local profile's session on that master, which is how the tests let Spark
retry the tasks that ``SKYSIFT_FAIL_TASK_ONCE`` (runtime.tasks) fails.

``python -m skysift.testing.faults --master MASTER --cases FILE`` runs several jobs in that one session (one
JVM start instead of one per job): FILE holds a JSON list of ``{"job", "argv", "fault"}``; each job runs with
``SKYSIFT_FAIL_TASK_ONCE=fault`` in its Python workers' environment (``sc.environment``; "" for none), after a
line ``CASE_MARK <k>`` on stderr (so that a test can cut the log, Spark's warnings included, per case), and
prints one line ``{"case": k, "job", "fault", "summary", "tasks", "failed_tasks", "failed_stages"}``
(``run_cases``).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import skysift

LIB = str(Path(skysift.__file__).resolve().parents[1])
"""The lib/ folder this skysift is imported from: subprocesses import the same code."""

HOLD_COMMIT = {"SKYSIFT_TEST_HOLD_COMMIT_S": "600"}
"""``subprocess_env(**HOLD_COMMIT)``: the job's commit waits 10 min (``runtime.output.HOLD_ENV``), so that
``kill_when`` lands before it however fast the job is (a job of a few milliseconds a task otherwise commits
between the poll and the kill, as ingest-spectra did on CI)."""


def subprocess_env(**extra: str) -> dict[str, str]:
    """This process's environment with PYTHONPATH led by ``LIB``, telemetry off, quiet Spark, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([LIB, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("SKYSIFT_SPARK_LOG_LEVEL", "ERROR")
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.update(extra)
    return env


def job_command(job: str, argv: Sequence[Any], spark: bool = False, master: str | None = None) -> list[str]:
    """The command line that runs ``job``: the real CLI when ``spark`` (local profile), else this module's
    runner (the sequential twin, or ``master``'s Spark session)."""
    args = [str(a) for a in argv]
    if spark and master is None:
        return [sys.executable, "-m", "skysift.cli", job, *args]
    return [sys.executable, "-m", "skysift.testing.faults", *(["--master", master] if master else []), job, *args]


def run_here(job: str, argv: Sequence[Any], spark=None) -> dict[str, Any]:
    """Run ``job`` in this process with ``spark`` (None: the sequential twin, never a new session)."""
    from skysift import cli
    from skysift.config import load_config
    from skysift.paths import default_job_config
    from skysift.runtime.summary import finish_summary

    if spark is not None:
        return cli.run_job(job, [str(a) for a in argv], spark=spark)
    module = cli.load_job(job)
    parsed = cli.parse_job_args([str(a) for a in argv], getattr(module, "POSITIONAL", ()))
    cfg = load_config(module.CONFIG, parsed["config"] or default_job_config(job), parsed["overrides"],
                      parsed["extra"])
    started = time.perf_counter()
    return finish_summary(job, module.run(None, cfg), time.perf_counter() - started)


def staging_path(output: str | os.PathLike) -> Path:
    """The staging folder ``runtime.output.stage`` uses for ``output`` (``.NAME.staging`` beside it)."""
    out = Path(output)
    return out.parent / f".{out.name}.staging"


def staged_data_files(output: str | os.PathLike) -> list[str]:
    """Files a run of ``output`` has staged so far: everything in its staging folder except the resume
    bookkeeping (``_resume/``) and temporaries (hidden names)."""
    root = staging_path(output)
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith("_resume/") and not path.name.startswith("."):
            found.append(rel)
    return sorted(found)


def resume_markers(output: str | os.PathLike) -> list[str]:
    """Completion markers in ``output``'s staging folder: of tasks (``runtime.tasks``) and of partition
    items (``runtime.resume.finish_item``: build-kb's shards, crossmatch's groups, find-emission-lines' PQ runs)."""
    root = staging_path(output) / "_resume"
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for pattern in ("task-*.json", "item-*.json")
                  for p in root.rglob(pattern))


@dataclass
class Killed:
    """What ``kill_when`` saw."""

    returncode: int | None
    """The process's exit status: -9 when the kill landed, else the status it exited with by itself."""
    killed: bool
    """Whether the SIGKILL was sent while the process was running."""
    seconds: float
    """From start to kill (or exit)."""
    log: str
    """The tail of its stdout + stderr."""


def kill_when(cmd: list[str], ready: Callable[[], bool], env: dict[str, str] | None = None,
              timeout_s: float = 300.0, poll_s: float = 0.02, cwd: str | None = None) -> Killed:
    """Start ``cmd`` and SIGKILL it with every process below it (the driver with its JVM and Python
    workers, as when a machine dies: ``kill_tree``) as soon as ``ready()`` is true.

    Returns without killing when the process exits first; raises TimeoutError after ``timeout_s``.
    """
    import tempfile

    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        killed = False
        try:
            while proc.poll() is None:
                if ready():
                    kill_tree(proc.pid)
                    killed = True
                    break
                if time.perf_counter() - started > timeout_s:
                    kill_tree(proc.pid)
                    proc.wait()
                    raise TimeoutError(f"{' '.join(cmd[:6])}: not ready after {timeout_s:.0f} s")
                time.sleep(poll_s)
            seconds = time.perf_counter() - started
            proc.wait()
        finally:
            if proc.poll() is None:
                kill_tree(proc.pid)
                proc.wait()
        log.seek(0)
        tail = log.read()[-4000:].decode(errors="replace")
    return Killed(proc.returncode, killed, seconds, tail)


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (children, theirs, ...), from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int, timeout_s: float = 30.0) -> None:
    """SIGKILL ``pid`` and every process below it, as when their machine dies, and wait until they are gone.

    Process groups are not enough: pyspark's worker daemon makes its own group, and a Python worker left
    running would write into the staging folder of the rerun.
    """
    procs: list[int] = []
    for _ in range(20):  # stop the tree first, so that nothing in it forks a new process meanwhile
        new = [p for p in [pid, *descendants(pid)] if p not in procs]
        if not new:
            break
        for p in new:
            _signal(p, signal.SIGSTOP)
        procs += new
    for p in procs:
        _signal(p, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    for p in procs[1:]:  # pid itself is our child: the caller reaps it
        while time.monotonic() < deadline and os.path.exists(f"/proc/{p}") and not _zombie(p):
            time.sleep(0.02)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().decode(errors="replace").rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def run_to_end(cmd: list[str], env: dict[str, str] | None = None, timeout_s: float = 600.0,
               cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` to its end (stdout + stderr captured as text)."""
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)


def last_json_line(text: str) -> dict[str, Any]:
    """The job summary: the last line of a job's output that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError(f"no JSON summary line in the output: {text[-500:]!r}")


def snapshot(folder: str | os.PathLike) -> dict[str, str]:
    """{path relative to ``folder``: sha256 of its bytes} of every file under it, hidden ones too; {} if absent."""
    root = Path(folder)
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def table_rows(output: str | os.PathLike, ignore_columns: Sequence[str] = ()) -> dict[str, list[str]]:
    """Every Parquet table under ``output`` as {table folder: its rows, sorted}, whatever the file names.

    A table folder is a file's folder without its hive ``key=value`` parts, whose values are put into each
    row; a row is its JSON (sorted keys; NaN as ``NaN``), so the comparison is exact. The output is read
    through ``runtime.output.table_files`` first, which raises on a half-committed output.
    """
    import pyarrow.parquet as pq

    from skysift.runtime.output import table_files

    table_files(output, suffix="")  # manifest and _SUCCESS checked, every listed file present with its size
    root = Path(output)
    tables: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.parquet")):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        parts = rel.split("/")[:-1]
        hive = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in parts if "=" in p}
        table = "/".join(p for p in parts if "=" not in p) or "."
        data = pq.read_table(path)
        keep = [c for c in data.column_names if c not in ignore_columns]
        for row in data.select(keep).to_pylist():
            tables.setdefault(table, []).append(json.dumps({**row, **hive}, sort_keys=True, default=str))
    return {name: sorted(rows) for name, rows in tables.items()}


CASE_MARK = "skysift.testing.faults: case"
"""The stderr line that opens each case of ``run_cases`` (followed by the case number)."""


def run_cases(spark, cases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``cases`` (``{"job", "argv", "fault"}``) one after the other in ``spark`` (module docstring).

    ``tasks`` / ``failed_tasks`` / ``failed_stages``: the task attempts of the case's Spark stages, how many of
    them failed and in how many stages, from Spark's status tracker (each case is a job group), to compare
    with the ``Lost task`` lines of the log.
    """
    from skysift import cli
    from skysift.runtime.tasks import FAULT_ENV

    sc = spark.sparkContext
    env, tracker, done = sc.environment, sc.statusTracker(), []
    for k, case in enumerate(cases):
        print(f"{CASE_MARK} {k}", file=sys.stderr, flush=True)
        group = f"skysift-faults-case-{k}"
        sc.setJobGroup(group, f"{case['job']} with {FAULT_ENV}={case['fault']}")
        if case["fault"]:
            env[FAULT_ENV] = case["fault"]  # shipped with every Python function made while it is set
        try:
            summary = cli.run_job(case["job"], [str(a) for a in case["argv"]], spark=spark)
        finally:
            env.pop(FAULT_ENV, None)
            sc.setLocalProperty("spark.jobGroup.id", None)
        stages = [tracker.getStageInfo(s) for j in tracker.getJobIdsForGroup(group)
                  for s in (tracker.getJobInfo(j).stageIds if tracker.getJobInfo(j) else [])]
        stages = [s for s in stages if s is not None]
        row = {"case": k, "job": case["job"], "fault": case["fault"], "summary": summary,
               "tasks": sum(s.numCompletedTasks + s.numFailedTasks for s in stages),
               "failed_tasks": sum(s.numFailedTasks for s in stages),
               "failed_stages": sum(1 for s in stages if s.numFailedTasks)}
        print(json.dumps(row, default=str), flush=True)
        done.append(row)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m skysift.testing.faults [--master MASTER] (JOB ARGS... | --cases FILE)`` (module docstring)."""
    from skysift.runtime.errors import SkysiftError
    from skysift.runtime.summary import print_summary

    args = list(sys.argv[1:] if argv is None else argv)
    master = None
    if args[:1] == ["--master"]:
        master, args = args[1], args[2:]
    job, rest = args[0], args[1:]
    try:
        if master:
            from skysift import cli
            from skysift.runtime.spark import session

            spark = session("local", app_name=f"skysift-{job.lstrip('-')}", extra_conf={"spark.master": master})
            if job == "--cases":
                run_cases(spark, json.loads(Path(rest[0]).read_text()))
            else:
                cli.run_job(job, rest, spark=spark)
        else:
            print_summary(run_here(job, rest))
    except SkysiftError as exc:
        print(f"skysift {job}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["CASE_MARK", "HOLD_COMMIT", "LIB", "Killed", "descendants", "job_command", "kill_tree", "kill_when", "last_json_line", "main",
           "resume_markers", "run_cases", "run_here", "run_to_end", "snapshot", "staged_data_files", "staging_path", "subprocess_env", "table_rows"]

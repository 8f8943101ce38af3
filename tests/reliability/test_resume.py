"""Resume instead of restart (issue 18 part 3; RELIABILITY.md): a long job killed part-way keeps the tasks
that finished; its rerun runs only the others and gives the rows of an uninterrupted run; ``--set
resume=false``, or a changed config, starts afresh. Sequential twins (no Spark), killed from outside when
half of their tasks have written their completion markers (runtime.tasks)."""
from __future__ import annotations

from pathlib import Path

import pytest

from skysift.testing.faults import (
    HOLD_COMMIT,
    job_command,
    kill_when,
    resume_markers,
    run_here,
    staging_path,
    subprocess_env,
    table_rows,
)

TASKS = 8


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "survey"
    run_here("synth-survey", ["--output", out, "--set", "n_spectra=32", "--set", "rows_per_partition=8"])
    return out


JOBS = {
    "synth-survey": lambda survey, out: ["--output", out, "--set", "n_spectra=64", "--set", "format=parquet",
                                         "--set", f"rows_per_partition={64 // TASKS}"],
    "ingest-spectra": lambda survey, out: ["--input", survey / "spectra", "--output", out,
                                           "--set", f"files_per_task={32 // TASKS}"],
}


def _kill_at_half(job: str, argv: list, out: Path) -> None:
    # A task of 4 files takes milliseconds, so the kill may land after the last task: the held commit keeps the
    # staging folder (HOLD_COMMIT), and the test asks only for half or more.
    killed = kill_when(job_command(job, argv), lambda: len(resume_markers(out)) >= TASKS // 2,
                       env=subprocess_env(**HOLD_COMMIT))
    assert killed.killed, killed.log
    assert TASKS // 2 <= len(resume_markers(out)) <= TASKS, killed.log


@pytest.mark.parametrize("job", sorted(JOBS))
def test_rerun_after_a_kill_skips_the_finished_tasks(job, survey, tmp_path):
    ref = tmp_path / "ref"
    alone = run_here(job, JOBS[job](survey, ref))
    assert alone["resumed_tasks"] == 0
    expected = table_rows(ref)

    out = tmp_path / "out"
    argv = JOBS[job](survey, out)
    _kill_at_half(job, argv, out)
    kept = len(resume_markers(out))
    resumed = run_here(job, argv)
    assert resumed["resumed_tasks"] == kept
    assert table_rows(out) == expected
    assert not staging_path(out).exists()

    _kill_at_half(job, argv, out)
    afresh = run_here(job, [*argv, "--set", "resume=false"])
    assert afresh["resumed_tasks"] == 0 and table_rows(out) == expected

    _kill_at_half(job, argv, out)
    changed = run_here(job, [*argv, "--set", "batch_rows=5" if job == "synth-survey" else "batch_spectra=5"])
    assert changed["resumed_tasks"] == 0  # another config: another resume key, the staging folder emptied

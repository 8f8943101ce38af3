"""Task failures on Spark (issue 18 part 3; RELIABILITY.md): a task whose first attempt fails after writing
its files, and a Python worker SIGKILLed in the middle of a task. Spark retries them (master local[2,2]: a
task may fail once); the output must hold exactly the rows of an undisturbed run, none twice, none missing.

The failures come from the test-only switch SKYSIFT_FAIL_TASK_ONCE of runtime.tasks, which acts in every job
that runs its work through ``run_tasks`` (ingest-spectra, synth-survey, ingest-frames, make-cutouts,
embed-images, build-image-index, search-images, find-emission-lines)."""
from __future__ import annotations

from pathlib import Path

import pytest

from skysift.testing.faults import job_command, last_json_line, run_here, run_to_end, subprocess_env, table_rows


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("task-faults") / "survey"
    run_here("synth-survey", ["--output", out, "--set", "n_spectra=24", "--set", "rows_per_partition=6"])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["raise", "kill:0"])
def test_retried_tasks_leave_no_duplicate_and_no_missing_row(fault, survey, tmp_path):
    argv = ["--input", survey / "spectra", "--output", tmp_path / "ref", "--set", "files_per_task=6"]
    run_here("ingest-spectra", argv)
    expected = table_rows(tmp_path / "ref")
    argv[3] = tmp_path / "out"
    done = run_to_end(job_command("ingest-spectra", argv, master="local[2,2]"),
                      env=subprocess_env(SKYSIFT_FAIL_TASK_ONCE=fault, SKYSIFT_SPARK_LOG_LEVEL="WARN"))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    lost = log.count("Lost task")
    if fault == "raise":  # every task (4 here) failed once, after writing its files
        assert lost == 4 and log.count("injected failure of the first attempt") >= 4, log[-3000:]
    else:  # the worker of the slice starting at file 0 died mid-task
        assert lost == 1 and "Python worker exited unexpectedly" in log, log[-3000:]
    summary = last_json_line(done.stdout)
    assert summary["tasks"] == 4 and summary["balanced"] is True
    rows = table_rows(tmp_path / "out")
    assert rows == expected
    assert len(rows["."]) == len(set(rows["."])) == summary["written"]  # no row twice

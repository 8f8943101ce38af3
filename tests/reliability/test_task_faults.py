"""Task failures on Spark (issue 18 part 3; RELIABILITY.md): a task whose first attempt fails after writing
its files, and a Python worker SIGKILLed in the middle of a task. Spark retries them (master local[2,2]: a
task may fail once); the output must hold exactly the rows of an undisturbed run, none twice, none missing.

The failures come from the test-only switch SKYSIFT_FAIL_TASK_ONCE, which acts in every job that runs its
work through ``runtime.tasks.run_tasks`` (ingest-spectra, synth-survey, embed-spectra, ingest-frames,
make-cutouts, embed-images, build-image-index, search-images, find-emission-lines) and in the partition
tasks that call ``runtime.resume.finish_item`` (build-kb's shards, crossmatch's match groups)."""
from __future__ import annotations

from pathlib import Path

import pytest

from skysift.testing.faults import job_command, last_json_line, run_here, run_to_end, subprocess_env, table_rows


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("task-faults") / "survey"
    run_here("synth-survey", ["--output", out, "--set", "n_spectra=24", "--set", "rows_per_partition=6"])
    return out


def _sets(*pairs: str) -> list[str]:
    return [a for s in pairs for a in ("--set", s)]


# job -> (argv for an output, summary key of the number of tasks the switch fails, needs Spark for the reference)
CASES = {
    "ingest-spectra": (lambda f, out: ["--input", f["survey"] / "spectra", "--output", out,
                                       *_sets("files_per_task=6")], "tasks", False),
    "embed-spectra": (lambda f, out: ["--input", f["spectra"], "--output", out,
                                      *_sets(f"model_uri={f['encoder']}", "precision=fp32", "device=cpu",
                                             "torch_threads=1", "partitions=4")], "tasks", False),
    "build-kb": (lambda f, out: ["--embeddings", f["vectors"] / "emb", "--labels", f["vectors"] / "labels",
                                 "--output", out, *_sets("index.kind=flat", "n_shards=3")], "shards", True),
    "crossmatch": (lambda f, out: ["--left", f["catalogs"] / "left", "--right", f["catalogs"] / "right",
                                   "--output", out, *_sets("mode=all", "left_id_column=lid", "right_id_column=rid",
                                                           "target_rows_per_group=400")], "groups", True),
}


@pytest.mark.slow
@pytest.mark.parametrize("job,fault", [("ingest-spectra", "raise"), ("ingest-spectra", "kill:0"),
                                       ("embed-spectra", "raise"), ("embed-spectra", "kill:0"),
                                       ("build-kb", "raise"), ("crossmatch", "raise")])
def test_retried_tasks_leave_no_duplicate_and_no_missing_row(job, fault, request, tmp_path):
    argv_of, n_key, needs_spark = CASES[job]
    fixtures = {name: request.getfixturevalue(name) for name in ("survey", "spectra", "encoder", "vectors", "catalogs")
                if name in {"ingest-spectra": ("survey",), "embed-spectra": ("spectra", "encoder"),
                            "build-kb": ("vectors",), "crossmatch": ("catalogs",)}[job]}
    run_here(job, argv_of(fixtures, tmp_path / "ref"), request.getfixturevalue("spark") if needs_spark else None)
    expected = table_rows(tmp_path / "ref")
    done = run_to_end(job_command(job, argv_of(fixtures, tmp_path / "out"), master="local[2,2]"),
                      env=subprocess_env(SKYSIFT_FAIL_TASK_ONCE=fault, SKYSIFT_SPARK_LOG_LEVEL="WARN"))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    summary = last_json_line(done.stdout)
    lost = log.count("Lost task")
    if fault == "raise":  # every task failed once, after writing its files
        assert summary[n_key] >= 2 and lost == summary[n_key], log[-3000:]
        assert log.count("injected failure of the first attempt") >= summary[n_key], log[-3000:]
    else:  # the worker of the slice starting at item 0 died mid-task
        assert lost == 1 and "Python worker exited unexpectedly" in log, log[-3000:]
    assert summary["balanced"] is True and summary.get("resumed_tasks", 0) == 0
    rows = table_rows(tmp_path / "out")
    assert rows == expected
    for table, table_rows_ in rows.items():  # no row twice
        assert len(table_rows_) == len(set(table_rows_)), table

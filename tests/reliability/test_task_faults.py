"""Task failures on Spark (issue 18 part 3; RELIABILITY.md): a task whose first attempt fails after writing
its files, and a Python worker SIGKILLed in the middle of a task. Spark retries them (master local[2,2]: a
task may fail once); the output must hold exactly the rows of an undisturbed run, none twice, none missing.

The failures come from the test-only switch SKYSIFT_FAIL_TASK_ONCE, which acts in every job that runs its
work through ``runtime.tasks.run_tasks`` (ingest-spectra, synth-survey, embed-spectra, ingest-frames,
make-cutouts, embed-images, build-image-index, search-images, find-emission-lines), in the partition
tasks that call ``runtime.resume.finish_item`` (build-kb's shards, crossmatch's match groups), and at the
start of the Python executor functions of the DataFrame jobs (``runtime.tasks.inject_partition_fault``:
the cross-match engine's scan, tag and match stages, the HATS writer, search-kb, build-multimodal, build-kb's
training-sample writer).

The DataFrame jobs (``FRAME_CASES``: dedupe, load-catalog by position, search-kb, build-multimodal,
build-kb's training-sample writer and shards, crossmatch to HATS) all run in one subprocess, one local[2,2]
session (``testing.faults.run_cases``: one JVM start for the six), each with ``kill:0,raise:1`` (both faults
in one run: partition 0's worker is killed, partition 1 raises); their references run in this process, while
the subprocess runs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skysift.testing.faults import (CASE_MARK, job_command, last_json_line, run_here, run_to_end, subprocess_env,
                                    table_rows)


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
# ingest-spectra and embed-spectra take both faults in one run (the worker of the slice at item 0 killed, every
# other task raising): two runs fewer than one per fault, ~45 s each of the CI budget (session 9).
@pytest.mark.parametrize("job,fault", [("ingest-spectra", "kill:0,raise"), ("embed-spectra", "kill:0,raise"),
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
    killed = fault.startswith("kill:0")  # the worker of the slice starting at item 0 died mid-task
    assert ("Python worker exited unexpectedly" in log) == killed, log[-3000:]
    # every other task failed once, after writing its files
    items = set(re.findall(r"injected failure of the first attempt of task (\d+)", log))
    assert summary[n_key] >= 2 and len(items) == summary[n_key] - killed and (not killed or "0" not in items), log[-3000:]
    # crossmatch's scan and tag stages fail too (inject_partition_fault): more tasks lost than groups
    more = "injected failure of the first attempt of partition" in log
    assert (lost > summary[n_key]) if more else (lost == summary[n_key]), log[-3000:]
    assert summary["balanced"] is True and summary.get("resumed_tasks", 0) == 0
    rows = table_rows(tmp_path / "out")
    assert rows == expected
    for table, table_rows_ in rows.items():  # no row twice
        assert len(table_rows_) == len(set(table_rows_)), table


# ---- DataFrame jobs: the switch at the start of their Python executor functions ------------------------------

@pytest.fixture(scope="module")
def detections(tmp_path_factory) -> Path:
    """300 positions, 120 of them repeated within 0.45" (friends-of-friends groups), a score each."""
    import numpy as np
    import pandas as pd

    from skysift.synth.mock_catalogs import hard_sky, neighbours_of

    base = hard_sky(300, seed=51)
    df = pd.concat([base, neighbours_of(base, 120, seed=52, max_sep_arcsec=0.45)], ignore_index=True)
    df["score"] = np.random.default_rng(53).uniform(0, 1, len(df))
    df["det"] = np.arange(len(df))
    path = tmp_path_factory.mktemp("faults-dedupe") / "detections.parquet"
    df.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def multimodal(tmp_path_factory) -> Path:
    """build-multimodal's inputs for 14 objects (synth.imaging.multimodal): cutouts/, spectra/, labels/."""
    import pyarrow.parquet as pq

    from skysift.synth.imaging.multimodal import multimodal_set
    from skysift.testing.multimodal import cutouts_table

    m = multimodal_set(seed=3, n_objects=14)
    root = tmp_path_factory.mktemp("faults-multimodal")
    for name, table in (("cutouts/cutouts", cutouts_table(m)), ("spectra", m.spectra), ("labels", m.mpajhu)):
        (root / name).mkdir(parents=True)
        pq.write_table(table, root / name / "part-0.parquet")
    return root


@pytest.fixture(scope="module")
def kb(vectors, spark, tmp_path_factory) -> Path:
    """A flat two-shard KB of ``vectors`` (conftest), searched with its own vectors."""
    out = tmp_path_factory.mktemp("faults-kb") / "kb"
    run_here("build-kb", ["--embeddings", vectors / "emb", "--labels", vectors / "labels", "--output", out,
                          *_sets("index.kind=flat", "n_shards=2")], spark)
    return out


# name -> (job, argv for an output from the fixtures, the fixtures it needs, stages with a Python function)
FRAME_CASES = {
    "dedupe": ("dedupe", lambda f, out: ["--input", f["detections"], "--output", out,
                                         *_sets("score_column=score", "id_column=det")], ("detections",), 3),
    "load-catalog": ("load-catalog", lambda f, out: [
        "--input", f["survey"] / "truth", "--output", out,
        *_sets("format=parquet", "key=position", f"match_table={f['survey'] / 'truth'}", "ra_column=ra_deg",
               "dec_column=dec_deg", "label_column=target_class")], ("survey",), 3),
    "search-kb": ("search-kb", lambda f, out: ["--kb", f["kb"], "--input", f["vectors"] / "emb", "--output", out,
                                               *_sets("query_partitions=3")], ("kb", "vectors"), 1),
    "build-multimodal": ("build-multimodal", lambda f, out: [
        "--cutouts", f["multimodal"] / "cutouts", "--spectra", f["multimodal"] / "spectra",
        "--labels", f["multimodal"] / "labels", "--output", out, *_sets("hats=false")], ("multimodal",), 1),
    # IVF-PQ, so that the training sample's row writer (mapInArrow) runs: the whole input (train_sample_size >=
    # its 400 rows: no Spark sample, whose rows depend on the partitioning); the shard stage fails through
    # finish_item (shard 0 killed, shard 1 raising after its files); no diagnostics sample (a third stage)
    "build-kb": ("build-kb", lambda f, out: [
        "--embeddings", f["vectors"] / "emb", "--labels", f["vectors"] / "labels", "--output", out,
        *_sets("index.kind=ivfpq", "index.nlist=4", "index.pq_m=4", "index.pq_nbits=4", "n_shards=2",
               "train_sample_size=400", "diagnostics_sample=0")], ("vectors",), 2),
    "crossmatch-hats": ("crossmatch", lambda f, out: [
        "--left", f["catalogs"] / "left", "--right", f["catalogs"] / "right", "--output", out,
        *_sets("format=hats", "mode=all", "left_id_column=lid", "right_id_column=rid", "hats_pixel_threshold=300")],
        ("catalogs",), 4),
}
FRAME_FAULT = "kill:0,raise:1"
"""Both faults in one run, in every stage with a Python function: partition 0's worker is SIGKILLed, partition 1
raises (two failures a stage: one round of new workers on two cores)."""


def _fixtures(request, names) -> dict:
    return {name: request.getfixturevalue(name) for name in names}


class FrameRuns:
    """The subprocess that runs every FRAME_CASES job with FRAME_FAULT on local[2,2], started at once in a
    thread, so that the references run in this process meanwhile (most of a tiny Spark job is waiting)."""

    def __init__(self, root: Path, cases: list[dict]):
        from concurrent.futures import ThreadPoolExecutor

        (root / "cases.json").write_text(json.dumps(cases))
        self.root, self.n = root, len(cases)
        self.pool = ThreadPoolExecutor(1)
        self.future = self.pool.submit(run_to_end, job_command("--cases", [root / "cases.json"], master="local[2,2]"),
                                       env=subprocess_env(SKYSIFT_SPARK_LOG_LEVEL="WARN"))
        self.done: dict | None = None

    def __getitem__(self, name: str) -> tuple[dict, str, Path]:
        """(the case's line of run_cases, its part of the log, its output)."""
        if self.done is None:
            done = self.future.result()
            log = done.stdout + done.stderr
            (self.root / "run.log").write_text(log)  # kept beside the outputs, for a look after a failure
            assert done.returncode == 0, log[-3000:]
            rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"case"')]
            logs = done.stderr.split(CASE_MARK)[1:]  # logs[k] starts with " k"
            assert len(rows) == len(logs) == self.n, log[-3000:]
            self.done = {n: (rows[k], logs[k], self.root / n) for k, n in enumerate(FRAME_CASES)}
        return self.done[name]


@pytest.fixture(scope="module")
def frame_runs(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("frame-faults")
    runs = FrameRuns(root, [{"job": job, "argv": [str(a) for a in argv_of(_fixtures(request, needs), root / name)],
                             "fault": FRAME_FAULT} for name, (job, argv_of, needs, _) in FRAME_CASES.items()])
    yield runs
    runs.future.result()  # never leave the subprocess running
    runs.pool.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("name", FRAME_CASES)
def test_dataframe_jobs_retried_tasks_leave_no_duplicate_and_no_missing_row(name, frame_runs, request, tmp_path):
    job, argv_of, needs, n_stages = FRAME_CASES[name]
    run_here(job, argv_of(_fixtures(request, needs), tmp_path / "ref"), request.getfixturevalue("spark"))
    expected = table_rows(tmp_path / "ref")
    row, log, out = frame_runs[name]
    lost = [line for line in log.splitlines() if "Lost task" in line]
    killed = [line for line in lost if "Python worker exited unexpectedly" in line]
    # every failed task shows in the log; one worker killed per stage with a Python function (its partition 0)
    assert len(lost) == row["failed_tasks"] and len(killed) == row["failed_stages"] == n_stages, (row, log[-3000:])
    # the other tasks of those stages raised: before they read a row (partition k), or build-kb's shard k
    # after its files (task k: finish_item)
    assert log.count("injected failure of the first attempt of ") >= len(lost) - len(killed), log[-3000:]
    assert row["summary"]["balanced"] is not False
    rows = table_rows(out)
    assert rows == expected
    for table, table_rows_ in rows.items():  # no row twice
        assert len(table_rows_) == len(set(table_rows_)), table

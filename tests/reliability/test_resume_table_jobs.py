"""Resume of the jobs that read a table (issue 18 part 3; RELIABILITY.md, runtime/resume.py): embed-spectra
(row groups as work items, run_tasks), build-kb (shards by spec_id's hash, the trained index kept) and
crossmatch (match groups of the kept plan). A run is interrupted after some of its n items, the rerun with
resume must recompute only the others (counted) and give the rows of an uninterrupted run; ``resume=false``
recomputes all of them.

The interruptions: embed-spectra's sequential twin gets a task that raises after k tasks (in this process)
and a SIGKILL from outside at half its markers; the Spark jobs get the test-only switch
SKYSIFT_FAIL_TASK_ONCE=raise:ITEM in their Python workers' environment (``sc.environment``) on the shared
local[2] session, which does not retry: the job fails at that item, after the items that finished before."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from skysift.testing.faults import (HOLD_COMMIT, job_command, kill_when, resume_markers, run_here, staging_path,
                                    subprocess_env, table_rows)

TASKS = 8


def _embed_argv(spectra: Path, encoder: Path, out: Path, *extra: str) -> list:
    sets = [f"model_uri={encoder}", "precision=fp32", "device=cpu", "torch_threads=1", f"partitions={TASKS}", *extra]
    return ["--input", spectra, "--output", out, *[a for s in sets for a in ("--set", s)]]


def _files(out: Path, *timed: str) -> dict[str, str]:
    """sha256 of every file of an output but ``timed`` ones and the manifest (which holds their sizes)."""
    from skysift.testing.faults import snapshot

    return {k: v for k, v in snapshot(out).items() if k not in {*timed, "_manifest.json"}}


def _mtimes(out: Path, names: list[str]) -> dict[str, int]:
    return {n: (out / n).stat().st_mtime_ns for n in names}


def test_embed_spectra_interrupted_after_k_tasks_reruns_only_the_others(spectra, encoder, tmp_path, monkeypatch):
    from skysift.stages.embed_spectra import job

    ref = tmp_path / "ref"
    alone = run_here("embed-spectra", _embed_argv(spectra, encoder, ref))
    assert alone["tasks"] == TASKS and alone["resumed_tasks"] == 0 and alone["written"] == 62
    expected = table_rows(ref)

    calls: list[int] = []
    real = job.embed_task

    def interrupted_after(k):
        def task(staging, fn, columns, first, items):
            if len(calls) == k:
                raise KeyboardInterrupt("interrupted (test)")
            calls.append(first)
            return real(staging, fn, columns, first, items)
        return task

    out = tmp_path / "out"
    argv = _embed_argv(spectra, encoder, out)
    monkeypatch.setattr(job, "embed_task", interrupted_after(3))
    with pytest.raises(KeyboardInterrupt):
        run_here("embed-spectra", argv)
    assert len(resume_markers(out)) == 3 and not out.exists()  # staging kept, nothing committed

    calls.clear()
    monkeypatch.setattr(job, "embed_task", interrupted_after(10 ** 6))
    resumed = run_here("embed-spectra", argv)
    assert resumed["resumed_tasks"] == 3 and len(calls) == TASKS - 3  # only the 5 other tasks ran
    assert resumed["read"] == alone["read"] and resumed["written"] == alone["written"]
    assert table_rows(out) == expected
    assert sorted(p.name for p in out.glob("part-*.parquet")) == sorted(p.name for p in ref.glob("part-*.parquet"))
    assert not staging_path(out).exists()

    monkeypatch.setattr(job, "embed_task", interrupted_after(4))
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        run_here("embed-spectra", argv)
    calls.clear()
    monkeypatch.setattr(job, "embed_task", interrupted_after(10 ** 6))
    afresh = run_here("embed-spectra", [*argv, "--set", "resume=false"])
    assert afresh["resumed_tasks"] == 0 and len(calls) == TASKS and table_rows(out) == expected

    calls.clear()
    monkeypatch.setattr(job, "embed_task", interrupted_after(2))
    with pytest.raises(KeyboardInterrupt):
        run_here("embed-spectra", argv)
    calls.clear()
    monkeypatch.setattr(job, "embed_task", interrupted_after(10 ** 6))
    changed = run_here("embed-spectra", [*argv, "--set", "cpu_batch_size=3"])  # another config: afresh
    assert changed["resumed_tasks"] == 0 and len(calls) == TASKS and table_rows(out) == expected


def test_embed_spectra_killed_at_half_resumes_from_its_markers(spectra, encoder, tmp_path):
    ref = tmp_path / "ref"
    run_here("embed-spectra", _embed_argv(spectra, encoder, ref))
    out = tmp_path / "out"
    argv = _embed_argv(spectra, encoder, out, "cpu_batch_size=1")
    # A task of 8 tiny spectra takes milliseconds, so the kill may land after the last one: the held commit
    # (HOLD_COMMIT) keeps the run from committing, and the test asks only for half or more.
    killed = kill_when(job_command("embed-spectra", argv), lambda: len(resume_markers(out)) >= TASKS // 2,
                       env=subprocess_env(**HOLD_COMMIT))
    assert killed.killed, killed.log
    kept = len(resume_markers(out))
    assert TASKS // 2 <= kept <= TASKS and not out.exists()
    resumed = run_here("embed-spectra", argv)
    assert resumed["resumed_tasks"] == kept
    assert table_rows(out) == table_rows(ref)


# ---- Spark jobs: the fault switch in the workers of the shared local[2] session (no retries) -------------

class worker_env:
    """``SKYSIFT_FAIL_TASK_ONCE=value`` in the environment of the Python workers of functions made inside the
    block (pyspark passes ``sc.environment`` with every Python function it ships)."""

    def __init__(self, spark, value: str):
        self.spark, self.env, self.value = spark, spark.sparkContext.environment, value

    def __enter__(self):
        self.env["SKYSIFT_FAIL_TASK_ONCE"] = self.value

    def __exit__(self, *exc):
        self.env.pop("SKYSIFT_FAIL_TASK_ONCE", None)
        _settle(self.spark)


def _settle(spark, timeout_s: float = 60.0) -> None:
    """Wait until the failed job's other running task is over. When one task fails, Spark aborts the job and
    the driver raises at once, while the task on the other core may still finish its item and write its marker
    (CI, session 7: 3 markers listed, 4 at the rerun). Spark kills a cancelled task's Python worker after
    spark.python.task.killTimeout (2 s by default): no active stage, then that long again, and no marker can
    still appear."""
    import time

    tracker, deadline = spark.sparkContext.statusTracker(), time.monotonic() + timeout_s
    while tracker.getActiveStageIds() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(float(spark.conf.get("spark.python.task.killTimeout", "2s").rstrip("s")) + 1.0)


SHARDS = 6


def _kb_argv(vectors: Path, out: Path, *extra: str) -> list:
    sets = ["index.kind=ivfpq", "index.nlist=4", "index.pq_m=4", "index.pq_nbits=4", f"n_shards={SHARDS}",
            "train_sample_size=300", "diagnostics_sample=50", *extra]
    return ["--embeddings", vectors / "emb", "--labels", vectors / "labels", "--output", out,
            *[a for s in sets for a in ("--set", s)]]


@pytest.mark.slow
def test_build_kb_failed_at_a_shard_keeps_the_trained_index_and_the_finished_shards(spark, vectors, tmp_path):
    from skysift.kb.store import TRAINED_FILE

    ref = tmp_path / "ref"
    alone = run_here("build-kb", _kb_argv(vectors, ref), spark)
    assert alone["resumed_tasks"] == 0 and alone["shards"] == SHARDS and not alone["trained_index_kept"]
    expected = table_rows(ref)

    out = tmp_path / "out"
    argv = _kb_argv(vectors, out)
    # task:3: shard 3 only, not partition 3 of the training sample's writer (inject_partition_fault)
    with worker_env(spark, "raise:task:3"), pytest.raises(Exception, match="injected failure"):
        run_here("build-kb", argv, spark)
    # the item markers of the shards that finished before shard 3 failed
    staged = staging_path(out)
    kept_ids = sorted(int(p.name.split("-")[1]) for p in (staged / "_resume" / "shards").glob("item-*.json"))
    assert 1 <= len(kept_ids) < SHARDS and 3 not in kept_ids and (staged / TRAINED_FILE).exists()
    trained_before = (staged / TRAINED_FILE).read_bytes()
    before = _mtimes(staged, [f"shards/shard-{s:05d}.faiss" for s in kept_ids])

    resumed = run_here("build-kb", argv, spark)
    assert resumed["resumed_tasks"] == len(kept_ids) and resumed["trained_index_kept"] is True
    assert resumed["shards"] == SHARDS and resumed["written"] == alone["written"]
    assert (out / TRAINED_FILE).read_bytes() == trained_before
    assert _mtimes(out, sorted(before)) == before  # the kept shards were not rewritten (a rename keeps times)
    assert table_rows(out) == expected
    assert resumed["kb_version"] == alone["kb_version"]  # the same index bytes in every shard
    # every file byte for byte, but _kb.json (build timings) and the manifest (its size)
    assert _files(out, "_kb.json") == _files(ref, "_kb.json")

    with worker_env(spark, "raise:task:2"), pytest.raises(Exception, match="injected failure"):
        run_here("build-kb", argv, spark)
    afresh = run_here("build-kb", [*argv, "--set", "resume=false"], spark)
    assert afresh["resumed_tasks"] == 0 and not afresh["trained_index_kept"]
    assert table_rows(out) == expected


def _xmatch_argv(catalogs: Path, out: Path, *extra: str) -> list:
    sets = ["mode=all", "left_id_column=lid", "right_id_column=rid", "radius_arcsec=3", "target_rows_per_group=120",
            *extra]
    return ["--left", catalogs / "left", "--right", catalogs / "right", "--output", out,
            *[a for s in sets for a in ("--set", s)]]


@pytest.mark.slow
def test_crossmatch_failed_at_a_group_reruns_only_the_unfinished_groups(spark, catalogs, tmp_path):
    ref = tmp_path / "ref"
    alone = run_here("crossmatch", _xmatch_argv(catalogs, ref), spark)
    n_groups = alone["groups"]
    assert alone["resumed_tasks"] == 0 and n_groups >= 6 and alone["pairs"] > 400
    expected = table_rows(ref)

    # a group that has rows (a task), about half-way: the switch names the group id
    groups = sorted(int(p.stem.split("-")[1]) for p in ref.glob("part-*.parquet"))
    middle = groups[len(groups) // 2]
    out = tmp_path / "out"
    argv = _xmatch_argv(catalogs, out)
    with worker_env(spark, f"raise:task:{middle}"), pytest.raises(Exception, match="injected failure"):
        run_here("crossmatch", argv, spark)
    markers = staging_path(out) / "_resume" / "groups"
    kept = sorted(markers.glob("item-*.json"))
    assert 1 <= len(kept) < n_groups and f"item-{middle:010d}-of-{n_groups:010d}.json" not in {p.name for p in kept}
    resumed = run_here("crossmatch", argv, spark)
    assert resumed["resumed_tasks"] == len(kept) and resumed["groups"] == n_groups
    assert {k: resumed[k] for k in ("read", "written", "pairs", "rows_written")} == \
        {k: alone[k] for k in ("read", "written", "pairs", "rows_written")}
    assert table_rows(out) == expected
    assert sorted(p.name for p in out.glob("part-*")) == sorted(p.name for p in ref.glob("part-*"))
    assert _files(out, "_table.json") == _files(ref, "_table.json")  # but the summary (resumed_tasks)

    with worker_env(spark, f"raise:task:{middle}"), pytest.raises(Exception, match="injected failure"):
        run_here("crossmatch", argv, spark)
    afresh = run_here("crossmatch", [*argv, "--set", "resume=false"], spark)
    assert afresh["resumed_tasks"] == 0 and table_rows(out) == expected


def test_embed_resume_key_holds_a_local_model_s_files_but_not_a_registry_download(encoder, tmp_path):
    """A checkpoint rewritten in place changes the key; a registry model's download folder (new at every run)
    does not enter it: its version does."""
    import os

    from skysift.runtime.resume import model_fingerprint as _model_fingerprint

    local = _model_fingerprint(str(encoder), str(encoder))
    assert local["n_files"] == 1
    copy = tmp_path / "encoder.pt"
    copy.write_bytes(encoder.read_bytes())
    first = _model_fingerprint(str(copy), str(copy))
    st = os.stat(copy)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    assert _model_fingerprint(str(copy), str(copy)) != first
    assert _model_fingerprint("models:/skysift-spec-encoder@champion", str(tmp_path)) is None
    assert _model_fingerprint("runs:/abc/model", str(tmp_path)) is None

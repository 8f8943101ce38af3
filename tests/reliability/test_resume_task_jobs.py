"""Resume of the jobs whose work goes through ``runtime.tasks.run_tasks`` (issue 18 part 3; RELIABILITY.md):
ingest-frames (fields), embed-images and predict-sfr (the input's row groups), build-image-index (shards of
the vector files, the trained index kept), search-images (the exhaustive scan's feature files, results in
the markers), detect-sources (the tile pass's row groups) and find-emission-lines (the line search's and the
scoring's row groups, the trained PQ runs kept).

For each job of ``JOBS``, in its sequential twin on the tiny inputs of ``conftest.Inputs``: a run is
interrupted after k of its n tasks (``run_tasks``' task raises at the (k+1)-th call, in this process); the
rerun with resume must run only the n - k others (counted), report ``resumed_tasks == k`` and give the rows
of an uninterrupted run, file for file (byte for byte where the job is deterministic); ``resume=false`` and
a changed config resume none. A new job joins with one line in ``JOBS``.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from skysift.testing.faults import resume_markers, run_here, snapshot, staging_path, table_rows


@dataclass(frozen=True)
class Case:
    """One job: its argv on tiny inputs, where to interrupt it and what two runs must share."""

    job: str
    argv: Callable  # (conftest.Inputs, output folder) -> argv
    k: int
    """Tasks that finish before the interruption."""
    changed: str
    """A --set that changes the config (so the resume key) but not the rows."""
    ignore: tuple[str, ...] = ()
    """Columns that differ between two runs by design (wall times)."""
    timed: tuple[str, ...] = ()
    """Files that differ between two runs by design (timings, or tables with ``ignore`` columns); every
    other file must be byte-identical."""
    tasks: str = "tasks"
    """The summary's task count key."""
    interrupt: str = ""
    """The function interrupted, as module:name, when it is not run_tasks' task (make-cutouts: its per-field
    ``cut_field``, one call per work item)."""
    kept: str = ""
    """A summary flag that must be true on the resumed run only (build-image-index: the trained index)."""
    items: int = 0
    """Item markers (``runtime.resume.finish_item``) the interrupted run leaves besides its k task markers
    (find-emission-lines: its trained PQ run)."""


def _sets(*sets: str) -> list:
    return [a for s in sets for a in ("--set", s)]


JOBS = [
    Case("ingest-frames", lambda i, o: ["--input", i.frames, "--output", o, *_sets("tiles.size_px=128")], k=1,
         changed="rgb.png_compress_level=2", ignore=("seconds",), timed=("fields/part-0000000000.parquet",
                                                                          "fields/part-0000000001.parquet")),
    Case("make-cutouts", lambda i, o: ["--catalog", i.positions, "--input", i.fields, "--output", o,
                                       *_sets("bands=gri")], k=1, changed="catalog_batch_rows=5", tasks="fields",
         interrupt="skysift.stages.make_cutouts.job:cut_field"),
    Case("embed-images", lambda i, o: ["--input", i.stamps, "--output", o, *_sets(
        f"model_uri={i.image_encoder}", "torch_threads=1", "rows_per_task=16")], k=2, changed="cpu_batch_size=5"),
    Case("build-image-index", lambda i, o: ["--input", i.image_vectors, "--output", o, *_sets(
        "n_shards=3", "index.kind=ivfpq", "index.nlist=4", "index.pq_m=4", "index.pq_nbits=4")], k=2,
         changed="faiss_threads_per_task=0", timed=("_kb.json",), kept="trained_index_kept"),
    Case("search-images", lambda i, o: ["--index", i.image_index, "--output", o, *_sets(
        f"query={i.stamps}", f"model_uri={i.image_encoder}", "mode=exhaustive", "exhaustive_tasks=3",
        "contact_sheets=2")], k=2, changed="candidates=7"),  # faiss mode only: same rows
    Case("predict-sfr", lambda i, o: ["--input", i.sfr_rows, "--output", o, *_sets(
        f"model_uri={i.sfr_model}", "rows_per_task=10", "device=cpu", "torch_threads=1")], k=2,
         changed="partitions=3"),  # reader=spark only: same rows
    Case("detect-sources", lambda i, o: ["--input", i.detection.root, "--output", o, *_sets(
        f"catalog={i.detection.photoobj}", f"detector_uri={i.detection_models.detector}",
        f"classifier_uri={i.detection_models.classifier}", "detector.conf=0.001", "detector.max_det=100",
        "tiles_per_task=4", "hats=false")], k=1, changed="target_rows_per_group=1000", tasks="tile_tasks",
         timed=("_table.json",)),
    # 4 line-search tasks (26 row groups), the PQ run trained (its item marker), then 1 of 4 scoring tasks:
    # 5 of 8 tasks and 1 of 1 PQ run finished, 6 markers; the rerun also keeps the trained run
    Case("find-emission-lines", lambda i, o: ["--input", i.pool / "spectra", "--output", o, *_sets(
        f"templates={i.pool / 'templates'}", "pq.configurations=[2/25/100]", "rows_per_task=100")], k=5, items=1,
         changed="report=false", kept="resumed_pq_runs",
         timed=("_table.json", "report/report.html",  # seconds per stage; the HATS properties' creation dates:
                *(f"catalogs/{c}/hats/{f}" for c in ("galaxies", "hii") for f in ("properties", "hats.properties")))),
]


class Interrupt:
    """``run_tasks`` of every loaded module wrapped (or ``case.interrupt``): counts the tasks that run, raises
    KeyboardInterrupt instead of the (k+1)-th when ``k`` is set."""

    def __init__(self, case: Case, monkeypatch):
        import importlib

        from skysift import cli
        from skysift.runtime import tasks

        cli.load_job(case.job)  # its modules imported, with the names they import from runtime.tasks
        self.real, self.calls, self.k = tasks.run_tasks, [], None
        if case.interrupt:
            module, name = case.interrupt.split(":")
            fn = getattr(importlib.import_module(module), name)
            monkeypatch.setattr(importlib.import_module(module), name, lambda *a: self.counted(fn, len(self.calls), *a))
            return
        for module in [m for name, m in list(sys.modules.items()) if name.startswith("skysift.")]:
            if getattr(module, "run_tasks", None) is self.real:
                monkeypatch.setattr(module, "run_tasks", self.run_tasks)

    def counted(self, fn, first, *args):
        if self.k is not None and len(self.calls) == self.k:
            raise KeyboardInterrupt("interrupted (test)")
        self.calls.append(first)
        return fn(*args)

    def run_tasks(self, task, items, n_tasks, spark=None, markers=None):
        return self.real(lambda first, part: self.counted(task, first, first, part), items, n_tasks, spark,
                         markers=markers)

    def run(self, job: str, argv: list, k: int | None = None) -> dict | None:
        """The job's twin, interrupted after ``k`` tasks (None: to its end; returns the summary)."""
        self.calls.clear()
        self.k = k
        if k is None:
            return run_here(job, argv)
        with pytest.raises(KeyboardInterrupt):
            run_here(job, argv)
        return None


def _files(out: Path, timed: tuple[str, ...]) -> dict[str, str]:
    """sha256 of every file of an output but ``timed`` ones and the manifest (which holds their sizes)."""
    return {k: v for k, v in snapshot(out).items() if k not in {*timed, "_manifest.json"}}


@pytest.mark.parametrize("case", JOBS, ids=[c.job for c in JOBS])
def test_interrupted_after_k_tasks_reruns_only_the_others(case: Case, inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    argv = case.argv(inputs, out)  # builds the inputs (some run other jobs) before run_tasks is wrapped
    runs = Interrupt(case, monkeypatch)
    alone = runs.run(case.job, argv)  # the reference, at the same path (outputs record their own path)
    n = alone[case.tasks]
    assert alone["resumed_tasks"] == 0 and len(runs.calls) == n and n > case.k, alone
    expected, files, names = table_rows(out, case.ignore), _files(out, case.timed), sorted(snapshot(out))
    assert sum(map(len, expected.values())) > 0
    shutil.rmtree(out)

    runs.run(case.job, argv, k=case.k)
    assert len(resume_markers(out)) == case.k + case.items and not out.exists()  # staging kept, nothing committed
    resumed = runs.run(case.job, argv)
    assert resumed["resumed_tasks"] == case.k and len(runs.calls) == n - case.k  # only the others ran
    assert not case.kept or (resumed[case.kept] and not alone[case.kept])
    assert not case.items or resumed[case.kept] == case.items  # the runs with an item marker, not trained again
    assert {k: resumed[k] for k in ("read", "written", "rejected")} == {k: alone[k] for k in ("read", "written", "rejected")}
    assert table_rows(out, case.ignore) == expected
    assert _files(out, case.timed) == files and sorted(snapshot(out)) == names  # same names, same bytes
    assert not staging_path(out).exists()

    runs.run(case.job, argv, k=case.k)
    afresh = runs.run(case.job, [*argv, "--set", "resume=false"])
    assert afresh["resumed_tasks"] == 0 and len(runs.calls) == n and table_rows(out, case.ignore) == expected
    assert not case.kept or not afresh[case.kept]

    runs.run(case.job, argv, k=case.k)
    changed = runs.run(case.job, [*argv, "--set", case.changed])  # another config: afresh
    assert changed["resumed_tasks"] == 0 and len(runs.calls) == n and table_rows(out, case.ignore) == expected


def test_detect_sources_resume_deletes_what_followed_the_tile_pass(tmp_path):
    """A run killed after its tile pass leaves sources, catalogs and rejects: the rerun keeps only the tile
    pass's files and the resume bookkeeping, and writes the rest again."""
    from skysift.stages.detect_sources.job import _clear_after_tile_pass

    kept = ["_resume/key.json", "_resume/tasks/task-0000000000-0000000001.json", "_work/raw/part-0000000000.parquet"]
    left = ["_work/sources/part-0.parquet", "catalog/part-0.parquet", "_rejects/part-tiles.parquet", "_table.json",
            ".hidden.tmp-1"]
    for rel in kept + left:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    _clear_after_tile_pass(str(tmp_path))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == kept

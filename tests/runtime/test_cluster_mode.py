"""Cluster mode: `spark-submit jobs/ingest_spectra.py --profile cluster` on a standalone master + worker.

The cluster (skysift.testing.standalone) runs on 127.0.0.1 from the venv's
pyspark. The job's driver is a spark-submit subprocess; its tasks run in an
executor the worker launches. The result must equal a local-mode run of the
same command line, row for row and value for value.
"""
from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from skysift.cli import run_job
from skysift.runtime.rejects import read_rejects
from skysift.paths import REPO_ROOT, shared_data_dir
from skysift.schema import SPECTRA
from skysift.testing.standalone import LOOPBACK, standalone_cluster

FILES_PER_TASK = 3
# Spec-lite and full-spec layouts, a BOSS file (SPALL HDU), a high-z QSO; two of them cover too little
# of the grid and are rejected for coverage (real rejects made on the executors).
REAL_SDSS = ("spec-0280-51612-0117.fits", "spec-0332-52367-0639.fits", "spec-3586-55181-0003.fits",
             "spec-1931-53358-0251.fits", "spec-0266-51602-0107.fits")
REAL_LAMOST = ("spec-55862-B6212_sp06-003.fits",)
# Broken files that must arrive in _rejects through the executors, one per stage.
BROKEN = {"truncated_in_coadd.fits": "read", "all_nan_flux.fits": "validate",
          "outside_grid_4.0_4.1.fits": "resample"}


def _inputs(folder: Path) -> tuple[list[str], int]:
    """Input files (a few real ones, else synthetic SDSS/LAMOST FITS) + broken ones; and the good count."""
    from skysift.synth.broken_files import write_broken_corpus

    data = shared_data_dir()
    good: list[Path] = []
    if data is not None:
        good = [data / "sdss-spectra" / n for n in REAL_SDSS] + [data / "lamost-spectra" / n for n in REAL_LAMOST]
        good = [p for p in good if p.exists()]
    if len(good) < 3:
        from skysift.synth.fits_writers import write_batch
        from skysift.synth.model import SynthModelConfig, generate

        batch = generate(np.arange(6, dtype=np.int64), 7, SynthModelConfig())
        good = [folder / "synth" / rel for rel in write_batch(batch, folder / "synth", 7, "astropy")]
    expected = write_broken_corpus(folder / "broken")
    assert all(expected[name] == stage for name, stage in BROKEN.items())
    return [str(p) for p in good] + [str(folder / "broken" / n) for n in BROKEN], len(good)


def _env_archive(folder: Path) -> tuple[Path, Path]:
    """A stand-in for a venv-pack archive: env/bin/python runs this venv's python and logs each start.

    A real skysift-env.tar.gz is gigabytes (STACK.md); the mechanics under test are
    Spark's: the archive is unpacked as ./env in each executor's folder and
    spark.pyspark.python=./env/bin/python starts the Python workers from it.
    """
    used = folder / "env_python_starts.log"
    script = f'#!/bin/sh\necho "$PWD" >> {shlex.quote(str(used))}\nexec {shlex.quote(sys.executable)} "$@"\n'
    info = tarfile.TarInfo("bin/python")
    info.mode, info.size = 0o755, len(script.encode())
    archive = folder / "skysift-env.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(info, io.BytesIO(script.encode()))
    return archive, used


def _argv(files: list[str], output: Path) -> list[str]:
    return ["--profile", "cluster", "--input", ",".join(files), "--output", str(output),
            "--set", f"files_per_task={FILES_PER_TASK}"]


def _table(path: Path):
    return pads.dataset(str(path), format="parquet", partitioning="hive").to_table()


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """Start the cluster, spark-submit the ingest job, read the master's view, stop the cluster."""
    folder = tmp_path_factory.mktemp("cluster")
    files, n_good = _inputs(folder)
    archive, env_used = _env_archive(folder)
    out = folder / "spectra"
    started = time.perf_counter()
    with standalone_cluster(cores=2, memory="2g", root=folder / "standalone") as cluster:
        up = time.perf_counter() - started
        # The shipping pattern of docs/cluster.md: executors take python from the archive,
        # the driver (client mode) from the submitting machine's environment.
        conf = {"spark.pyspark.python": "./env/bin/python", "spark.pyspark.driver.python": sys.executable}
        proc = cluster.submit(REPO_ROOT / "jobs" / "ingest_spectra.py", _argv(files, out), conf=conf,
                              archives=[f"{archive}#env"], cwd=REPO_ROOT, timeout_s=300)
        if proc.returncode != 0:
            pytest.fail(f"spark-submit failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}")
        apps = cluster.applications()
        executor_logs = {a["id"]: [p.read_text(errors="replace") for p in cluster.executor_logs(a["id"])]
                         for a in apps}
        master_url, pids = cluster.master_url, _group_pids(cluster.root)
    stopped = _group_pids(folder / "standalone")
    starts = env_used.read_text().split() if env_used.exists() else []
    return {"files": files, "n_good": n_good, "out": out, "proc": proc, "apps": apps, "env_starts": starts,
            "work_dir": folder / "standalone" / "work",
            "executor_logs": executor_logs, "master_url": master_url, "pids_running": pids,
            "pids_after_stop": stopped, "startup_s": up, "total_s": time.perf_counter() - started}


def _group_pids(root: Path) -> list[int]:
    """Processes whose command line mentions the cluster's folder (daemons, executors)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmd and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def local_run(spark, cluster_run, tmp_path_factory):
    """The same command line through the same runner, in local mode."""
    out = tmp_path_factory.mktemp("local") / "spectra"
    argv = _argv(cluster_run["files"], out)
    argv[argv.index("cluster")] = "local"
    summary = run_job("ingest-spectra", argv, spark=spark)
    return {"summary": summary, "out": out}


def _summary(proc: subprocess.CompletedProcess) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


@pytest.mark.slow
def test_summary_is_the_last_stdout_line(cluster_run):
    s = _summary(cluster_run["proc"])
    n_files = len(cluster_run["files"])
    assert s["job"] == "ingest-spectra"
    assert s["output"] == str(cluster_run["out"].absolute())
    assert s["files"] == n_files
    assert s["read"] == s["written"] + s["rejected"] and s["balanced"] is True
    # Each input file holds one spectrum; sound files are rejected only for grid coverage.
    rejects = read_rejects(cluster_run["out"]).to_pandas()
    low_coverage = int(rejects.reason.str.contains("below min_coverage_fraction").sum())
    assert s["rejected"] == len(BROKEN) + low_coverage
    assert s["written"] == cluster_run["n_good"] - low_coverage >= 3
    # the job makes at least two tasks per executor core (2 cores here) for balance
    assert s["tasks"] == max(-(-n_files // FILES_PER_TASK), min(n_files, 2 * 2))


@pytest.mark.slow
def test_ran_on_the_standalone_master(cluster_run):
    apps = [a for a in cluster_run["apps"] if a["name"] == "skysift-ingest-spectra"]
    assert len(apps) == 1, cluster_run["apps"]
    app = apps[0]
    assert app["state"] == "FINISHED" and app["cores"] == 2
    assert f"Connecting to master {cluster_run['master_url']}" in cluster_run["proc"].stderr
    # The tasks ran in an executor launched by the worker, which logged them.
    logs = cluster_run["executor_logs"][app["id"]]
    assert logs, "worker launched no executor"
    finished = sum(log.count("Finished task") for log in logs)
    assert finished >= _summary(cluster_run["proc"])["tasks"]


@pytest.mark.slow
def test_executors_used_the_shipped_environment(cluster_run):
    """--archives ...#env unpacked in the executor's folder; Python workers started from ./env/bin/python."""
    app_id = [a["id"] for a in cluster_run["apps"] if a["name"] == "skysift-ingest-spectra"][0]
    starts = cluster_run["env_starts"]
    assert starts, "no Python worker started from ./env/bin/python"
    app_dir = cluster_run["work_dir"] / app_id
    assert all(Path(cwd).resolve().is_relative_to(app_dir.resolve()) for cwd in starts), starts


@pytest.mark.slow
def test_cluster_stopped_and_loopback_only(cluster_run):
    assert cluster_run["pids_running"], "expected master/worker processes while the cluster was up"
    assert cluster_run["pids_after_stop"] == []
    assert cluster_run["master_url"].startswith(f"spark://{LOOPBACK}:")
    print(f"cluster up in {cluster_run['startup_s']:.1f} s, whole cluster run {cluster_run['total_s']:.1f} s")


@pytest.mark.slow
def test_output_table_has_the_spectra_schema(cluster_run):
    s = _summary(cluster_run["proc"])
    table = _table(cluster_run["out"])
    assert table.num_rows == s["written"]
    assert sorted(table.column_names) == sorted(SPECTRA.names)
    for name in SPECTRA.names:
        if name == "healpix_part":  # the partition folder name; type inferred by the reader
            assert pa.types.is_integer(table.schema.field(name).type)
        else:
            assert table.schema.field(name).type == SPECTRA.field(name).type, name
    n_grid = {len(f) for f in table.column("flux").to_pylist()}
    assert n_grid == {3688}
    rejects = read_rejects(cluster_run["out"]).to_pandas()
    assert len(rejects) == s["rejected"]
    assert set(table.column("source_file").to_pylist()) | set(rejects.source_file) == set(cluster_run["files"])
    stages = {Path(p).name: st for p, st in zip(rejects.source_file, rejects.stage)}
    assert {name: stages.get(name) for name in BROKEN} == BROKEN


@pytest.mark.slow
def test_values_equal_a_local_mode_run(cluster_run, local_run):
    cl, lo = _summary(cluster_run["proc"]), local_run["summary"]
    for key in ("read", "written", "rejected", "files", "tasks"):
        assert cl[key] == lo[key], key
    a = _table(cluster_run["out"]).to_pandas().sort_values("spec_id").reset_index(drop=True)
    b = _table(local_run["out"]).to_pandas().sort_values("spec_id").reset_index(drop=True)
    assert list(a.spec_id) == list(b.spec_id) and len(a) == cl["written"]
    for col in SPECTRA.names:
        if col in ("flux", "ivar"):
            for x, y in zip(a[col], b[col]):
                assert np.array_equal(np.asarray(x), np.asarray(y)), col
        else:
            assert a[col].equals(b[col]), col  # exact, NaN where NaN
    ra = read_rejects(cluster_run["out"]).to_pandas().sort_values("source_file").reset_index(drop=True)
    rb = read_rejects(local_run["out"]).to_pandas().sort_values("source_file").reset_index(drop=True)
    assert ra[["source_file", "stage", "reason"]].equals(rb[["source_file", "stage", "reason"]])



def test_cluster_doc_lists_every_job():
    """docs/cluster.md gives a spark-submit line for each job that has a jobs/ entry point."""
    from skysift.cli import job_names

    doc = (REPO_ROOT / "docs" / "cluster.md").read_text()
    entry_points = {name for name in job_names() if (REPO_ROOT / "jobs" / f"{name.replace('-', '_')}.py").exists()}
    assert "ingest-spectra" in entry_points
    missing = sorted(n for n in entry_points if f"$SUBMIT jobs/{n.replace('-', '_')}.py " not in doc)
    assert not missing, f"docs/cluster.md has no spark-submit line for {missing}"

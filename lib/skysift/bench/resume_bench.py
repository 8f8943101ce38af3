"""`skysift benchmark resume`: a long job killed at about half its tasks, then rerun, against a run alone.

For synth-survey (format=parquet, ``n_spectra`` rows, default 20,000) and ingest-spectra (``n_files`` FITS
files of a synth-survey, default 2,000), each cut into 16 tasks:

1. the job runs alone in this Spark session into OUTPUT (``full_s``), and its files are hashed;
2. the same command runs as ``skysift JOB`` in a separate process (local profile) and is SIGKILLed with every
   process below it when half of its tasks have written their completion markers (runtime.tasks);
3. the job runs again in this session (``resumed_s``): it keeps the killed run's complete tasks and runs
   the rest; its output must be byte-identical to step 1's (``identical``), and ``resumed_tasks`` says how
   many tasks it skipped.

``ratio`` = resumed_s / full_s: about 0.5 when resuming works (the driver's fixed costs, listing and
committing, are paid again).
"""
from __future__ import annotations

import time
from pathlib import Path


def _timed_run(spark, job: str, argv: list) -> tuple[float, dict]:
    from skysift.testing.faults import run_here

    start = time.perf_counter()
    summary = run_here(job, argv, spark)
    return time.perf_counter() - start, summary


def resume_case(spark, job: str, argv: list, output: Path, n_tasks: int, line) -> dict:
    """Steps 1-3 of the module docstring for one job; its result line."""
    from skysift.testing.faults import job_command, kill_when, resume_markers, snapshot, subprocess_env

    full_s, full = _timed_run(spark, job, argv)
    reference = snapshot(output)
    half = n_tasks // 2
    killed = kill_when(job_command(job, argv, spark=True), lambda: len(resume_markers(output)) >= half,
                       env=subprocess_env(), timeout_s=3600)
    if not killed.killed:
        raise RuntimeError(f"{job}: the run to kill ended by itself (exit {killed.returncode}): {killed.log[-800:]}")
    markers_at_kill = len(resume_markers(output))
    previous_kept = snapshot(output) == reference
    resumed_s, resumed = _timed_run(spark, job, argv)
    identical = snapshot(output) == reference
    return line(f"resume[{job}]", resumed_s, full_s, tasks=n_tasks, markers_at_kill=markers_at_kill,
                resumed_tasks=resumed.get("resumed_tasks"), killed_after_s=round(killed.seconds, 1),
                full_s=round(full_s, 2), resumed_s=round(resumed_s, 2), ratio_resumed_to_full=round(resumed_s / full_s, 3),
                previous_output_kept=previous_kept, identical=identical, written=resumed.get("written"))


def run_resume_benchmark(spark, cfg, workdir: Path, line) -> dict:
    """Both jobs (module docstring); returns their result lines."""
    from skysift.testing.faults import run_here

    tasks = 16
    n = cfg.n_spectra or 20_000
    synth_out = workdir / "synth"
    synth_argv = ["--output", synth_out, "--set", f"n_spectra={n}", "--set", "format=parquet",
                  "--set", f"rows_per_partition={-(-n // tasks)}", "--set", f"seed={cfg.seed}"]
    results = {"synth-survey": resume_case(spark, "synth-survey", synth_argv, synth_out, tasks, line)}

    survey = workdir / "survey"
    run_here("synth-survey", ["--output", survey, "--set", f"n_spectra={cfg.n_files}", "--set", f"seed={cfg.seed}",
                              "--set", f"rows_per_partition={-(-cfg.n_files // tasks)}"], spark)
    ingest_out = workdir / "ingest"
    ingest_argv = ["--input", survey / "spectra", "--output", ingest_out,
                   "--set", f"files_per_task={-(-cfg.n_files // tasks)}"]
    results["ingest-spectra"] = resume_case(spark, "ingest-spectra", ingest_argv, ingest_out, tasks, line)
    return {"case": "resume", "jobs": results}

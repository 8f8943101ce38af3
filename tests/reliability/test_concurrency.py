"""Concurrent writers (issue 18 part 4; RELIABILITY.md): two runs of a job writing one output at once, and
runs registering models in one MLflow store at once."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from skysift.testing.faults import (
    job_command,
    last_json_line,
    main,
    run_here,
    staged_data_files,
    subprocess_env,
    table_rows,
)

GRID = "lin:3850:9000:200"


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("concurrency") / "survey"
    run_here("synth-survey", ["--output", out, "--set", "n_spectra=24", "--set", "rows_per_partition=6"])
    return out


JOBS = {
    "ingest-spectra": lambda survey, out: ["--input", survey / "spectra", "--output", out, "--set", "files_per_task=6"],
    "synth-survey": lambda survey, out: ["--output", out, "--set", "n_spectra=24", "--set", "rows_per_partition=6"],
}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_second_writer_fails_clearly_and_the_first_commits_whole(job, survey, tmp_path, capsys):
    """Run A holds the output (its lock, from staging to commit); run B, started meanwhile, exits 2 with one
    line naming the output, A's pid and the lock file, and leaves A's lock; A then commits the same rows as a
    run alone (B emptied nothing of A's staging folder: it fails before touching it)."""
    ref = tmp_path / "ref"
    run_here(job, JOBS[job](survey, ref))
    out = tmp_path / "out"
    argv = JOBS[job](survey, out)
    first = subprocess.Popen(job_command(job, argv), env=subprocess_env(SKYSIFT_TEST_HOLD_COMMIT_S="4"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not staged_data_files(out):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        capsys.readouterr()
        assert main([job, *map(str, argv)]) == 2  # B: the same runner as A, in this process
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith(f"skysift {job}: error: {out}: another run is writing this output")
        assert f"(pid {first.pid} on " in err and f".{out.name}.lock" in err
        assert json.loads((out.parent / f".{out.name}.lock").read_text())["pid"] == first.pid  # still A's
        assert first.poll() is None, "A finished before B tried: the test did not overlap them"
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr[-2000:]
    assert last_json_line(stdout)["output"] == str(out)
    assert table_rows(out) == table_rows(ref)


REGISTER = textwrap.dedent("""
    import json, os, sys, time
    from skysift.runtime import tracking
    model_uri, loss, go = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    mlf = tracking.mlflow_module()
    from mlflow import MlflowClient
    read_holder = MlflowClient.get_model_version_by_alias
    def slow_read(self, *args, **kwargs):  # widen the read-holder -> move-alias window to half a second
        try:
            return read_holder(self, *args, **kwargs)
        finally:
            time.sleep(0.5)
    MlflowClient.get_model_version_by_alias = slow_read
    MlflowClient().search_registered_models()  # connected and warm before the start signal
    open(go + f".ready-{os.getpid()}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    out = tracking.register_encoder(mlf, model_uri, "race-encoder", "champion", loss, {"grid_id": "g"})
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_concurrent_registrations_keep_every_version_and_the_best_champion(tmp_path, monkeypatch):
    """Four processes register at the same instant (a start file), losses 0.4, 0.3, 0.5, 0.2 on one grid: the
    registry holds four versions and the alias is on the one with loss 0.2, whatever the interleaving. Each
    process waits half a second after reading the alias's holder, so that without the registry lock the
    processes decide on a stale holder and the last alias write wins (measured: it then fails)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    import torch

    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder
    from skysift.runtime import tracking

    mlf = tracking.mlflow_module(uri)
    torch.manual_seed(0)
    with mlf.start_run(experiment_id=tracking.experiment_id(mlf, "race", uri)):
        info = tracking.log_encoder(mlf, SpectrumEncoder(EncoderConfig(profile="tiny", n_points=200, grid_id=GRID)))
    go = tmp_path / "go"
    losses = [0.4, 0.3, 0.5, 0.2]
    env = subprocess_env()
    procs = [subprocess.Popen([sys.executable, "-c", REGISTER, info.model_uri, str(loss), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for loss in losses]
    deadline = time.monotonic() + 300
    while len(list(tmp_path.glob("go.ready-*"))) < len(procs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a registering process died"
        time.sleep(0.05)
    go.touch()
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    from mlflow import MlflowClient

    client = MlflowClient()
    versions = client.search_model_versions("name='race-encoder'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
    by_version = {int(v.version): float(v.tags["val_loss"]) for v in versions}
    champion = client.get_model_version_by_alias("race-encoder", "champion")
    assert by_version[int(champion.version)] == 0.2
    assert sorted(o["model_version"] for o in outs) == [1, 2, 3, 4]


@pytest.mark.slow
def test_two_pretrain_runs_registering_at_once(tmp_path, monkeypatch):
    """Two `skysift pretrain` processes on one SQLite store, started together (tiny model, 6 steps, different
    learning rates): the registry ends with both versions, and the champion alias is on the one with the
    lower validation loss (the rule of runtime.tracking.register_encoder on one grid)."""
    from skysift.synth.toy_spectra import write_toy_spectra

    table = write_toy_spectra(tmp_path / "spectra", 60, GRID, seed=2, row_group_rows=16)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = subprocess_env(MLFLOW_TRACKING_URI=uri, SKYSIFT_RUNS_DIR=str(tmp_path / "runs"))
    sets = ["model.n_points=200", f"model.grid_id={GRID}", "model.profile=tiny", "model.dropout=0.0", "batch_size=8",
            "warmup_steps=2", "total_steps=6", "val_every=3", "val_batches=2", "val_fraction=0.2", "log_every=1",
            "shuffle_buffer=32", "progress=false", "mlflow.registered_model=race-pretrain"]
    procs = []
    for k, lr in enumerate(("1e-3", "1e-6")):
        argv = ["--input", table, "--output", tmp_path / f"run{k}", *[a for s in [*sets, f"lr={lr}"] for a in ("--set", s)]]
        procs.append(subprocess.Popen(job_command("pretrain", argv), env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    summaries = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        summaries.append(last_json_line(stdout))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    from skysift.runtime import tracking

    tracking.mlflow_module(uri)
    from mlflow import MlflowClient

    client = MlflowClient()
    versions = {int(v.version): float(v.tags["val_loss"]) for v in client.search_model_versions("name='race-pretrain'")}
    assert sorted(versions) == [1, 2] and sorted(s["model_version"] for s in summaries) == [1, 2]
    champion = int(client.get_model_version_by_alias("race-pretrain", "champion").version)
    assert versions[champion] == min(versions.values())
    assert versions[champion] == min(s["best_val_loss"] for s in summaries)

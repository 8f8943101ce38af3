"""Pre-training: streaming loader, schedule, resume, DDP replicas, MLflow registry and champion alias."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from skysift.config import ConfigError, load_config
from skysift.io.parquet_stream import SpectraStream, StreamSpec, split_hash, table_files
from skysift.models.checkpoint import load_checkpoint
from skysift.stages.pretrain.job import PretrainConfig, launch
from skysift.stages.pretrain.tasks import BEST, LAST, warmup_cosine
from skysift.synth.toy_spectra import write_toy_spectra

GRID = "lin:3850:9000:200"
S = 200


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_toy_spectra(tmp_path_factory.mktemp("spectra") / "spectra", 240, GRID, seed=5,
                             n_nonfinite=3, row_group_rows=16)


def _cfg(table, out, *extra):
    return load_config(PretrainConfig, None, [
        f"input={table}", f"output={out}", "model.profile=tiny", f"model.n_points={S}", f"model.grid_id={GRID}",
        "model.dropout=0.1", "batch_size=8", "lr=1e-3", "warmup_steps=3", "total_steps=12", "val_every=4",
        "val_batches=2", "val_fraction=0.2", "checkpoint_every=3", "log_every=1", "shuffle_buffer=32",
        "progress=false", "mlflow.enabled=false", *extra,
    ])


def _rows(batches):
    return np.concatenate([b["flux"].numpy() for b in batches])


def _fingerprints(rows):
    return sorted(map(tuple, np.round(rows[:, :4], 5)))


def test_side_folders_are_skipped(table):
    files = table_files(table)
    assert files and all("_rejects" not in str(f) for f in files)
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == 240


def test_shards_cover_every_finite_row_once(table):
    full = _rows(SpectraStream(StreamSpec(str(table), S, 8, "all", repeat=False)))
    assert len(full) == 240 - 3  # the NaN rows are dropped
    for world, workers in ((2, 1), (3, 2)):
        parts = []
        for rank in range(world):
            loader = torch.utils.data.DataLoader(
                SpectraStream(StreamSpec(str(table), S, 8, "all", rank=rank, world_size=world, repeat=False)),
                batch_size=None, num_workers=workers)
            parts.append(_rows(loader))
        assert _fingerprints(np.concatenate(parts)) == _fingerprints(full)
        # every shard got some rows and no row went to two shards
        assert all(len(p) for p in parts)


def test_fewer_row_groups_than_slots_falls_back_to_row_split(tmp_path):
    small = write_toy_spectra(tmp_path / "s", 20, GRID, seed=1, row_group_rows=100)
    full = _rows(SpectraStream(StreamSpec(str(small), S, 4, "all", repeat=False)))
    parts = [_rows(SpectraStream(StreamSpec(str(small), S, 4, "all", rank=r, world_size=8, repeat=False)))
             for r in range(8)]
    assert _fingerprints(np.concatenate(parts)) == _fingerprints(full)


def test_train_val_split_is_disjoint_and_stable(table):
    train = _rows(SpectraStream(StreamSpec(str(table), S, 8, "train", val_fraction=0.2, repeat=False)))
    val = _rows(SpectraStream(StreamSpec(str(table), S, 8, "val", val_fraction=0.2, repeat=False)))
    assert len(train) + len(val) == 237
    assert not set(_fingerprints(train)) & set(_fingerprints(val))
    import pyarrow as pa

    ids = pa.array([f"synth-{i}" for i in range(20000)])
    u = split_hash(ids)
    np.testing.assert_array_equal(u, split_hash(ids))
    assert ((u >= 0) & (u < 1)).all()
    assert abs((u < 0.2).mean() - 0.2) < 0.01  # uniform enough for a held-out fraction
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.03
    for fmt in ("synth-%08d", "sdss-%04d-55182-%03d"):  # zero-padded ids differ in few bytes
        ids = pa.array([fmt % ((i,) if fmt.count("%") == 1 else (i // 1000, i % 1000)) for i in range(3000)])
        u = split_hash(ids)
        assert len(np.unique(u)) == 3000  # no collisions
        assert abs((u < 0.1).sum() - 300) < 4 * np.sqrt(3000 * 0.1 * 0.9)  # binomial: within 4 sigma


def test_stream_repeats_and_shuffles(table):
    spec = StreamSpec(str(table), S, 8, "all", shuffle_buffer=64, seed=3)
    it = iter(SpectraStream(spec))
    first = _rows([next(it) for _ in range(60)])  # > one epoch: the stream keeps going
    assert first.shape == (480, S)
    again = _rows([b for _, b in zip(range(60), SpectraStream(spec))])
    np.testing.assert_array_equal(first, again)  # a pure function of the seed (resume relies on it)
    other = _rows([b for _, b in zip(range(5), SpectraStream(StreamSpec(str(table), S, 8, "all", seed=4)))])
    assert not np.array_equal(first[:40], other)


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 2000, 500000) == pytest.approx(1 / 2000)
    assert warmup_cosine(999, 2000, 500000) == pytest.approx(0.5)
    assert warmup_cosine(2000, 2000, 500000) == pytest.approx(1.0)
    mid = 2000 + (500000 - 2000) // 2
    assert warmup_cosine(mid, 2000, 500000) == pytest.approx(0.5, abs=1e-6)
    assert warmup_cosine(500000, 2000, 500000) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(500000, 2000, 500000, 0.1) == pytest.approx(0.1)


def test_config_rejects_bad_values(table, tmp_path):
    with pytest.raises(ConfigError, match="warmup_steps"):
        _cfg(table, tmp_path, "warmup_steps=20")
    with pytest.raises(ConfigError, match="input"):
        load_config(PretrainConfig, None, [])
    cfg = _cfg(table, tmp_path, "model.grid_id=lin:3850:9000:3688", "model.n_points=3688")
    with pytest.raises(ConfigError, match="grid mismatch"):
        launch(cfg)


def test_resume_continues_the_same_loss_curve(table, tmp_path):
    full = launch(_cfg(table, tmp_path / "full"))
    part = launch(_cfg(table, tmp_path / "resumed", "stop_after_steps=6"))
    assert part["steps"] == 6 and len(part["history"]) == 6
    rest = launch(_cfg(table, tmp_path / "resumed", "resume=true"))
    assert rest["start_step"] == 6 and rest["steps"] == 12
    steps = [s for s, _ in part["history"] + rest["history"]]
    assert steps == list(range(1, 13))
    np.testing.assert_allclose([l for _, l in part["history"] + rest["history"]],
                               [l for _, l in full["history"]], rtol=1e-5)
    a = load_checkpoint(tmp_path / "full" / LAST)
    b = load_checkpoint(tmp_path / "resumed" / LAST)
    assert a["step"] == b["step"] == 12
    for k in a["model_state"]:
        torch.testing.assert_close(a["model_state"][k], b["model_state"][k], rtol=1e-5, atol=1e-6)
    # training learns: later losses are below the first ones
    losses = [l for _, l in full["history"]]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert math.isfinite(full["best_val_loss"]) and (tmp_path / "full" / BEST).exists()


def test_bf16_pretraining_keeps_fp32_weights_and_tracks_the_fp32_curve(table, tmp_path):
    """precision=bf16 autocasts the forward pass only: weights stay float32, the loss curve stays close."""
    fp32 = launch(_cfg(table, tmp_path / "fp32", "total_steps=6", "device=cpu"))
    bf16 = launch(_cfg(table, tmp_path / "bf16", "total_steps=6", "device=cpu", "precision=bf16"))
    a, b = (np.array([l for _, l in r["history"]]) for r in (fp32, bf16))
    assert not np.array_equal(a, b)  # autocast really ran
    np.testing.assert_allclose(b, a, rtol=0.05)
    state = load_checkpoint(tmp_path / "bf16" / LAST)["model_state"]
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    with pytest.raises(ConfigError, match="precision"):
        _cfg(table, tmp_path, "precision=fp16")


def test_two_gloo_processes_keep_identical_replicas(table, tmp_path):
    cfg = _cfg(table, tmp_path / "ddp", "num_processes=2", "launcher=spawn", "total_steps=4", "device=cpu")
    summary = launch(cfg)
    assert summary["world_size"] == 2 and summary["steps"] == 4
    assert summary["replica_max_abs_diff"] == 0.0
    single = launch(_cfg(table, tmp_path / "one", "total_steps=4", "device=cpu"))
    # two ranks saw different data than one process: the runs are not the same run
    assert summary["history"] != single["history"]


@pytest.mark.slow
def test_torch_distributor_local_mode(table, tmp_path, spark):
    cfg = _cfg(table, tmp_path / "td", "num_processes=2", "launcher=torch_distributor", "total_steps=3",
               "device=cpu")
    summary = launch(cfg, spark)
    assert summary["world_size"] == 2 and summary["replica_max_abs_diff"] == 0.0


def test_mlflow_registry_champion_and_fresh_process_load(table, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    on = ["mlflow.enabled=true", "total_steps=8", "val_every=4"]
    first = launch(_cfg(table, tmp_path / "r1", *on))
    assert first["model_version"] == 1 and first["promoted"] and first["champion_version"] == 1
    assert "experiments/" in first["mlflow_run"]
    # a much worse model (2 steps at a tiny lr) must not take the alias
    worse = launch(_cfg(table, tmp_path / "r2", *on, "total_steps=2", "warmup_steps=1", "lr=1e-7"))
    assert worse["model_version"] == 2 and not worse["promoted"] and worse["champion_version"] == 1
    # a version with a lower validation loss takes the alias (the same weights as run 1, re-registered)
    from skysift.runtime import tracking

    mlf = tracking.mlflow_module()
    better = tracking.register_encoder(mlf, first["model_uri"], "skysift-spec-encoder", "champion",
                                       first["best_val_loss"] - 1e-3, {"grid_id": GRID})
    assert better["model_version"] == 3 and better["promoted"] and better["champion_version"] == 3
    equal = tracking.register_encoder(mlf, first["model_uri"], "skysift-spec-encoder", "champion",
                                      first["best_val_loss"] - 1e-3, {"grid_id": GRID})
    assert not equal["promoted"] and equal["champion_version"] == 3  # ties keep the holder

    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    run = mlflow.get_run(first["mlflow_run_id"])
    assert run.data.params["batch_size"] == "8" and run.data.params["model.profile"] == "tiny"
    history = mlflow.MlflowClient().get_metric_history(first["mlflow_run_id"], "loss")
    assert [m.step for m in history] == list(range(1, 9))

    # reference embedding from the best checkpoint of run 1, in this process
    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder

    ckpt = load_checkpoint(tmp_path / "r1" / BEST)
    ref_model = SpectrumEncoder(EncoderConfig(**ckpt["model_config"]))
    ref_model.load_state_dict(ckpt["model_state"])
    x = np.random.default_rng(0).normal(1, 0.1, (3, S)).astype(np.float32)
    with torch.no_grad():
        ref = ref_model.eval().embed(torch.from_numpy(x)).numpy()
    np.save(tmp_path / "x.npy", x)
    code = f"""
import json, numpy as np, torch, mlflow
from skysift.runtime import tracking
x = np.load({str(tmp_path / 'x.npy')!r})
info = tracking.resolve_model("models:/skysift-spec-encoder@champion")
ours = tracking.load_encoder(info)
graph = mlflow.pytorch.load_model("models:/skysift-spec-encoder@champion")
with torch.no_grad():
    a = ours.embed(torch.from_numpy(x)).numpy()
    b = graph(torch.from_numpy(x)).numpy()
print(json.dumps({{"version": info["version"], "a": a.tolist(), "b": b.tolist()}}))
"""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["version"] == 3
    np.testing.assert_allclose(got["a"], ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["b"], ref, rtol=1e-4, atol=1e-5)
    # a version on another grid takes the alias whatever its loss: the holder cannot embed that grid's tables
    other = tracking.register_encoder(mlf, first["model_uri"], "skysift-spec-encoder", "champion", 1e9,
                                      {"grid_id": "lin:3600:7000:974:rest"})
    assert other["promoted"] and other["champion_version"] == 5 and repr(GRID) in other["promoted_because"]
    back = tracking.register_encoder(mlf, first["model_uri"], "skysift-spec-encoder", "champion", 1e9, {"grid_id": GRID})
    assert back["promoted"] and back["champion_version"] == 6

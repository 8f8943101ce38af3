"""embed-spectra: Spark embedding with a registered or local encoder, rejects, clear failures."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from skysift.cli import run_job
from skysift.config import ConfigError
from skysift.stages.embed_spectra.config import EmbedConfig
from skysift.stages.embed_spectra.job import prepare
from skysift.stages.embed_spectra.tasks import embed_sequential
from skysift.runtime.output import count_rows, read_table
from skysift.runtime.rejects import read_rejects
from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder
from skysift.synth.toy_spectra import toy_spectra_table, write_toy_spectra

GRID = "lin:3850:9000:200"


@pytest.fixture(scope="module")
def model_ckpt(tmp_path_factory):
    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id=GRID, dropout=0.0)
    torch.manual_seed(0)
    model = SpectrumEncoder(cfg).eval()
    path = tmp_path_factory.mktemp("model") / "best.pt"
    torch.save({"model_state": model.state_dict(), "model_config": cfg.to_dict(), "step": 0, "val_loss": 1.0}, path)
    return path, model


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_toy_spectra(tmp_path_factory.mktemp("spectra") / "spectra", 150, GRID, seed=2, n_nonfinite=4)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, model_ckpt):
    """A registry holding the checkpoint's model as version 1 with alias champion."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder}/mlflow.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    from skysift.runtime import tracking

    mlf = tracking.mlflow_module(uri)
    exp = tracking.experiment_id(mlf, "embed-test", uri)
    with mlf.start_run(experiment_id=exp):
        info = tracking.log_encoder(mlf, model_ckpt[1])
    tracking.register_encoder(mlf, info.model_uri, "skysift-spec-encoder", "champion", 0.5, {"grid_id": GRID})
    yield uri
    mp.undo()


def _reference(model, table_path):
    tbl = read_table(table_path, ["spec_id", "flux"]).to_pandas()
    flux = np.stack(tbl["flux"].to_numpy()).astype(np.float32)
    ok = np.isfinite(flux).all(1)
    with torch.no_grad():
        emb = model.embed(torch.from_numpy(flux[ok])).numpy()
    return dict(zip(tbl["spec_id"][ok], emb))


def test_embed_with_local_checkpoint(spark, table, model_ckpt, tmp_path):
    out = tmp_path / "emb"
    summary = run_job("embed-spectra", ["--input", str(table), "--output", str(out), "--set", "precision=fp32",
                                        "--set", f"model_uri={model_ckpt[0]}", "--set", "batch_size=16"], spark=spark)
    assert summary["read"] == 150 and summary["rejected"] == 4 and summary["written"] == 146
    assert summary["balanced"]
    got = read_table(out)
    assert got.schema.names == ["spec_id", "embedding", "model_uri", "model_version"]
    assert count_rows(out) == 146
    rej = read_rejects(out).to_pandas()
    assert sorted(rej["spec_id"]) == sorted(f"toy-{i}" for i in range(4))
    assert rej["reason"].str.contains("non-finite").all() and (rej["stage"] == "embed").all()
    ref = _reference(model_ckpt[1], table)
    pdf = got.to_pandas()
    emb = np.stack(pdf["embedding"].to_numpy())
    assert emb.dtype == np.float32 and emb.shape == (146, 64)
    np.testing.assert_allclose(emb, np.stack([ref[s] for s in pdf["spec_id"]]), rtol=1e-4, atol=1e-5)
    assert pdf["model_version"].isna().all()


def test_embed_from_registry_champion(spark, table, model_ckpt, registry, tmp_path):
    out = tmp_path / "emb"
    summary = run_job("embed-spectra", ["--input", str(table), "--output", str(out), "--set", "precision=fp32"],
                      spark=spark)
    assert summary["model_version"] == "1" and summary["written"] == 146
    pdf = read_table(out).to_pandas()
    assert (pdf["model_uri"] == "models:/skysift-spec-encoder@champion").all()
    assert (pdf["model_version"] == "1").all()
    ref = _reference(model_ckpt[1], table)
    np.testing.assert_allclose(np.stack(pdf["embedding"].to_numpy()),
                               np.stack([ref[s] for s in pdf["spec_id"]]), rtol=1e-4, atol=1e-5)


def test_wrong_alias_and_missing_model_fail_at_once(table, registry, tmp_path):
    base = {"input": str(table), "output": str(tmp_path / "x")}
    with pytest.raises(ConfigError, match=r"no alias 'prod'.*champion"):
        prepare(EmbedConfig(**base, model_uri="models:/skysift-spec-encoder@prod"))
    with pytest.raises(ConfigError, match=r"no registered model 'nope'.*skysift-spec-encoder"):
        prepare(EmbedConfig(**base, model_uri="models:/nope@champion"))
    with pytest.raises(ConfigError, match="no such file"):
        prepare(EmbedConfig(**base, model_uri=str(tmp_path / "missing.pt")))


def test_grid_mismatch_fails_naming_both_grids(spark, tmp_path, model_ckpt):
    other = write_toy_spectra(tmp_path / "other", 10, "lin:3850:9000:300", seed=1)
    out = tmp_path / "emb"
    with pytest.raises(ConfigError, match=r"expects grid 'lin:3850:9000:200'.*lin:3850:9000:300"):
        run_job("embed-spectra", ["--input", str(other), "--output", str(out),
                                  "--set", f"model_uri={model_ckpt[0]}"], spark=spark)
    assert not out.exists()


def test_sequential_runner_matches_and_rejects_bad_lengths(model_ckpt, tmp_path):
    cfg = EmbedConfig(input="unused", output=str(tmp_path), model_uri=str(model_ckpt[0]), batch_size=7,
                      precision="fp32")
    fn = prepare(cfg, [GRID])
    pdf = toy_spectra_table(30, GRID, seed=9, n_nonfinite=2).to_pandas()
    pdf.loc[5, "flux"] = pdf.loc[5, "flux"][:150]
    frames = [pdf.iloc[:13], pdf.iloc[13:]]
    out = embed_sequential(frames, fn)
    assert len(out) == 30
    assert out["reject_reason"].notna().sum() == 3
    assert "150 points, expected 200" in out.loc[5, "reject_reason"]
    ok = out["reject_reason"].isna().to_numpy()
    flux = np.stack(pdf["flux"].to_numpy()[ok])
    with torch.no_grad():
        ref = model_ckpt[1].embed(torch.from_numpy(flux)).numpy()
    np.testing.assert_allclose(np.stack(out["embedding"][ok].to_numpy()), ref, rtol=1e-4, atol=1e-5)


def test_benchmark_functions_print_their_lines(spark, tmp_path, capsys):
    from skysift.bench.embed_bench import run_embed_benchmark
    from skysift.bench.loader_bench import run_loader_benchmark
    from skysift.models.precision import resolve_precision

    emb = run_embed_benchmark(spark, n_spectra=40, workdir=str(tmp_path / "e"), n_points=200, per_row_rows=8,
                              repeats=1, warmup_spectra=8)
    load = run_loader_benchmark(spark, n_spectra=200, workdir=str(tmp_path / "l"), n_points=200, n_steps=1)
    out = capsys.readouterr().out
    import re

    from skysift.runtime.output import count_rows

    # the printed line carries the returned figures, and the ratio is baseline / ours
    line = re.search(r"embed: ours=([\d.]+)s baseline=([\d.]+)s ratio=([\d.]+) profile=\S+ n=(\d+) "
                     r"precision=(\w+) threads=(\d+) .* load_avg=[\d.]+-[\d.]+", out)
    assert line is not None, out
    ours, base, ratio, n = float(line[1]), float(line[2]), float(line[3]), int(line[4])
    assert (ours, base, n) == (pytest.approx(emb["ours"], abs=1e-3), pytest.approx(emb["baseline"], abs=1e-3), 40)
    assert ratio == pytest.approx(base / ours, rel=0.02, abs=0.006) and emb["ratio"] == pytest.approx(ratio, abs=0.006)
    # both sides at the precision auto picks for this CPU, on as many threads as Spark has cores
    assert line[5] == emb["precision"] == resolve_precision("auto", "cpu")
    assert int(line[6]) == emb["threads"] == spark.sparkContext.defaultParallelism
    # the Spark path embedded every spectrum it timed; the per-row loop extrapolates its timed rows to all 40
    assert count_rows(str(tmp_path / "e" / "embeddings")) == 40 and emb["per_row_rows_timed"] == 8
    assert emb["baseline"] == pytest.approx(40 / emb["baseline_spectra_s"], rel=0.02)
    assert emb["ratio_vs_one_thread"] == pytest.approx(emb["ours_spectra_s"] / emb["one_thread_spectra_s"], rel=0.02)
    assert len(emb["load_avg_1min"]) == 2
    assert "loader: ours=" in out
    assert load["ratio"] == pytest.approx(load["baseline"] / load["ours"], rel=0.02, abs=0.006)  # 2 decimals
    assert load["loader_samples_s"] == pytest.approx(load["batch_size"] / load["ours"], rel=0.01)


def test_bf16_precision_stays_close_to_fp32(model_ckpt, tmp_path):
    """precision=bf16 runs the forward pass under bfloat16 autocast: float32 output, close to fp32."""
    pdf = toy_spectra_table(24, GRID, seed=11).to_pandas()
    outs = {}
    for precision in ("fp32", "bf16"):
        cfg = EmbedConfig(input="unused", output=str(tmp_path), model_uri=str(model_ckpt[0]), precision=precision)
        out = embed_sequential([pdf], prepare(cfg, [GRID]))
        outs[precision] = np.stack(out["embedding"].to_numpy())
    assert outs["bf16"].dtype == np.float32
    assert not np.array_equal(outs["bf16"], outs["fp32"])  # autocast really ran
    rel = np.linalg.norm(outs["bf16"] - outs["fp32"], axis=1) / np.linalg.norm(outs["fp32"], axis=1)
    assert rel.max() < 0.03, rel.max()  # bfloat16 keeps 8 mantissa bits: ~0.4 % per rounding
    with pytest.raises(ConfigError, match="precision"):
        EmbedConfig(input="x", output="y", precision="fp16")


def test_auto_precision_is_bf16_exactly_where_the_cpu_has_it(model_ckpt, tmp_path, monkeypatch):
    """precision=auto (the default) resolves to bf16 on CPUs whose /proc/cpuinfo flags show avx512_bf16 or
    amx_bf16, fp32 elsewhere, and then gives exactly that precision's embeddings."""
    import os

    from skysift.models import precision as prec

    if os.path.exists("/proc/cpuinfo"):
        flags = next(line.split() for line in open("/proc/cpuinfo") if line.startswith("flags"))
        assert prec.cpu_has_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)
    assert EmbedConfig(input="x", output="y").precision == "auto"
    expect = "bf16" if prec.cpu_has_bf16() else "fp32"
    assert prec.resolve_precision("auto", "cpu") == expect
    assert prec.resolve_precision("tf32", "cpu") == "tf32"
    pdf = toy_spectra_table(12, GRID, seed=13).to_pandas()
    outs = {}
    for precision in ("auto", expect):
        cfg = EmbedConfig(input="unused", output=str(tmp_path), model_uri=str(model_ckpt[0]), precision=precision)
        outs[precision] = np.stack(embed_sequential([pdf], prepare(cfg, [GRID]))["embedding"].to_numpy())
    np.testing.assert_array_equal(outs["auto"], outs[expect])
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: False)
    assert prec.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    assert prec.resolve_precision("auto", "cpu") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        prec.resolve_precision("fp16", "cpu")


def test_flux_rows_views_one_flat_buffer_and_names_bad_rows():
    import pyarrow as pa

    from skysift.stages.embed_spectra.tasks import flux_rows

    rng = np.random.default_rng(3)
    flux = rng.normal(size=(6, 5)).astype(np.float32)
    arr = pa.ListArray.from_arrays(pa.array(np.arange(0, 31, 5, dtype=np.int32)), pa.array(flux.ravel()))
    got, good, reason = flux_rows(arr.slice(1, 4), 5)  # a slice: offsets shifted
    np.testing.assert_array_equal(got, flux[1:5]) and np.testing.assert_array_equal(good, [0, 1, 2, 3])
    assert np.shares_memory(got, arr.flatten().to_numpy())  # no copy, no per-row objects
    assert reason == [None] * 4
    rows = [flux[0], None, flux[2][:3], np.where(np.arange(5) == 2, np.nan, flux[3]).astype(np.float32), flux[4]]
    got, good, reason = flux_rows(pa.array(rows, pa.list_(pa.float32())), 5)
    np.testing.assert_array_equal(good, [0, 4])
    np.testing.assert_array_equal(got, flux[[0, 4]])
    assert reason == [None, "flux is null", "flux has 3 points, expected 5", "flux has 1 non-finite values", None]


def test_rows_on_another_grid_are_rejected_unembedded(model_ckpt, tmp_path):
    """Same length, other grid (a rest-frame table for an observed-frame model): the length check cannot
    see it, the per-row grid_id check does."""
    import pyarrow as pa

    fn = prepare(EmbedConfig(input="unused", output=str(tmp_path), model_uri=str(model_ckpt[0]), precision="fp32"),
                 [GRID])
    tbl = toy_spectra_table(4, GRID, seed=5)
    grids = pa.array([GRID, GRID + ":rest", GRID, None], pa.string())
    batch = pa.RecordBatch.from_arrays([tbl.column("spec_id").combine_chunks(), tbl.column("flux").combine_chunks(),
                                        grids], names=["spec_id", "flux", "grid_id"])
    out = fn.arrow_batch(batch).to_pydict()
    assert out["reject_reason"][0] is None and out["reject_reason"][2] is None
    assert out["reject_reason"][1] == f"row on grid '{GRID}:rest', the model expects '{GRID}'"
    assert out["reject_reason"][3] == f"row on grid None, the model expects '{GRID}'"
    assert out["embedding"][1] is None and out["embedding"][3] is None and len(out["embedding"][2]) == 64


def test_grid_declared_in_table_json_is_refused_before_spark(tmp_path, model_ckpt):
    from skysift.io.tables import write_table_json
    from skysift.stages.embed_spectra.job import run

    other = write_toy_spectra(tmp_path / "other", 10, "lin:3850:9000:300", seed=1)
    write_table_json(other, {"table": "spectra", "grid_id": "lin:3850:9000:300"})
    cfg = EmbedConfig(input=str(other), output=str(tmp_path / "emb"), model_uri=str(model_ckpt[0]))
    with pytest.raises(ConfigError, match=r"expects grid 'lin:3850:9000:200'.*processing\.grid\.from_model="):
        run(None, cfg)  # no Spark session: the refusal comes before any Spark work
    assert not (tmp_path / "emb").exists()


def test_forward_flops_formula_matches_torch_flop_counter():
    """The GFLOP/s the embed benchmark reports rest on this count: torch's FlopCounterMode (math attention
    so that the attention products are visible as bmm) counts the same forward pass."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from skysift.bench.embed_bench import forward_flops

    cfg = EncoderConfig(profile="tiny", n_points=400, grid_id="lin:3850:9000:400", dropout=0.0)
    model = SpectrumEncoder(cfg).train()  # the slow path: the inference fast path hides its matmuls
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model.embed(torch.randn(1, cfg.n_points))
    assert counter.get_total_flops() == forward_flops(cfg)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run by bench.gpu_check where one is lent)")
def test_embed_runs_on_the_gpu_and_matches_cpu(model_ckpt, tmp_path):
    """device=auto picks CUDA when visible; fp32/tf32 embeddings match the CPU's."""
    pdf = toy_spectra_table(64, GRID, seed=12).to_pandas()
    outs = {}
    for device, precision in (("cpu", "fp32"), ("auto", "fp32"), ("auto", "tf32")):
        cfg = EmbedConfig(input="unused", output=str(tmp_path), model_uri=str(model_ckpt[0]), device=device,
                          precision=precision)
        fn = prepare(cfg, [GRID])
        outs[(device, precision)] = np.stack(embed_sequential([pdf], fn)["embedding"].to_numpy())
        assert fn.model()[1] == ("cpu" if device == "cpu" else "cuda")
    ref = outs[("cpu", "fp32")]
    for key, tol in ((("auto", "fp32"), 1e-3), (("auto", "tf32"), 1e-2)):
        rel = np.linalg.norm(outs[key] - ref, axis=1) / np.linalg.norm(ref, axis=1)
        assert rel.max() < tol, (key, rel.max())

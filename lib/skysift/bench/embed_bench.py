"""`skysift benchmark embed`: executor inference (embed-spectra on Spark) vs what a user would write.

Both sides embed the same spectra with the same weights (a freshly initialised encoder of the chosen
profile; throughput does not depend on the weights), at the same precision (``precision=auto`` resolved
once for this CPU) and on the same cores:

- ours = the embed-spectra job on Spark (mapInArrow, one model per Python worker, one torch thread per
  task core), after a warm-up run on a small table so that every Python worker has imported torch and
  loaded the model (the steady state of a long job);
- baseline = one Python process that reads the flux column, runs the model on batches of
  ``cpu_batch_size`` with as many torch threads as Spark has cores, and writes (spec_id, embedding) to
  Parquet;
- per-row = the same process calling the model once per row (timed on ``per_row_rows`` rows, scaled);
- one-thread = the batched loop with one torch thread (``ratio_vs_one_thread``). On a machine shared with
  other work a multi-threaded torch process loses far more than independent one-thread workers do (every
  thread of a parallel region waits for the slowest), so there the same-threads ratio flatters Spark; the
  one-thread loop shows what one core gives (ideal: ``threads`` x on idle cores).

The machine may be shared: all four are timed interleaved, ``repeats`` times, best of each kept, with
the 1-minute load average before every round in the result. Prints
``embed: ours=…s baseline=…s ratio=…`` (ratio = baseline time / our time).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from skysift.models.precision import forward_autocast, resolve_precision
from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder


def _save_model(profile: str, grid_id: str, n_points: int, path: Path) -> SpectrumEncoder:
    cfg = EncoderConfig(profile=profile, n_points=n_points, grid_id=grid_id, dropout=0.0)
    torch.manual_seed(0)
    model = SpectrumEncoder(cfg).eval()
    torch.save({"model_state": model.state_dict(), "model_config": cfg.to_dict(), "step": 0}, path)
    return model


def per_row_baseline(model: SpectrumEncoder, flux: np.ndarray, device: str = "cpu", precision: str = "fp32") -> float:
    """Seconds to embed ``flux`` one row per model call (each row's embedding brought back to the host)."""
    t0 = time.perf_counter()
    with torch.inference_mode(), forward_autocast(device, precision):
        for row in flux:
            model.embed(torch.from_numpy(row[None, :]).to(device)).float().cpu()
    return time.perf_counter() - t0


def batched_baseline(model: SpectrumEncoder, table: str, n_points: int, out_path: Path, batch: int,
                     precision: str, threads: int) -> float:
    """Seconds for the one-process script a user would write: read (spec_id, flux), embed in batches of
    ``batch`` at ``precision`` with ``threads`` torch threads, write (spec_id, embedding) to Parquet."""
    from skysift.io.parquet_stream import flux_matrix
    from skysift.runtime.output import read_table

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        data = read_table(table, ["spec_id", "flux"])
        flux = flux_matrix(data.column("flux"), n_points)
        parts = []
        with torch.inference_mode(), forward_autocast("cpu", precision):
            for i in range(0, len(flux), batch):
                parts.append(model.embed(torch.from_numpy(np.array(flux[i : i + batch]))).float().numpy())
        emb = np.concatenate(parts)
        dim = emb.shape[1]
        column = pa.ListArray.from_arrays(pa.array(np.arange(0, (len(emb) + 1) * dim, dim, dtype=np.int32)),
                                          pa.array(emb.reshape(-1)))
        pq.write_table(pa.table({"spec_id": data.column("spec_id"), "embedding": column}), out_path)
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(saved)


def run_embed_benchmark(spark, n_spectra: int = 10_000, workdir: str = "runs/bench/embed", seed: int = 7,
                        profile: str = "tiny", n_points: int = 3688, per_row_rows: int = 100,
                        batch_size: int = 256, cpu_batch_size: int = 4, table: str | None = None,
                        precision: str = "auto", repeats: int = 3, warmup_spectra: int = 64) -> dict[str, Any]:
    """Time embed-spectra, the batched one-process loop and the per-row loop on the same spectra, interleaved;
    print and return the figures (best of ``repeats`` each, load averages alongside)."""
    from skysift.io.parquet_stream import flux_matrix
    from skysift.runtime.output import read_table
    from skysift.stages.embed_spectra.config import EmbedConfig
    from skysift.stages.embed_spectra.job import run
    from skysift.synth.toy_spectra import write_toy_spectra

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    grid_id = f"lin:3850:9000:{n_points}"
    if table is None:
        table = str(write_toy_spectra(work / "spectra", n_spectra, grid_id, seed=seed, row_group_rows=512))
    warm = str(write_toy_spectra(work / "warm", warmup_spectra, grid_id, seed=seed + 1))
    model = _save_model(profile, grid_id, n_points, work / "model.pt")
    used = resolve_precision(precision, "cpu")
    cores = int(spark.sparkContext.defaultParallelism)
    threads = cores * int(spark.conf.get("spark.task.cpus", "1"))
    rows = flux_matrix(read_table(table, ["flux"]).slice(0, per_row_rows).column("flux"), n_points)

    def ours_cfg(src: str, out: str) -> EmbedConfig:
        return EmbedConfig(input=src, output=str(work / out), model_uri=str(work / "model.pt"),
                           batch_size=batch_size, cpu_batch_size=cpu_batch_size, device="cpu", precision=used)

    run(spark, ours_cfg(warm, "warm_embeddings"))  # every Python worker imports torch and loads the model
    batched_baseline(model, warm, n_points, work / "warm_baseline.parquet", cpu_batch_size, used, threads)
    ours_s, base_s, one_s, row_s, loads, n = [], [], [], [], [], 0
    for _ in range(repeats):
        loads.append(round(os.getloadavg()[0], 2))
        base_s.append(batched_baseline(model, table, n_points, work / "baseline.parquet", cpu_batch_size, used,
                                       threads))
        one_s.append(batched_baseline(model, table, n_points, work / "baseline.parquet", cpu_batch_size, used, 1))
        t0 = time.perf_counter()
        n = run(spark, ours_cfg(table, "embeddings"))["read"]
        ours_s.append(time.perf_counter() - t0)
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        row_s.append(per_row_baseline(model, rows, precision=used))
        torch.set_num_threads(saved)
    loads.append(round(os.getloadavg()[0], 2))
    ours, baseline, per_row = min(ours_s), min(base_s), min(row_s) * n / len(rows)
    ratio = baseline / ours
    vs_one = min(one_s) / ours
    result = {
        "case": "embed", "profile": profile, "n_spectra": n, "precision": used, "precision_requested": precision,
        "threads": threads, "cpu_batch_size": cpu_batch_size,
        "ours": round(ours, 3), "baseline": round(baseline, 3), "ratio": round(ratio, 3),
        "ours_spectra_s": round(n / ours, 2), "baseline_spectra_s": round(n / baseline, 2),
        "per_row_spectra_s": round(n / per_row, 2), "ratio_vs_per_row": round(per_row / ours, 3),
        "one_thread_spectra_s": round(n / min(one_s), 2), "ratio_vs_one_thread": round(vs_one, 3),
        "per_row_rows_timed": len(rows), "repeats": repeats, "ours_all_s": [round(t, 3) for t in ours_s],
        "baseline_all_s": [round(t, 3) for t in base_s], "one_thread_all_s": [round(t, 3) for t in one_s],
        "load_avg_1min": loads, "device": "cpu",
    }
    print(f"embed: ours={ours:.3f}s baseline={baseline:.3f}s ratio={ratio:.2f} profile={profile} n={n} "
          f"precision={used} threads={threads} ours_spectra_s={result['ours_spectra_s']} "
          f"baseline_spectra_s={result['baseline_spectra_s']} per_row_spectra_s={result['per_row_spectra_s']} "
          f"ratio_vs_per_row={result['ratio_vs_per_row']:.2f} one_thread_spectra_s={result['one_thread_spectra_s']} "
          f"ratio_vs_one_thread={vs_one:.2f} load_avg={min(loads)}-{max(loads)}", flush=True)
    return result


def model_throughput(profile: str = "paper", n_points: int = 3688, batch_size: int = 32, n_batches: int = 3,
                     device: str = "cpu", precision: str = "fp32") -> dict[str, Any]:
    """Batched inference spectra/s of a bare encoder (no Spark) on one device: the GPU/CPU model figure.

    ``precision='bf16'`` runs under bfloat16 autocast, as embed-spectra does with ``precision=bf16``. The
    achieved GFLOP/s (2 x multiply-adds of the matrix products, from the model shape) shows how close the
    device runs to its ceiling."""
    cfg = EncoderConfig(profile=profile, n_points=n_points, grid_id=f"lin:3850:9000:{n_points}", dropout=0.0)
    model = SpectrumEncoder(cfg).to(device).eval()
    x = torch.randn(batch_size, n_points, device=device)
    with torch.inference_mode(), forward_autocast(device, precision):
        model.embed(x)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n_batches):
            model.embed(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    rate = batch_size * n_batches / seconds
    gflop = forward_flops(cfg) / 1e9
    return {"profile": profile, "device": name, "batch_size": batch_size, "precision": precision,
            "spectra_s": round(rate, 2), "gflop_per_spectrum": round(gflop, 3),
            "achieved_gflop_s": round(rate * gflop, 1)}


def forward_flops(cfg: EncoderConfig) -> float:
    """FLOPs (2 per multiply-add) of one spectrum's embedding pass: patch embedding, per block the QKV,
    output and feed-forward projections plus the two N x N x D attention products."""
    n, d, f, p = cfg.n_patches, cfg.embed_dim, cfg.ff_dim, cfg.patch_size
    per_block = 2 * n * (3 * d * d + d * d + 2 * d * f) + 2 * 2 * n * n * d
    return float(2 * n * p * d + cfg.depth * per_block)

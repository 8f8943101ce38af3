"""`skysift benchmark embed`: executor inference (embed-spectra) vs a per-row model call loop.

Both sides embed the same spectra with the same weights (a freshly initialised
encoder of the chosen profile; throughput does not depend on the weights).
ours = the embed-spectra job on Spark (mapInPandas, one model per Python
worker, batches stacked into one tensor); baseline = one Python process calling
the model once per row (torch's default threads). The baseline is timed on
``baseline_rows`` rows, before and after ours (the faster kept), and scaled to
n_spectra (it is linear in rows). Prints
``embed: ours=…s baseline=…s ratio=…`` (ratio = baseline time / our time).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skysift.models.precision import forward_autocast
from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder


def _save_model(profile: str, grid_id: str, n_points: int, path: Path) -> SpectrumEncoder:
    cfg = EncoderConfig(profile=profile, n_points=n_points, grid_id=grid_id, dropout=0.0)
    torch.manual_seed(0)
    model = SpectrumEncoder(cfg).eval()
    torch.save({"model_state": model.state_dict(), "model_config": cfg.to_dict(), "step": 0}, path)
    return model


def per_row_baseline(model: SpectrumEncoder, flux: np.ndarray, device: str = "cpu") -> float:
    """Seconds to embed ``flux`` one row per model call (each row's embedding brought back to the host)."""
    t0 = time.perf_counter()
    with torch.inference_mode():
        for row in flux:
            model.embed(torch.from_numpy(row[None, :]).to(device)).cpu()
    return time.perf_counter() - t0


def run_embed_benchmark(spark, n_spectra: int = 10_000, workdir: str = "runs/bench/embed", seed: int = 7,
                        profile: str = "tiny", n_points: int = 3688, baseline_rows: int = 500,
                        batch_size: int = 256, cpu_batch_size: int = 4, table: str | None = None) -> dict[str, Any]:
    """Time embed-spectra and the per-row loop on the same spectra; print and return the figures."""
    from skysift.stages.embed_spectra.config import EmbedConfig
    from skysift.stages.embed_spectra.job import run
    from skysift.runtime.output import read_table
    from skysift.io.parquet_stream import flux_matrix
    from skysift.synth.toy_spectra import write_toy_spectra

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    grid_id = f"lin:3850:9000:{n_points}"
    if table is None:
        table = str(write_toy_spectra(work / "spectra", n_spectra, grid_id, seed=seed, row_group_rows=512))
    model = _save_model(profile, grid_id, n_points, work / "model.pt")

    flux = flux_matrix(read_table(table, ["flux"]).slice(0, baseline_rows).column("flux"), n_points)
    # the baseline is timed before and after ours and the faster time kept: on a shared machine a load
    # spike during one timing must not flatter the ratio
    base_first = per_row_baseline(model, flux)

    cfg = EmbedConfig(input=table, output=str(work / "embeddings"), model_uri=str(work / "model.pt"),
                      batch_size=batch_size, cpu_batch_size=cpu_batch_size)
    t0 = time.perf_counter()
    summary = run(spark, cfg)
    ours_s = time.perf_counter() - t0
    n = summary["read"]
    base_rows_s = min(base_first, per_row_baseline(model, flux))
    baseline_s = base_rows_s * n / len(flux)
    ratio = baseline_s / ours_s
    result = {
        "case": "embed", "profile": profile, "n_spectra": n, "ours": round(ours_s, 3), "baseline": round(baseline_s, 3),
        "ratio": round(ratio, 3), "ours_spectra_s": round(n / ours_s, 2),
        "baseline_spectra_s": round(len(flux) / base_rows_s, 2), "baseline_rows_timed": len(flux),
        "torch_threads_baseline": torch.get_num_threads(), "device": "cpu",
    }
    print(f"embed: ours={ours_s:.3f}s baseline={baseline_s:.3f}s ratio={ratio:.2f} profile={profile} "
          f"n={n} ours_spectra_s={result['ours_spectra_s']} baseline_spectra_s={result['baseline_spectra_s']}",
          flush=True)
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

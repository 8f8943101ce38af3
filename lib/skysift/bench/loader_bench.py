"""`skysift benchmark loader`: streaming Parquet loader vs the training step's consumption.

ours = seconds per batch of 32 from ``SpectraStream`` (pyarrow row groups ->
tensors, shuffle buffer); baseline = seconds per optimiser step of the tiny
encoder on CPU at the same batch size (forward, backward, AdamW). The loader is
not the bottleneck when ratio = step time / batch time is well above 1 (target
>= 3). Prints ``loader: ours=…s baseline=…s ratio=…`` per batch.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder, masked_mse, random_mask
from skysift.io.parquet_stream import StreamSpec, loader


def train_step_seconds(cfg: EncoderConfig, batch_size: int, n_steps: int = 5) -> float:
    """Mean seconds of one training step on random spectra (after one warm-up step)."""
    torch.manual_seed(0)
    model = SpectrumEncoder(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch_size, cfg.n_points)
    gen = torch.Generator().manual_seed(0)

    def step():
        mask = random_mask(batch_size, cfg, gen)
        loss = masked_mse(model(x, mask), model.patches(x), mask)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    return (time.perf_counter() - t0) / n_steps


def loader_batch_seconds(table: str, n_points: int, batch_size: int, n_batches: int, workers: int = 0,
                         shuffle_buffer: int = 2048) -> float:
    """Mean seconds per batch of the training stream over ``n_batches`` batches (start-up included)."""
    spec = StreamSpec(table, n_points, batch_size, "train", 0.05, shuffle_buffer, seed=0)
    t0 = time.perf_counter()
    it = iter(loader(spec, workers))
    for _ in range(n_batches):
        next(it)
    return (time.perf_counter() - t0) / n_batches


def run_loader_benchmark(spark, n_spectra: int = 20_000, workdir: str = "runs/bench/loader", seed: int = 7,
                         profile: str = "tiny", n_points: int = 3688, batch_size: int = 32, n_steps: int = 5,
                         workers: int = 0, table: str | None = None) -> dict[str, Any]:
    """Time the loader over the table (one pass) and the training step; print and return the figures."""
    from skysift.synth.toy_spectra import write_toy_spectra

    grid_id = f"lin:3850:9000:{n_points}"
    if table is None:
        table = str(write_toy_spectra(Path(workdir) / "spectra", n_spectra, grid_id, seed=seed, row_group_rows=512))
    n_batches = max(1, int(n_spectra * 0.95) // batch_size)
    ours = loader_batch_seconds(table, n_points, batch_size, n_batches, workers)
    cfg = EncoderConfig(profile=profile, n_points=n_points, grid_id=grid_id, dropout=0.0)
    baseline = train_step_seconds(cfg, batch_size, n_steps)
    ratio = baseline / ours
    result = {"case": "loader", "profile": profile, "n_spectra": n_spectra, "batch_size": batch_size,
              "ours": round(ours, 6), "baseline": round(baseline, 6), "ratio": round(ratio, 2),
              "loader_samples_s": round(batch_size / ours, 1), "train_samples_s": round(batch_size / baseline, 1)}
    print(f"loader: ours={ours:.5f}s baseline={baseline:.5f}s ratio={ratio:.2f} per batch of {batch_size} "
          f"loader_samples_s={result['loader_samples_s']} train_samples_s={result['train_samples_s']}", flush=True)
    return result
